// The fields of an SMTP provider, as in Zitadel's console (sender, host, TLS, user and
// password), plus the choice of authentication: none, a password, or XOAUTH2. Used by the
// test page and by the providers page; the body it builds is the API's JSON.

import { field, h, uid } from "./dom.js";
import { valueOf } from "./forms.js";

const AUTH_CHOICES = [
  ["none", "None"],
  ["password", "Password (PLAIN or LOGIN)"],
  ["xoauth2", "XOAUTH2 (OAuth2 client credentials)"],
];

/** The fields, in a fragment; `extra` are fields placed after the host (e.g. the receiver). */
export function smtpFields({ extraTop = [], extra = [] } = {}) {
  const groupName = uid("auth");
  const passwordFields = h("div", { class: "fields auth-fields", dataset: { auth: "password" }, hidden: true },
    field({ name: "user", label: "User", autocomplete: "off", spellcheck: "false" }).element,
    field({ name: "plain.password", label: "Password", type: "password", autocomplete: "new-password",
      hint: "Sent to the server only; never shown again, never logged." }).element);
  const oauthFields = h("div", { class: "fields auth-fields", dataset: { auth: "xoauth2" }, hidden: true },
    field({ name: "xoauth2.user", path: "user", label: "Mailbox (user)", autocomplete: "off", spellcheck: "false", hint: "The address the token acts for." }).element,
    field({ name: "xoauth2.tokenEndpoint", label: "Token endpoint", type: "url", placeholder: "https://login.example.com/oauth2/token" }).element,
    field({ name: "xoauth2.clientCredentials.clientId", label: "Client id", autocomplete: "off", spellcheck: "false" }).element,
    field({ name: "xoauth2.clientCredentials.clientSecret", label: "Client secret", type: "password", autocomplete: "new-password" }).element,
    field({ name: "xoauth2.scopes", label: "Scopes", wide: true, placeholder: "https://mail.google.com/",
      hint: "Separated by spaces; empty for the endpoint's default." }).element);
  const choices = h("div", { class: "choices" }, AUTH_CHOICES.map(([value, text], index) => {
    const id = `${groupName}-${value}`;
    return h("span", {}, h("input", { type: "radio", id, name: "auth", value, checked: index === 0 }), h("label", { for: id }, text));
  }));
  const authSet = h("fieldset", { class: "wide" },
    h("legend", {}, "Authentication"), choices, passwordFields, oauthFields);
  choices.addEventListener("change", () => {
    const chosen = choices.querySelector("input:checked").value;
    passwordFields.hidden = chosen !== "password";
    oauthFields.hidden = chosen !== "xoauth2";
  });
  return [
    ...extraTop,
    field({ name: "senderAddress", label: "Sender address", type: "email", required: true, autocomplete: "off", placeholder: "noreply@acme.example" }).element,
    field({ name: "senderName", label: "Sender name", required: true, placeholder: "ACME" }).element,
    field({ name: "host", label: "Host and port", required: true, placeholder: "smtp.acme.example:587", spellcheck: "false",
      hint: "host:port, e.g. smtp.gmail.com:465; an IPv6 address as [addr]:port." }).element,
    ...extra,
    field({ name: "tls", label: "Require TLS (implicit TLS first, then STARTTLS)", type: "checkbox", wide: true }).element,
    authSet,
  ];
}

/** The API body of the fields smtpFields() made, plus the named extra text fields. */
export function smtpBody(form, extraNames = []) {
  const body = {
    senderAddress: valueOf(form, "senderAddress"),
    senderName: valueOf(form, "senderName"),
    host: valueOf(form, "host"),
    tls: form.elements.namedItem("tls").checked,
  };
  for (const name of extraNames) body[name] = valueOf(form, name);
  const auth = form.querySelector("input[name=auth]:checked").value;
  if (auth === "none") {
    body.none = {};
  } else if (auth === "password") {
    body.user = valueOf(form, "user");
    body.plain = { password: form.elements.namedItem("plain.password").value };
  } else {
    body.user = valueOf(form, "xoauth2.user");
    body.xoauth2 = {
      tokenEndpoint: valueOf(form, "xoauth2.tokenEndpoint"),
      scopes: valueOf(form, "xoauth2.scopes").split(/\s+/).filter(Boolean),
      clientCredentials: {
        clientId: valueOf(form, "xoauth2.clientCredentials.clientId"),
        clientSecret: form.elements.namedItem("xoauth2.clientCredentials.clientSecret").value,
      },
    };
  }
  return body;
}
