// Onboarding batch: up to 1,000 tests from a CSV or JSON list, submitted in one request
// (POST /email/smtp/_tests), then their progress, counts, failures and a CSV of the results.

import { ApiError, FINAL, api, pause } from "../api.js";
import { badge, field, fill, h, link, table } from "../dom.js";
import { download, parseCsv, toCsv } from "../csv.js";
import { clearErrors, errorArea, onSubmit, showErrors } from "../forms.js";
import { reason } from "../verdict.js";

const MAX_TESTS = 1000;
const POLL_MS = 1000;
const STATUSES = ["queued", "running", "retrying", "succeeded", "failed", "rejected"];
// CSV columns (camelCase or snake_case, any case), as a single test's JSON names them.
const COLUMNS = ["senderAddress", "senderName", "host", "tls", "user", "password", "receiverAddress", "dryRun"];
const COLUMN_BY_KEY = new Map(COLUMNS.map((name) => [name.toLowerCase(), name]));
const EXAMPLE = "senderAddress,senderName,host,tls,user,password,receiverAddress\n" +
  "noreply@acme.example,ACME,smtp.acme.example:587,true,noreply@acme.example,secret,ops@acme.example";

/** A mistake in what was pasted, said before anything is sent. */
class InputError extends Error {}

function boolean(text) {
  const lowered = text.trim().toLowerCase();
  if (["true", "yes", "1", "y"].includes(lowered)) return true;
  if (["false", "no", "0", "n", ""].includes(lowered)) return false;
  return text; // left for the API to explain, beside this test
}

/** The tests of a pasted or uploaded text: JSON (a list, or {"tests": [...]}) or CSV. */
export function parseTests(text) {
  const trimmed = text.trim();
  if (!trimmed) throw new InputError("Paste a list of tests or choose a file first.");
  let tests;
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    let data;
    try {
      data = JSON.parse(trimmed);
    } catch (error) {
      throw new InputError(`This is not valid JSON: ${error.message}`);
    }
    tests = Array.isArray(data) ? data : data?.tests;
    if (!Array.isArray(tests)) throw new InputError('JSON must be a list of tests, or {"tests": [...]}.');
  } else {
    let rows;
    try {
      rows = parseCsv(trimmed);
    } catch (error) {
      throw new InputError(`This CSV cannot be read: ${error.message}.`);
    }
    const header = rows[0].map((name) => {
      const column = COLUMN_BY_KEY.get(name.trim().replaceAll("_", "").toLowerCase());
      if (!column) throw new InputError(`Unknown column "${name.trim()}": the columns are ${COLUMNS.join(", ")}.`);
      return column;
    });
    tests = rows.slice(1).filter((row) => row.some((value) => value.trim())).map((row, index) => {
      if (row.length !== header.length) {
        throw new InputError(`Row ${index + 1} has ${row.length} values for ${header.length} columns.`);
      }
      const test = {};
      header.forEach((column, position) => {
        const value = column === "password" ? row[position] : row[position].trim();
        if (column === "tls" || column === "dryRun") test[column] = boolean(value);
        else if (value) test[column] = value;
      });
      return test;
    });
  }
  if (!tests.length) throw new InputError("The list has no tests.");
  if (tests.length > MAX_TESTS) {
    throw new InputError(`A batch takes up to 1,000 tests; this list has ${tests.length.toLocaleString()}.`);
  }
  return tests;
}

/** The Crockford base-32 id right after `id`: a cursor that lists `id` itself first. */
function after(id) {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const digits = [...id];
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    const next = alphabet.indexOf(digits[i]) + 1;
    if (next < alphabet.length) {
      digits[i] = alphabet[next];
      return digits.join("");
    }
    digits[i] = "0";
  }
  return null; // the highest id there is: list from the top
}

/**
 * Keep the entries' jobs up to date until all have ended. Ids sort by creation time and the
 * list is newest first, so each round reads only the pages from the newest unfinished job of
 * the batch down to its oldest (100 a page): ten requests a round for 1,000 jobs, fewer as
 * they end.
 */
