// A form's errors: each of the API's fieldViolations beside the field it names, the rest
// (and the error itself) in a message at the top of the form. Never raw JSON.

import { fill, h } from "./dom.js";

/** The form's error area (placed by the caller) and its clearing. */
export function errorArea() {
  return h("div", { class: "form-error", role: "alert", hidden: true, tabindex: "-1" });
}

export function clearErrors(form) {
  for (const error of form.querySelectorAll(".field-error")) {
    error.hidden = true;
    error.textContent = "";
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  for (const area of form.querySelectorAll(".form-error")) {
    area.hidden = true;
    area.replaceChildren();
  }
}

/** The field of `form` that shows errors about `path` (e.g. "xoauth2.scopes.0"). */
function fieldFor(form, path) {
  let best = null;
  for (const candidate of form.querySelectorAll("[data-field]")) {
    if (candidate.closest("[hidden]")) continue; // e.g. the fields of another auth choice
    const name = candidate.dataset.field;
    if ((path === name || path.startsWith(`${name}.`)) && (!best || name.length > best.dataset.field.length)) {
      best = candidate;
    }
  }
  return best;
}

function markField(wrapper, text) {
  const error = wrapper.querySelector(".field-error");
  error.textContent = error.textContent ? `${error.textContent}; ${text}` : text;
  error.hidden = false;
  wrapper.querySelector("input, select, textarea")?.setAttribute("aria-invalid", "true");
}

/**
 * Show an ApiError on `form`. A refused destination (policy) is an error about the host.
 * Returns the element that should take the focus.
 */
export function showErrors(form, error, area) {
  clearErrors(form);
  const unplaced = [];
  let first = null;
  for (const violation of error.violations ?? []) {
    const wrapper = fieldFor(form, violation.field);
    if (wrapper) {
      markField(wrapper, violation.description);
      first ??= wrapper;
    } else {
      unplaced.push(`${violation.field}: ${violation.description}`);
    }
  }
  if (!first && error.info?.metadata?.category === "policy") {
    const host = fieldFor(form, "host");
    if (host) {
      markField(host, error.message);
      first = host;
    }
  }
  const summary = first
    ? "The API did not accept this: see the messages beside the fields."
    : (error.readable ?? String(error));
  fill(area, summary, unplaced.length ? h("ul", {}, unplaced.map((text) => h("li", {}, text))) : null);
  area.hidden = false;
  const focus = first?.querySelector("input, select, textarea") ?? area;
  focus.focus();
  return focus;
}

/** The text of a named control of the form, trimmed. */
export function valueOf(form, name) {
  return (form.elements.namedItem(name)?.value ?? "").trim();
}

/** Run `submit` for the form's submit event, the button disabled meanwhile. */
export function onSubmit(form, submit) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll("button[type=submit]");
    for (const button of buttons) button.disabled = true;
    try {
      await submit(event);
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  });
}
