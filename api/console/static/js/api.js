// Talking to the API: the key, requests, and its errors (google.rpc.Status) as readable text.
//
// The key lives in this tab's sessionStorage: it goes when the tab closes, is never put in a
// URL (so never in history, a log or a Referer), and is sent only as Authorization: Bearer.

const KEY_NAME = "mailprobe.apiKey";

export function apiKey() {
  return sessionStorage.getItem(KEY_NAME);
}

export function setApiKey(key) {
  sessionStorage.setItem(KEY_NAME, key);
}

export function forgetApiKey() {
  sessionStorage.removeItem(KEY_NAME);
}

export function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** An error answered by the API (or the absence of an answer: status 0). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body.message === "string" && body.message ? body.message : `the API answered HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = body?.code;
    this.details = Array.isArray(body?.details) ? body.details : [];
  }

  /** [{field, description}] from a google.rpc.BadRequest detail. */
  get violations() {
    return this.details.flatMap((detail) => (Array.isArray(detail.fieldViolations) ? detail.fieldViolations : []));
  }

  /** The google.rpc.ErrorInfo detail, if any (its metadata.category says e.g. "policy"). */
  get info() {
    return this.details.find((detail) => String(detail["@type"] ?? "").endsWith("google.rpc.ErrorInfo"));
  }

  /** The whole error as one sentence for a person. */
  get readable() {
    switch (this.status) {
      case 0:
        return "The API could not be reached: is mailprobe running?";
      case 401:
        return `The API key was refused: ${this.message}.`;
      case 403:
        return this.info?.metadata?.category === "policy"
          ? `mailprobe will not connect there: ${this.message}.`
          : `Not allowed: ${this.message}.`;
      case 429:
        return "Too many tests at once for this tenant: wait a moment and try again.";
      case 503:
        return "mailprobe's job store is unavailable right now: try again shortly.";
      default:
        return `${capitalise(this.message)}.`;
    }
  }
}

function capitalise(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

/** The API's error body of a failed response, as an ApiError. */
export async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body && typeof body === "object" ? body : null);
}

/** Someone must (re)enter a key: main.js listens for this. */
export const KEY_REFUSED = "mailprobe:key-refused";

/** A JSON request with the key; the parsed answer, or an ApiError. */
export async function api(method, path, { body, headers = {}, signal } = {}) {
  const init = {
    method,
    headers: { Accept: "application/json", ...authHeaders(), ...headers },
    signal,
    cache: "no-store",
    credentials: "omit",
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0, null);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) window.dispatchEvent(new CustomEvent(KEY_REFUSED, { detail: error }));
    throw error;
  }
  if (response.status === 204) return null;
  return response.json();
}

/** Wait `milliseconds`, or less if `signal` aborts. */
export function pause(milliseconds, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, milliseconds);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

export const FINAL = new Set(["succeeded", "failed"]);

export function jobPath(id) {
  return `/email/smtp/_test/${encodeURIComponent(id)}`;
}