async function track(entries, onChange, signal) {
  const byId = new Map(entries.filter((entry) => entry.job).map((entry) => [entry.job.id, entry]));
  for (;;) {
    const open = [...byId.values()].filter((entry) => !FINAL.has(entry.job.status)).map((entry) => entry.job.id).sort();
    if (!open.length) return;
    await pause(POLL_MS, signal);
    let cursor = after(open.at(-1));
    for (;;) {
      const query = new URLSearchParams({ limit: "100" });
      if (cursor) query.set("cursor", cursor);
      const page = await api("GET", `/email/smtp/_test?${query}`, { signal });
      for (const job of page.jobs) {
        const entry = byId.get(job.id);
        if (entry) entry.job = job;
      }
      onChange();
      const last = page.jobs.at(-1);
      if (!page.nextCursor || !last || last.id <= open[0]) break;
      cursor = page.nextCursor;
    }
  }
}

function statusOf(entry) {
  return entry.job ? entry.job.status : "rejected";
}

function categoryOf(entry) {
  if (entry.job) return entry.job.result?.error?.category ?? "";
  const error = new ApiError(400, entry.error);
  return error.info?.metadata?.category ?? (error.violations.length ? "invalid" : "rejected");
}

function reasonOf(entry) {
  if (entry.job) return reason(entry.job);
  const error = new ApiError(400, entry.error);
  const violations = error.violations.map((violation) => `${violation.field}: ${violation.description}`);
  return violations.length ? `Not accepted: ${violations.join("; ")}` : `Not accepted: ${error.message}`;
}

function detailOf(entry) {
  return entry.job?.result?.error?.message ?? "";
}

function resultsCsv(entries) {
  return toCsv(
    ["row", "host", "senderAddress", "receiverAddress", "status", "category", "phase", "smtpCode", "enhancedCode", "reason", "detail", "jobId"],
    entries.map((entry) => {
      const error = entry.job?.result?.error;
      return [
        entry.index + 1, entry.test?.host, entry.test?.senderAddress, entry.test?.receiverAddress,
        statusOf(entry), categoryOf(entry), error?.phase, error?.smtpCode, error?.enhancedCode,
        reasonOf(entry), detailOf(entry), entry.job?.id,
      ];
    }));
}

function progressView(entries) {
  const progress = h("progress", { max: entries.length, value: 0, "aria-label": "Tests done" });
  const label = h("span", { class: "progress-label", "aria-live": "polite" });
  const statusCounts = h("ul", { class: "counts", "aria-label": "Tests by status" });
  const categoryCounts = h("ul", { class: "counts", "aria-label": "Failures by category" });
  const failures = h("div");
  const downloadButton = h("button", {
    type: "button",
    class: "button secondary",
    onclick: () => download(`mailprobe-batch-${new Date().toISOString().slice(0, 19).replaceAll(":", "-")}.csv`, resultsCsv(entries)),
  }, "Download the results (CSV)");
  const element = h("section", { class: "card batch-progress", "aria-label": "Batch progress" },
    h("h2", {}, "Progress"),
    h("div", { class: "progress-row" }, progress, label),
    h("h3", {}, "By status"), statusCounts,
    h("h3", {}, "Failures by category"), categoryCounts,
    h("h3", {}, "Failures"), failures,
    h("div", { class: "actions" }, downloadButton));

  let lastLabel = "";
  function update() {
    const counts = Object.fromEntries(STATUSES.map((status) => [status, 0]));
    const categories = new Map();
    for (const entry of entries) {
      const status = statusOf(entry);
      counts[status] += 1;
      if (status === "failed" || status === "rejected") {
        const category = categoryOf(entry);
        categories.set(category, (categories.get(category) ?? 0) + 1);
      }
    }
    const done = counts.succeeded + counts.failed + counts.rejected;
    progress.value = done;
    const text = done === entries.length
      ? `All ${entries.length} done: ${counts.succeeded} succeeded, ${counts.failed + counts.rejected} failed or not accepted.`
      : `${done} of ${entries.length} done`;
    if (text !== lastLabel) label.textContent = lastLabel = text; // announced only when it changes
    fill(statusCounts, STATUSES.filter((status) => counts[status]).map((status) =>
      h("li", { dataset: { status } }, `${status} `, h("b", {}, counts[status]))));
    fill(categoryCounts, categories.size
      ? [...categories].sort((a, b) => b[1] - a[1]).map(([category, count]) =>
        h("li", { dataset: { category } }, `${category} `, h("b", {}, count)))
      : h("li", {}, "none so far"));
    const failed = entries.filter((entry) => ["failed", "rejected"].includes(statusOf(entry)));
    fill(failures, failed.length
      ? table("Failures", [["Row", "num"], "Host", "Receiver", "Status", "Category", "Why", "Job"], failed.map((entry) => h("tr", {},
        h("td", { class: "num" }, entry.index + 1),
        h("td", { class: "mono" }, entry.test?.host ?? ""),
        h("td", {}, entry.test?.receiverAddress ?? ""),
        h("td", {}, badge(statusOf(entry))),
        h("td", {}, categoryOf(entry)),
        h("td", {}, reasonOf(entry), detailOf(entry) ? h("div", { class: "reply" }, detailOf(entry)) : null),
        h("td", {}, entry.job ? link(`/ui/jobs/${encodeURIComponent(entry.job.id)}`, "job") : ""))))
      : h("p", { class: "empty" }, "No failures so far."));
  }
  update();
  return { element, update };
}

