// Webhook subscriptions: the list and a new one (its signing secret shown this once).

import { api } from "../api.js";
import { badge, field, fill, h, link, table, when } from "../dom.js";
import { clearErrors, errorArea, onSubmit, showErrors, valueOf } from "../forms.js";

const EVENTS = [
  ["smtp_test.completed", "A test ended (smtp_test.completed)"],
  ["smtp_provider.changed", "A provider's re-test differs from the one before (smtp_provider.changed)"],
  ["smtp_provider.certificate_expiring", "A provider's certificate expires soon (smtp_provider.certificate_expiring)"],
];

export function render(main, { signal }) {
  document.title = "Webhooks · mailprobe";
  const events = EVENTS.map(([name, label]) => ({ name, ...field({ name: `event.${name}`, path: "events", label, type: "checkbox", value: true, wide: true }) }));
  const listing = h("div", { "aria-live": "polite" }, h("p", { class: "empty" }, "Loading…"));
  const area = errorArea();
  const created = h("div", { "aria-live": "polite" });
  const form = h("form", { novalidate: true, "aria-label": "Add a webhook" },
    h("div", { class: "fields" },
      field({ name: "url", label: "URL", type: "url", required: true, wide: true, placeholder: "https://hooks.acme.example/mailprobe",
        hint: "The events chosen below are POSTed here, signed (Standard Webhooks)." }).element,
      field({ name: "description", label: "Description", wide: true }).element,
      h("fieldset", { class: "wide" }, h("legend", {}, "Events"), events.map((event) => event.element))),
    area,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button" }, "Add the webhook")));
  fill(main,
    h("h1", { tabindex: "-1" }, "Webhooks"),
    h("section", { class: "card", "aria-label": "Subscriptions" }, h("h2", {}, "Subscriptions"), listing),
    h("section", { class: "card" }, h("h2", {}, "Add a webhook"), form, created));

  async function load() {
    const answer = await api("GET", "/webhooks", { signal });
    const rows = answer.webhooks.map((webhook) => h("tr", {},
      h("td", { class: "mono" }, link(`/ui/webhooks/${encodeURIComponent(webhook.id)}`, webhook.url)),
      h("td", {}, webhook.description || "—"),
      h("td", {}, badge(webhook.status), webhook.disabledReason ? h("div", {}, webhook.disabledReason) : null),
      h("td", {}, when(webhook.createdAt)),
      h("td", {}, link(`/ui/webhooks/${encodeURIComponent(webhook.id)}`, "Delivery log"))));
    fill(listing, rows.length
      ? table("Subscriptions", ["URL", "Description", "Status", "Created", ""], rows)
      : h("p", { class: "empty" }, "No webhook yet."));
  }

  onSubmit(form, async () => {
    clearErrors(form);
    created.replaceChildren();
    let webhook;
    try {
      webhook = await api("POST", "/webhooks", {
        body: {
          url: valueOf(form, "url"),
          description: valueOf(form, "description"),
          events: events.filter((event) => event.control.checked).map((event) => event.name),
        },
        signal,
      });
    } catch (error) {
      if (!signal.aborted) showErrors(form, error, area);
      return;
    }
    form.reset();
    fill(created, h("div", { class: "secret", role: "status" },
      h("p", {}, "Webhook added. Its signing secret, shown this once — keep it now to verify deliveries:"),
      h("code", {}, webhook.secret)));
    await load();
  });

  return load();
}
