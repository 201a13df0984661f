// Stored providers: the list, a new one, and a test of one by its id (as it is stored).

import { api } from "../api.js";
import { field, fill, h, table } from "../dom.js";
import { clearErrors, errorArea, onSubmit, showErrors, valueOf } from "../forms.js";
import { JobView } from "../jobview.js";
import { smtpBody, smtpFields } from "../smtpform.js";

function authOf(provider) {
  if (provider.xoauth2) return "XOAUTH2";
  if (provider.none) return "none";
  return provider.hasPassword || provider.user ? "password" : "none";
}

export function render(main, { signal }) {
  document.title = "Providers · mailprobe";
  const listing = h("div", { "aria-live": "polite" }, h("p", { class: "empty" }, "Loading…"));

  // Test a stored provider by its id.
  const testArea = errorArea();
  const providerId = field({ name: "id", label: "Provider id", autocomplete: "off", spellcheck: "false", required: true });
  const receiver = field({ name: "receiverAddress", label: "Send the test message to", type: "email", required: true, autocomplete: "off" });
  const dryRun = field({ name: "dryRun", label: "Verify without sending (dry run)", type: "checkbox", wide: true,
    hint: "Stops after RCPT TO with RSET and QUIT: nothing is sent." });
  const testForm = h("form", { novalidate: true, "aria-label": "Test a stored provider" },
    h("div", { class: "fields" }, providerId.element, receiver.element, dryRun.element), testArea,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button" }, "Test this provider")));
  const testResult = h("div");

  // Add one.
  const addArea = errorArea();
  const added = h("div", { "aria-live": "polite" });
  const addForm = h("form", { novalidate: true, "aria-label": "Add a provider" },
    h("div", { class: "fields" }, smtpFields({
      extraTop: [field({ name: "description", label: "Description", wide: true, placeholder: "ACME's mail relay" }).element],
      extra: [field({ name: "replyToAddress", label: "Reply-to address", type: "email", autocomplete: "off" }).element],
    })),
    addArea,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button" }, "Add the provider")));

  fill(main,
    h("h1", { tabindex: "-1" }, "Providers"),
    h("p", { class: "lead" }, "SMTP providers stored for this tenant (their secrets are never shown). " +
      "A stored provider is tested as stored: its password goes only to the host it was stored for."),
    h("section", { class: "card", "aria-label": "Stored providers" }, h("h2", {}, "Stored providers"), listing),
    h("section", { class: "card", id: "test-provider" }, h("h2", {}, "Test a stored provider"), testForm),
    testResult,
    h("section", { class: "card" }, h("h2", {}, "Add a provider"), addForm, added));

  async function load() {
    const answer = await api("POST", "/email/_search", { body: { query: { offset: 0, limit: 1000, asc: false } }, signal });
    const rows = answer.result.map((provider) => h("tr", { dataset: { provider: provider.id } },
      h("td", {}, provider.description || "—"),
      h("td", { class: "mono" }, provider.host),
      h("td", {}, `${provider.senderName} <${provider.senderAddress}>`),
      h("td", {}, provider.tls ? "required" : "not required"),
      h("td", {}, authOf(provider)),
      h("td", {}, provider.state === "SMTP_CONFIG_ACTIVE" ? "active" : "inactive"),
      h("td", { class: "mono" }, provider.id),
      h("td", {}, h("button", {
        type: "button",
        class: "button small secondary",
        "aria-label": `Test ${provider.description || provider.host}`,
        onclick: () => {
          providerId.control.value = provider.id;
          receiver.control.focus();
        },
      }, "Test…"))));
    fill(listing, rows.length
      ? table("Stored providers", ["Description", "Host", "Sender", "TLS", "Auth", "State", "Id", ""], rows)
      : h("p", { class: "empty" }, "No provider is stored yet: add one below."));
  }

  let running = null;
  signal.addEventListener("abort", () => running?.abort());
  onSubmit(testForm, async () => {
    clearErrors(testForm);
    const id = valueOf(testForm, "id");
    let job;
    try {
      job = await api("POST", `/email/smtp/${encodeURIComponent(id)}/_test`, {
        body: { receiverAddress: valueOf(testForm, "receiverAddress"), ...(dryRun.control.checked ? { dryRun: true } : {}) },
        signal,
      });
    } catch (error) {
      if (!signal.aborted) showErrors(testForm, error, testArea);
      return;
    }
    running?.abort();
    running = new AbortController();
    const view = new JobView();
    fill(testResult, view.element);
    view.follow(job, running.signal).catch(() => {});
  });

  onSubmit(addForm, async () => {
    clearErrors(addForm);
    added.replaceChildren();
    let answer;
    try {
      answer = await api("POST", "/email/smtp", { body: smtpBody(addForm, ["description", "replyToAddress"]), signal });
    } catch (error) {
      if (!signal.aborted) showErrors(addForm, error, addArea);
      return;
    }
    addForm.reset();
    addForm.querySelector("input[name=auth]").dispatchEvent(new Event("change", { bubbles: true }));
    fill(added, h("p", { class: "notice" }, `Provider added: ${answer.id}.`));
    await load();
  });

  return load();
}
