// One job, as a person reads it: the verdict, a waterfall of its phases (live while it
// runs), the TLS card, the server's facts, the sender domain's SPF and DMARC, the attempts
// and the transcript. The test page,
// the job page and a stored provider's test all show this same view.

import { FINAL, api, jobPath } from "./api.js";
import { badge, fill, h, link, ms, s, table, uid, when } from "./dom.js";
import { followJob } from "./events.js";
import { PHASE_WORDS, verdict } from "./verdict.js";

export class JobView {
  constructor() {
    this.job = null;
    this.live = { attempt: 0, phases: [] };
    this.head = h("div", { class: "job-head" });
    this.meta = h("p", { class: "job-meta" });
    this.verdict = h("div", { class: "verdict pending", role: "status", "aria-live": "polite" });
    this.warnings = h("div", { class: "warnings" });
    this.phaseCount = h("p", { class: "visually-hidden", "aria-live": "polite" });
    this.figure = h("figure", { class: "waterfall" });
    this.phaseTable = h("div");
    this.details = h("div", { class: "grid-2" });
    this.attempts = h("div");
    this.transcript = h("div", { class: "transcript" });
    this.element = h("section", { class: "card job", "aria-label": "Test result" },
      this.head, this.meta, this.verdict, this.warnings,
      h("h3", {}, "Phases"), this.phaseCount, this.figure, this.phaseTable,
      this.details, this.attempts, this.transcript);
    this.captionId = uid("waterfall");
    this.drawnWidth = 0;
    // Redrawn to the figure's width (a phone or a desktop), only when that width changes.
    new ResizeObserver(() => {
      if (this.figure.clientWidth !== this.drawnWidth) this.drawWaterfall();
    }).observe(this.figure);
  }