function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

export function render(main, { signal }) {
  document.title = "Onboarding batch · mailprobe";
  const area = errorArea();
  const tests = field({
    name: "tests",
    label: "Tests (CSV or JSON)",
    multiline: true,
    wide: true,
    spellcheck: "false",
    placeholder: EXAMPLE,
    hint: `CSV with a header row of ${COLUMNS.join(", ")}; or JSON: a list of tests as POST ` +
      "/email/smtp/_test takes them (XOAUTH2 too). Up to 1,000.",
  });
  const file = field({ name: "file", label: "…or upload a CSV or JSON file", type: "file", accept: ".csv,.json,text/csv,application/json", wide: true });
  file.control.addEventListener("change", async () => {
    const chosen = file.control.files[0];
    if (chosen) tests.control.value = await chosen.text();
  });
  const dryRun = field({
    name: "dryRun",
    label: "Verify without sending (dry run)",
    type: "checkbox",
    wide: true,
    hint: "Each test stops after RCPT TO and sends nothing, unless its own dryRun says otherwise.",
  });
  const form = h("form", { novalidate: true, "aria-label": "Onboarding batch" },
    h("div", { class: "fields" }, tests.element, file.element, dryRun.element),
    area,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button" }, "Run the batch")));
  const results = h("div");
  fill(main,
    h("h1", { tabindex: "-1" }, "Onboarding batch"),
    h("p", { class: "lead" }, "Test many providers at once, e.g. every tenant being onboarded. " +
      "Each test is checked on its own: one with a mistake is reported without holding up the others."),
    h("section", { class: "card" }, form),
    results);

  let running = null;
  signal.addEventListener("abort", () => running?.abort());
  onSubmit(form, async () => {
    clearErrors(form);
    let list;
    try {
      list = parseTests(tests.control.value);
      if (dryRun.control.checked) {
        const plainObject = (test) => test !== null && typeof test === "object" && !Array.isArray(test);
        list = list.map((test) => (plainObject(test) && !("dryRun" in test) ? { ...test, dryRun: true } : test));
      }
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      showErrors(form, new ApiError(400, { message: error.message, details: [{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "tests", description: error.message }] }] }), area);
      return;
    }
    let answer;
    try {
      answer = await api("POST", "/email/smtp/_tests", { body: { tests: list }, headers: { "Idempotency-Key": idempotencyKey() }, signal });
    } catch (error) {
      if (!signal.aborted) showErrors(form, error, area);
      return;
    }
    const entries = answer.items.map((item) => ({ index: item.index, test: list[item.index], job: item.job ?? null, error: item.error ?? null }));
    running?.abort();
    const controller = new AbortController();
    running = controller;
    const view = progressView(entries);
    fill(results, h("p", { class: "notice" }, `Submitted ${list.length} tests: ${answer.accepted} accepted, ${answer.rejected} not accepted.`), view.element);
    track(entries, view.update, controller.signal).then(view.update).catch((error) => {
      if (controller.signal.aborted) return;
      results.append(h("div", { class: "form-error", role: "alert" }, `Progress stopped: ${error.readable ?? error}`));
    });
  });
}
