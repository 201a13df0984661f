// Following a job live: GET /email/smtp/_test/{id}/events, read with fetch().
//
// EventSource cannot send an Authorization header, and the key must not go in the URL, so
// the stream is read from fetch()'s ReadableStream and parsed here by the rules of the
// HTML standard's event-stream format. A dropped connection resumes with Last-Event-ID.

import { FINAL, api, authHeaders, errorOf, jobPath, pause } from "./api.js";

const LINE_END = /\r\n|\r|\n/;

/** The events of a text/event-stream body: {id, event, data}, as they arrive. */
export async function* eventStream(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data = [];
  let type = "";
  let lastId = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (;;) {
        const match = LINE_END.exec(buffer);
        // A lone CR at the end may be the first half of a CRLF still on its way.
        if (!match || (match[0] === "\r" && match.index === buffer.length - 1)) break;
        const line = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        if (line === "") {
          if (data.length) yield { id: lastId, event: type || "message", data: data.join("\n") };
          data = [];
          type = "";
          continue;
        }
        if (line.startsWith(":")) continue; // a comment: the server's keep-alive
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (name === "data") data.push(value);
        else if (name === "event") type = value;
        else if (name === "id" && !value.includes("\0")) lastId = value;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/**
 * Follow a job to its end: onPhase(phase) for each phase as it ends (with its `attempt`),
 * then onJob(job) once with the finished job. Resolves then; rejects with an ApiError when
 * the API refuses (or with the abort reason).
 */
export async function followJob(jobId, { onPhase, onJob, signal }) {
  const url = `${jobPath(jobId)}/events`;
  let lastId = "";
  let failures = 0;
  for (;;) {
    const headers = { Accept: "text/event-stream", ...authHeaders() };
    if (lastId) headers["Last-Event-ID"] = lastId;
    let response = null;
    try {
      response = await fetch(url, { headers, signal, cache: "no-store", credentials: "omit" });
    } catch (error) {
      if (signal?.aborted) throw error;
    }
    if (response && response.status === 204) {
      // The last event was received already: the job has ended.
      onJob(await api("GET", jobPath(jobId), { signal }));
      return;
    }
    if (response && !response.ok && response.status < 500) throw await errorOf(response);
    if (response && response.ok) {
      try {
        for await (const event of eventStream(response.body)) {
          failures = 0;
          if (event.id) lastId = event.id;
          if (event.event === "phase") onPhase(JSON.parse(event.data));
          else if (event.event === "job") {
            const job = JSON.parse(event.data);
            if (FINAL.has(job.status)) {
              onJob(job);
              return;
            }
          }
        }
      } catch (error) {
        if (signal?.aborted) throw error;
      }
    }
    // The stream broke off (or the server is restarting): resume after the last event.
    failures += 1;
    await pause(Math.min(500 * 2 ** (failures - 1), 8000), signal);
  }
}