  /** Show `job` and, until it ends, follow its phases live. Resolves with the ended job. */
  async follow(job, signal) {
    this.show(job);
    if (FINAL.has(job.status)) return job;
    try {
      await followJob(job.id, {
        signal,
        onPhase: (phase) => this.phase(phase),
        onJob: (ended) => this.show(ended),
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      this.problem(error);
    }
    return this.job;
  }

  /** Load a job by id and follow it. */
  async load(jobId, signal) {
    try {
      return await this.follow(await api("GET", jobPath(jobId), { signal }), signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      this.problem(error);
      return null;
    }
  }

  phase(event) {
    if (event.attempt !== this.live.attempt) this.live = { attempt: event.attempt, phases: [] };
    this.live.phases.push(event);
    if (this.job && !FINAL.has(this.job.status)) {
      if (this.job.status === "queued") this.job = { ...this.job, status: "running" };
      this.drawHead();
      this.drawVerdict();
    }
    this.drawPhases();
  }

  show(job) {
    this.job = job;
    if (FINAL.has(job.status)) this.live = { attempt: 0, phases: [] };
    this.drawHead();
    this.drawVerdict();
    this.drawPhases();
    this.drawDetails();
  }

  problem(error) {
    this.verdict.className = "verdict fail";
    fill(this.verdict, h("p", { class: "headline" }, error.readable ?? String(error)));
  }

  /** The phases to draw: the live ones while the job runs, else its last attempt's. */
  phases() {
    if (this.live.phases.length) return this.live.phases;
    return this.job?.result?.phases ?? [];
  }

  drawHead() {
    const job = this.job;
    const request = job.request ?? {};
    fill(this.head, h("h2", {}, `${request.dryRun ? "Dry run" : "Test"} of ${request.host ?? "?"}`), badge(job.status));
    const auth = request.xoauth2 ? "XOAUTH2" : request.none ? "no login" : request.user ? `login as ${request.user}` : "no login";
    fill(this.meta,
      `From ${request.senderAddress ?? "?"} to ${request.receiverAddress ?? "?"}; `,
      request.tls ? "TLS required; " : "TLS not required; ",
      `${auth}. Job `, link(`/ui/jobs/${encodeURIComponent(job.id)}`, job.id, { class: "mono" }),
      ", created ", when(job.createdAt), ".",
      job.result?.subject ? [" Its test message: ", h("span", { class: "subject" }, job.result.subject), "."] : null);
  }

  drawVerdict() {
    const result = verdict(this.job);
    this.verdict.className = `verdict ${result.tone}`;
    fill(this.verdict,
      h("p", { class: "headline" },
        result.tone === "pending" ? h("span", { class: "spinner", "aria-hidden": "true" }) : null,
        result.headline),
      result.category
        ? h("p", { class: "detail" }, "Category: ", h("span", { class: "category" }, result.category),
          result.phase ? `, while ${PHASE_WORDS[result.phase] ?? result.phase}.` : ".")
        : null,
      result.detail ? h("p", { class: "detail" }, result.tone === "fail" || result.tone === "pending" ? `In detail: ${result.detail}` : result.detail) : null,
      this.job.request?.dryRun
        ? h("p", { class: "detail dry-run" }, "Dry run: the session stops after RCPT TO (RSET, QUIT); no message is sent.")
        : null,
      result.hint
        ? h("p", { class: "detail hint-text" }, h("strong", {}, "Likely cause and fix: "), result.hint,
          /^https:\/\//.test(result.hintSource ?? "")
            ? [" (", h("a", { href: result.hintSource, rel: "noopener noreferrer", target: "_blank" }, "source"), ")"]
            : null)
        : null);
    this.drawWarnings();
  }

  /** What did not fail the test but deserves a look: an expiring certificate, say. */
  drawWarnings() {
    const warnings = FINAL.has(this.job?.status) ? this.job?.result?.warnings ?? [] : [];
    fill(this.warnings, warnings.length
      ? h("section", { class: "warning-list", "aria-label": "Warnings" },
        h("h3", {}, warnings.length === 1 ? "1 warning" : `${warnings.length} warnings`),
        h("ul", {}, warnings.map((warning) => h("li", { dataset: { code: warning.code } }, warning.message))))
      : null);
  }

  drawPhases() {
    const phases = this.phases();
    const attempt = this.live.phases.length ? this.live.attempt : this.job?.attempts?.length ?? 0;
    this.phaseCount.textContent = `${phases.length} phases done`;
    this.drawWaterfall();
    if (!phases.length) {
      fill(this.phaseTable, h("p", { class: "empty" }, FINAL.has(this.job?.status) ? "No phase was run." : "The phases appear here as they end."));
      return;
    }
    // A phase's note says what it found besides success: with tls: true, implicit TLS comes
    // first, and a server that greets in plaintext gets STARTTLS on a new connection.
    const rows = phases.map((phase) => h("tr", { dataset: { phase: phase.name } },
      h("td", { class: "mono" }, phase.name),
      h("td", {}, phase.ok ? h("span", { class: "ok-mark" }, "✓ ok") : h("span", { class: "fail-mark" }, "✗ failed")),
      h("td", { class: "num" }, ms(phase.durationMs)),
      h("td", { class: "reply" }, phase.reply ? `${phase.reply.code} ${phase.reply.text}` : "",
        phase.note ? h("span", { class: "note" }, phase.reply ? ` (${phase.note})` : phase.note) : null)));
    fill(this.phaseTable,
      attempt > 1 ? h("p", { class: "job-meta" }, `Attempt ${attempt}:`) : null,
      table("Phases", ["Phase", "Result", ["Time", "num"], "Server's reply"], rows));
  }

  /** The waterfall: each phase a bar that starts where the one before it ended. */
  drawWaterfall() {
    const phases = this.phases();
    if (!phases.length) {
      this.figure.replaceChildren();
      return;
    }
    this.drawnWidth = this.figure.clientWidth;
    const width = Math.max(this.figure.clientWidth || 640, 280);
    const rowHeight = 22;
    const labelWidth = 78;
    const msWidth = 70;
    const track = Math.max(width - labelWidth - msWidth, 80);
    const total = phases.reduce((sum, phase) => sum + phase.durationMs, 0) || 1;
    const height = phases.length * rowHeight + 18;
    let start = 0;
    const rows = phases.map((phase, index) => {
      const y = index * rowHeight;
      const x = labelWidth + (start / total) * track;
      const barWidth = Math.max((phase.durationMs / total) * track, 2);
      start += phase.durationMs;
      const reply = phase.reply ? ` — ${phase.reply.code} ${phase.reply.text}` : phase.note ? ` — ${phase.note}` : "";
      return s("g", { class: "row" },
        s("title", {}, `${phase.name}: ${ms(phase.durationMs)}${phase.ok ? "" : " (failed)"}${reply}`),
        s("text", { class: "label", x: 0, y: y + 15 }, phase.name),
        s("rect", { class: `bar ${phase.ok ? "ok" : "fail"}`, x, y: y + 4, width: barWidth, height: rowHeight - 8, rx: 2 }),
        s("text", { class: "ms", x: Math.min(x + barWidth + 4, width - msWidth + 4), y: y + 15 }, ms(phase.durationMs)));
    });
    const axisY = phases.length * rowHeight + 2;
    fill(this.figure,
      s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": this.captionId },
        rows,
        s("line", { class: "axis", x1: labelWidth, x2: labelWidth + track, y1: axisY, y2: axisY }),
        s("text", { class: "ms", x: labelWidth, y: axisY + 13 }, "0"),
        s("text", { class: "ms", x: labelWidth + track, y: axisY + 13, "text-anchor": "end" }, ms(total))),
      h("figcaption", { id: this.captionId }, `Phase durations, one after another: ${ms(total)} in all.`));
  }

  drawDetails() {
    const job = this.job;
    const report = job.result;
    if (!report) {
      this.details.replaceChildren();
      this.attempts.replaceChildren();
      this.transcript.replaceChildren();
      return;
    }
    fill(this.details, tlsCard(report.tls), serverCard(report),
      report.senderDomain ? senderDomainCard(report.senderDomain) : null);
    const attempts = job.attempts ?? [];
    fill(this.attempts, attempts.length > 1 || job.status === "failed"
      ? [h("h3", {}, "Attempts"), table("Attempts", [["#", "num"], "Started", "Outcome", "Why"], attempts.map((attempt) => h("tr", {},
        h("td", { class: "num" }, attempt.number),
        h("td", {}, when(attempt.startedAt)),
        h("td", {}, badge(attempt.outcome)),
        h("td", { class: "reply" }, attempt.error ? `${attempt.error.category}: ${attempt.error.message}` : ""))))]
      : null);
    const lines = report.transcript ?? [];
    fill(this.transcript, lines.length
      ? h("details", { open: job.status === "failed" },
        h("summary", {}, `Transcript (${lines.length} lines, credentials redacted)`),
        h("pre", {}, lines.join("\n")))
      : null);
  }
}

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

function expiry(notAfter) {
  const date = new Date(notAfter);
  if (Number.isNaN(date.getTime())) return notAfter;
  const days = Math.round((date.getTime() - Date.now()) / 86400000);
  const relative = days < 0 ? `expired ${-days} days ago` : `in ${days} days`;
  return [when(notAfter), ` (${relative})`];
}

function validFrom(notBefore) {
  if (!notBefore) return null;
  const date = new Date(notBefore);
  if (Number.isNaN(date.getTime()) || date.getTime() <= Date.now()) return when(notBefore);
  return [when(notBefore), ` (in ${Math.round((date.getTime() - Date.now()) / 86400000)} days: not valid yet)`];
}

function tlsCard(tls) {
  const card = h("section", { class: "card tls-card", "aria-label": "TLS" }, h("h3", {}, "TLS"));
  if (!tls || tls.mode === "none") {
    card.append(h("p", {}, "No TLS: this session was not encrypted."));
    return card;
  }
  const certificate = tls.certificate;
  const chain = certificate?.chainLength;
  card.append(facts([
    ["Mode", tls.mode === "implicit" ? "implicit TLS (from the first byte)" : "STARTTLS (upgraded after the greeting)"],
    ["Version", tls.version],
    ["Cipher", tls.cipher],
    ...(certificate
      ? [
        ["Subject", certificate.subject],
        ["Valid for", certificate.subjectAltNames?.length ? certificate.subjectAltNames.join(", ") : null],
        ["Issuer", certificate.issuer],
        ["Valid from", validFrom(certificate.notBefore)],
        ["Expires", expiry(certificate.notAfter)],
        ["Chain", chain ? `${chain} certificate${chain === 1 ? "" : "s"} sent by the server` : null],
        ["Verified", certificate.verified
          ? h("span", { class: "ok-mark" }, "yes: trusted chain, matching host name")
          : h("span", { class: "fail-mark" }, `no: ${certificate.verifyError ?? "not verified"}`)],
        ["SHA-256", h("span", { class: "mono" }, certificate.sha256)],
      ]
      : [["Certificate", "none received"]]),
  ]));
  return card;
}

function serverCard(report) {
  return h("section", { class: "card", "aria-label": "Server" }, h("h3", {}, "Server"), facts([
    ["Address", report.address ? `${report.address} port ${report.port}` : `${report.host} port ${report.port}`],
    ["EHLO", report.extensions?.length ? h("span", { class: "mono" }, report.extensions.join(" ")) : null],
    ["AUTH offered", report.auth?.offered?.length ? report.auth.offered.join(" ") : null],
    ["AUTH used", report.auth?.used],
    ["Recipient", report.recipient
      ? `${report.recipient.address}: ${report.recipient.code} ${report.recipient.text} (${report.recipient.status})`
      : null],
    ["Message", report.sent ? "sent: the server accepted it" : report.dryRun ? "not sent (dry run)" : "not sent"],
    ["Message-ID", report.messageId ? h("span", { class: "mono" }, report.messageId) : null],
  ]));
}

const AUTHORISES = { true: "yes", false: "no", null: "cannot tell" };

/** The sender domain: SPF, DMARC and, first, what receivers will likely do (text only). */
function senderDomainCard(section) {
  const card = h("section", { class: "card sender-card", "aria-label": "Sender domain" },
    h("h3", {}, `Sender domain ${section.domain}`));
  if (section.status !== "checked") {
    card.append(h("p", { class: "job-meta" }, section.message ?? section.status));
    return card;
  }
  const warnings = section.warnings ?? [];
  card.append(warnings.length
    ? h("ul", { class: "warnings" }, warnings.map((warning) => h("li", {}, warning)))
    : h("p", { class: "ok-mark" }, "✓ No warning for mail from this sender through this provider."));
  const spf = section.spf ?? {};
  const auth = spf.authorization;
  const dmarc = section.dmarc ?? {};
  card.append(facts([
    ["SPF record", spf.record ? h("span", { class: "mono" }, spf.record) : "none published"],
    ["DNS lookups", spf.dnsLookups !== null && spf.dnsLookups !== undefined
      ? `${spf.dnsLookups} of ${spf.dnsLookupLimit}` : null],
    ["SPF errors", spf.errors?.length ? spf.errors.join("; ") : null],
    ["Provider", auth?.provider ? `${auth.provider.name} (${auth.provider.spfDomain})` : null],
    ["Authorises", auth ? `${AUTHORISES[auth.authorized]}: ${auth.explanation}` : null],
    ["DMARC record", dmarc.record
      ? [h("span", { class: "mono" }, dmarc.record), dmarc.domain !== section.domain ? ` (at ${dmarc.domain})` : ""]
      : "none published"],
    ["Policy", dmarc.p ? `p=${dmarc.p}, sp=${dmarc.sp}, pct=${dmarc.pct}` : null],
    ["Alignment", dmarc.adkim ? `adkim=${dmarc.adkim}, aspf=${dmarc.aspf}` : null],
    ["DMARC errors", dmarc.errors?.length ? dmarc.errors.join("; ") : null],
  ]));
  return card;
}
