// A job's outcome in words a non-expert understands, with the error category beside it.

export const PHASE_WORDS = {
  resolve: "looking up the host name",
  connect: "connecting",
  tls: "the TLS handshake",
  banner: "the server's greeting",
  ehlo: "the greeting exchange (EHLO)",
  starttls: "switching to TLS (STARTTLS)",
  auth: "logging in",
  mail_from: "giving the sender (MAIL FROM)",
  rcpt_to: "giving the recipient (RCPT TO)",
  rset: "ending the transaction unsent (RSET)",
  data: "sending the message (DATA)",
  quit: "saying goodbye (QUIT)",
};

const CATEGORY_WORDS = {
  dns: "The host name could not be found",
  connect: "The connection failed",
  timeout: "The server took too long to answer",
  tls: "The secure connection (TLS) failed",
  auth: "Logging in failed",
  sender_rejected: "The server refused the sender address",
  recipient_rejected: "The server refused the recipient address",
  data_rejected: "The server refused the message",
  protocol: "The server did not follow the SMTP protocol",
  policy: "mailprobe does not connect to this destination",
  internal: "mailprobe could not run the test (an internal error)",
};

function lowerFirst(text) {
  return /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text;
}

function codes(error) {
  const parts = [error.smtpCode, error.enhancedCode].filter((part) => part !== null && part !== undefined && part !== "");
  return parts.length ? ` (${parts.join(" ")})` : "";
}

function headline(error) {
  const message = error.message ?? "";
  switch (error.category) {
    case "auth":
      if (message.includes("over an unencrypted connection")) return "mailprobe did not send the credentials unencrypted";
      if (message.startsWith("XOAUTH2 token")) return "The OAuth2 token could not be obtained";
      if (message.includes("offers no AUTH")) return "The server does not offer to log in, but a user was given";
      if (message.includes("no mechanism in common") || message.includes("is not offered")) {
        return "The server offers no way of logging in that mailprobe can use";
      }
      if (error.smtpCode === 535 || error.smtpCode === 534) return "The server refused the password";
      return CATEGORY_WORDS.auth;
    case "connect":
      if (message.includes("refused")) return "Nothing accepted the connection at that address and port";
      if (error.smtpCode) return "The server turned the connection away";
      return "The connection failed or was dropped";
    case "timeout":
      return `The server took too long to answer while ${PHASE_WORDS[error.phase] ?? error.phase}`;
    case "recipient_rejected":
      if (error.smtpCode >= 400 && error.smtpCode < 500) {
        return "The server deferred the recipient address: it asks to try again later (e.g. greylisting)";
      }
      return CATEGORY_WORDS.recipient_rejected;
    case "tls":
      if (message.includes("speaks TLS on connect")) return "The port expects TLS from the first byte: set tls: true";
      if (message.includes("certificate has expired")) return "The server's certificate has expired";
      if (message.includes("not yet valid")) return "The server's certificate is not valid yet";
      if (message.includes("it is not valid for")) return "The server's certificate is for another name";
      if (message.includes("not trusted")) return "The server's certificate is not trusted";
      if (message.includes("does not offer STARTTLS")) return "TLS is required, but the server does not offer it";
      return CATEGORY_WORDS.tls;
    default:
      return CATEGORY_WORDS[error.category] ?? "The test failed";
  }
}

/**
 * {tone, headline, detail, category, phase, hint, hintSource}: tone is "ok", "fail" or
 * "pending"; detail is the server's or mailprobe's own words; hint explains a well-known
 * reply (its usual cause and the fix) and hintSource says where that comes from.
 */
export function verdict(job) {
  const attempts = job.attempts?.length ?? 0;
  const after = attempts > 1 ? ` after ${attempts} attempts` : "";
  if (job.status === "succeeded") {
    if (job.result?.dryRun) {
      const recipient = job.result.recipient;
      return {
        tone: "ok",
        headline: `The server accepted the recipient${after}; no message was sent (dry run).`,
        detail: recipient ? `RCPT TO ${recipient.address}: ${recipient.code} ${recipient.text}` : "",
        category: null,
      };
    }
    const messageId = job.result?.messageId;
    return {
      tone: "ok",
      headline: `The server accepted the test message${after}.`,
      detail: messageId ? `Message-ID ${messageId}` : "",
      category: null,
    };
  }
  const error = job.result?.error ?? job.attempts?.at(-1)?.error ?? null;
  const hint = { hint: error?.hint ?? null, hintSource: error?.hintSource ?? null };
  if (job.status === "failed") {
    if (!error) return { tone: "fail", headline: `The test failed${after}.`, detail: "", category: null };
    return {
      tone: "fail",
      headline: `${headline(error)}${codes(error)}${after}.`,
      detail: error.message,
      category: error.category,
      phase: error.phase,
      ...hint,
    };
  }
  if (job.status === "retrying" && error) {
    const of = error.maxAttempts ? ` of ${error.maxAttempts}` : "";
    return {
      tone: "pending",
      headline: `Attempt ${attempts}${of} failed (${lowerFirst(headline(error))}); trying again…`,
      detail: error.message,
      category: error.category,
      phase: error.phase,
      ...hint,
    };
  }
  const waiting = job.status === "queued" ? "Waiting for a worker…" : "Running the SMTP session…";
  return { tone: "pending", headline: waiting, detail: "", category: null };
}

/** A failure's reason in one line: for tables and the CSV download. */
export function reason(job) {
  const result = verdict(job);
  return result.tone === "fail" ? result.headline : "";
}
