// The tenant's jobs, newest first: a filter by status and pages by cursor, in the URL.

import { api } from "../api.js";
import { badge, field, fill, h, link, table, when } from "../dom.js";
import { navigate } from "../nav.js";
import { reason } from "../verdict.js";

const STATUSES = ["queued", "running", "retrying", "succeeded", "failed"];
const PAGE_SIZE = 25;

function pageUrl(status, cursor) {
  const query = new URLSearchParams();
  if (status) query.set("status", status);
  if (cursor) query.set("cursor", cursor);
  const text = query.toString();
  return text ? `/ui/jobs?${text}` : "/ui/jobs";
}

export async function render(main, { query, signal }) {
  document.title = "Jobs · mailprobe";
  const status = STATUSES.includes(query.get("status")) ? query.get("status") : "";
  const cursor = query.get("cursor") ?? "";
  const filter = field({
    name: "status",
    label: "Status",
    value: status,
    options: [["", "All"], ...STATUSES.map((name) => [name, name])],
  });
  filter.control.addEventListener("change", () => navigate(pageUrl(filter.control.value, "")));
  const listing = h("div", { "aria-live": "polite", "aria-busy": "true" }, h("p", { class: "empty" }, "Loading…"));
  fill(main,
    h("h1", { tabindex: "-1" }, "Jobs"),
    h("div", { class: "filters" }, filter.element),
    h("section", { class: "card" }, listing));

  const parameters = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (status) parameters.set("status", status);
  if (cursor) parameters.set("cursor", cursor);
  const page = await api("GET", `/email/smtp/_test?${parameters}`, { signal });
  listing.setAttribute("aria-busy", "false");
  const rows = page.jobs.map((job) => h("tr", {},
    h("td", {}, when(job.createdAt)),
    h("td", { class: "mono" }, link(`/ui/jobs/${encodeURIComponent(job.id)}`, job.request?.host ?? job.id)),
    h("td", {}, badge(job.status)),
    h("td", {}, job.result?.error?.category ?? ""),
    h("td", {}, reason(job)),
    h("td", { class: "mono" }, job.id)));
  fill(listing,
    rows.length
      ? table("Jobs", ["Created", "Host", "Status", "Category", "Why it failed", "Job id"], rows)
      : h("p", { class: "empty" }, status ? `No ${status} jobs${cursor ? " on this page" : ""}.` : "No jobs yet: test a provider first."),
    h("nav", { class: "pager", "aria-label": "Pages of jobs" },
      cursor ? link(pageUrl(status, ""), "← Newest") : null,
      page.nextCursor ? link(pageUrl(status, page.nextCursor), "Older →") : null));
}
