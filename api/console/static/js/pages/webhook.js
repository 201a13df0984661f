// One subscription and its delivery log: every attempt, newest first.

import { api } from "../api.js";
import { badge, fill, h, link, ms, table, when } from "../dom.js";

export async function render(main, { params: [webhookId], signal }) {
  document.title = "Webhook · mailprobe";
  const summary = h("div");
  const log = h("div", { "aria-live": "polite" });
  const refresh = h("button", { type: "button", class: "button secondary", onclick: () => load() }, "Refresh");
  fill(main,
    h("h1", { tabindex: "-1" }, "Webhook"),
    h("p", {}, link("/ui/webhooks", "← All webhooks")),
    h("section", { class: "card" }, summary),
    h("section", { class: "card", "aria-label": "Delivery log" }, h("h2", {}, "Delivery log"), log, h("div", { class: "actions" }, refresh)));

  async function load() {
    const path = `/webhooks/${encodeURIComponent(webhookId)}`;
    const [webhook, answer] = await Promise.all([api("GET", path, { signal }), api("GET", `${path}/deliveries`, { signal })]);
    fill(summary, h("h2", { class: "mono" }, webhook.url), h("dl", { class: "facts" },
      h("dt", {}, "Status"), h("dd", {}, badge(webhook.status), webhook.disabledReason ? ` ${webhook.disabledReason}` : ""),
      h("dt", {}, "Description"), h("dd", {}, webhook.description || "—"),
      h("dt", {}, "Events"), h("dd", {}, webhook.events.join(", ")),
      h("dt", {}, "Created"), h("dd", {}, when(webhook.createdAt)),
      h("dt", {}, "Id"), h("dd", { class: "mono" }, webhook.id)));
    const rows = answer.deliveries.map((delivery) => h("tr", {},
      h("td", {}, when(delivery.time)),
      h("td", { class: "mono" }, link(`/ui/jobs/${encodeURIComponent(delivery.jobId)}`, delivery.jobId)),
      h("td", { class: "num" }, delivery.attempt),
      h("td", { class: "num" }, delivery.status ?? "no answer"),
      h("td", { class: "num" }, ms(delivery.latencyMs)),
      h("td", {}, badge(delivery.outcome)),
      h("td", { class: "reply" }, delivery.error ?? ""),
      h("td", { class: "mono" }, delivery.event)));
    fill(log, rows.length
      ? table("Deliveries", ["Time", "Job", ["Attempt", "num"], ["HTTP status", "num"], ["Latency", "num"], "Outcome", "Error", "Event"], rows)
      : h("p", { class: "empty" }, "Nothing delivered yet: each event is delivered here as it happens."));
  }

  await load();
}
