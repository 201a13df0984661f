// Stored providers: the list, a new one, a test of one by its id (as it is stored), and the
// history of a provider's scheduled re-tests.

import { api } from "../api.js";
import { badge, field, fill, h, link, table, when } from "../dom.js";
import { clearErrors, errorArea, onSubmit, showErrors, valueOf } from "../forms.js";
import { JobView } from "../jobview.js";
import { smtpBody, smtpFields } from "../smtpform.js";

const INTERVALS = [
  ["0", "Off"],
  ["3600", "Every hour"],
  ["21600", "Every 6 hours"],
  ["86400", "Every day"],
  ["604800", "Every week"],
];

function every(seconds) {
  const known = INTERVALS.find(([value]) => Number(value) === seconds);
  if (known) return known[1].toLowerCase();
  return `every ${seconds.toLocaleString()} s`;
}

function scheduleOf(provider) {
  if (!provider.retestIntervalSeconds) return "off";
  return [every(provider.retestIntervalSeconds), provider.nextRetestAt ? ["; next ", when(provider.nextRetestAt)] : null];
}

function certificateOf(entry) {
  if (!entry.certificateSha256) return "";
  return [h("span", { class: "mono", title: entry.certificateSha256 }, `${entry.certificateSha256.slice(0, 12)}…`),
    entry.certificateNotAfter ? [", expires ", when(entry.certificateNotAfter)] : null];
}

/** A provider's schedule and its last re-tests, newest first. */
function historyView(answer, provider) {
  const rows = answer.history.map((entry) => h("tr", { dataset: { job: entry.jobId } },
    h("td", {}, when(entry.checkedAt)),
    h("td", {}, badge(entry.outcome)),
    h("td", {}, entry.category ?? ""),
    h("td", { class: "reply" }, entry.recipient ? `${entry.recipient.code} ${entry.recipient.text}` : ""),
    h("td", {}, entry.tlsVersion ?? ""),
    h("td", {}, certificateOf(entry)),
    h("td", {}, entry.authOffered ? entry.authOffered.join(" ") || "none" : ""),
    h("td", { class: "reply" }, entry.banner ?? ""),
    h("td", {}, link(`/ui/jobs/${encodeURIComponent(entry.jobId)}`, "job"))));
  return h("section", { class: "card provider-history", "aria-label": "Re-test history" },
    h("h2", {}, `Re-tests of ${provider.description || provider.host}`),
    h("p", { class: "job-meta" }, answer.retestIntervalSeconds
      ? ["Re-tested ", every(answer.retestIntervalSeconds), " without sending (a dry run to ",
        provider.retestReceiverAddress || provider.senderAddress, ")",
        answer.nextRetestAt ? ["; next ", when(answer.nextRetestAt)] : null, "."]
      : "Not re-tested on a schedule."),
    rows.length
      ? table("Re-tests", ["Checked", "Outcome", "Category", "Recipient", "TLS", "Certificate", "AUTH offered", "Banner", ""], rows)
      : h("p", { class: "empty" }, "No re-test has run yet."));
}

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
  const history = h("div", { "aria-live": "polite" });

  // Add one.
  const addArea = errorArea();
  const added = h("div", { "aria-live": "polite" });
  const addForm = h("form", { novalidate: true, "aria-label": "Add a provider" },
    h("div", { class: "fields" }, smtpFields({
      extraTop: [field({ name: "description", label: "Description", wide: true, placeholder: "ACME's mail relay" }).element],
      extra: [field({ name: "replyToAddress", label: "Reply-to address", type: "email", autocomplete: "off" }).element],
    }),
    field({ name: "retestIntervalSeconds", label: "Re-test on a schedule", options: INTERVALS, value: "0",
      hint: "A dry run (nothing is sent) at this interval; a webhook says when the result changes." }).element,
    field({ name: "retestReceiverAddress", label: "Re-test recipient", type: "email", autocomplete: "off",
      hint: "Given to RCPT TO by the re-tests; empty: the sender address." }).element),
    addArea,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button" }, "Add the provider")));

  fill(main,
    h("h1", { tabindex: "-1" }, "Providers"),
    h("p", { class: "lead" }, "SMTP providers stored for this tenant (their secrets are never shown). " +
      "A stored provider is tested as stored: its password goes only to the host it was stored for."),
    h("section", { class: "card", "aria-label": "Stored providers" }, h("h2", {}, "Stored providers"), listing),
    history,
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
      h("td", {}, scheduleOf(provider)),
      h("td", { class: "mono" }, provider.id),
      h("td", {}, h("button", {
        type: "button",
        class: "button small secondary",
        "aria-label": `Test ${provider.description || provider.host}`,
        onclick: () => {
          providerId.control.value = provider.id;
          receiver.control.focus();
        },
      }, "Test…"), " ", h("button", {
        type: "button",
        class: "button small secondary",
        "aria-label": `History of ${provider.description || provider.host}`,
        onclick: () => showHistory(provider),
      }, "History"))));
    fill(listing, rows.length
      ? table("Stored providers", ["Description", "Host", "Sender", "TLS", "Auth", "State", "Re-test", "Id", ""], rows)
      : h("p", { class: "empty" }, "No provider is stored yet: add one below."));
  }

  async function showHistory(provider) {
    try {
      const answer = await api("GET", `/email/${encodeURIComponent(provider.id)}/history`, { signal });
      fill(history, historyView(answer, provider));
    } catch (error) {
      if (!signal.aborted) fill(history, h("div", { class: "form-error", role: "alert" }, error.readable ?? String(error)));
    }
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
      const body = smtpBody(addForm, ["description", "replyToAddress", "retestReceiverAddress"]);
      body.retestIntervalSeconds = Number(addForm.elements.namedItem("retestIntervalSeconds").value);
      answer = await api("POST", "/email/smtp", { body, signal });
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
