// The twin's HTTP API as the page uses it: requests with the chat key, the /chat/stream
// Server-Sent Events read from fetch (EventSource cannot POST), refusals turned into sentences.

// The API lives one level above the page (/ui/ -> /), also behind a proxy's path prefix.
export const apiBase = new URL("../", window.location.href);

const KEY_STORE = "twinself.key";

// A chat key is publishable (it names the site; see the README), never the admin key. It
// comes from the page's fragment (#key=..., which no server or referrer sees) or the widget.
export function takeKeyFromFragment() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const key = fragment.get("key");
  if (key) {
    setKey(key);
    fragment.delete("key");
    const rest = fragment.toString();
    const url = window.location.pathname + window.location.search + (rest ? `#${rest}` : "");
    window.history.replaceState(null, "", url);
  }
}

export function setKey(key) {
  sessionStorage.setItem(KEY_STORE, key.trim());
}

function headers(extra = {}) {
  const key = sessionStorage.getItem(KEY_STORE);
  return { ...extra, ...(key ? { "X-API-Key": key } : {}) };
}

// A refusal or failure, worded for the visitor; `kind` lets the page react (ask for a key).
export class ApiProblem extends Error {
  constructor(kind, message, status = 0) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

function networkProblem() {
  if (!navigator.onLine) {
    return new ApiProblem("offline", "You seem to be offline. Reconnect, then send again.");
  }
  return new ApiProblem(
    "network",
    "The twin cannot be reached right now. Check your connection, or try again in a minute.",
  );
}

async function problemFrom(response) {
  let detail = "";
  try {
    const body = await response.json();
    detail = typeof body.detail === "string" ? body.detail : "";
  } catch {
    // not JSON (a proxy's error page): the status says enough
  }
  const status = response.status;
  if (status === 401) {
    return new ApiProblem("key", "This twin needs an access key. Enter it below.", status);
  }
  if (status === 413) {
    return new ApiProblem("too-long", `Your message is too long. ${detail}`.trim(), status);
  }
  if (status === 429) {
    const wait = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    const when = Number.isFinite(wait)
      ? `Try again in ${wait} second${wait === 1 ? "" : "s"}.`
      : "Try again in a moment.";
    return new ApiProblem("rate-limited", `Too many messages for now. ${when}`, status);
  }
  if (status === 422) {
    return new ApiProblem("invalid", "The twin could not read that request.", status);
  }
  // 400, 502, 503 (spend cap, model or memory unavailable), 504: the server's own sentence.
  const fallback = `The twin could not answer (HTTP ${status}). Try again later.`;
  return new ApiProblem("refused", detail || fallback, status);
}

async function call(path, init) {
  let response;
  try {
    response = await fetch(new URL(path, apiBase), init);
  } catch {
    throw networkProblem();
  }
  if (!response.ok) {
    throw await problemFrom(response);
  }
  return response;
}

export async function postJson(path, body) {
  const response = await call(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "application/json" }),
    body: JSON.stringify(body),
  });
  return response.json();
}

export async function getJson(path) {
  const response = await call(path, { headers: headers({ Accept: "application/json" }) });
  return response.json();
}

// The server escapes backslashes and line breaks in text chunks (routes/chat.py, sse_text).
function unescapeChunk(data) {
  return data.replace(/\\([\\nr])/g, (_, c) => (c === "n" ? "\n" : c === "r" ? "\r" : "\\"));
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) {
      event = line.slice(6).trim();
    } else if (line.startsWith("data:")) {
      const value = line.slice(5);
      data.push(value.startsWith(" ") ? value.slice(1) : value);
    }
  }
  return { event, data: data.join("\n") };
}

// POST /chat/stream: `onText(chunk)` for each piece of the answer as it arrives; resolves with
// the metadata event (request_id, sources, metrics); throws an ApiProblem on any failure.
export async function streamChat(body, onText, signal) {
  const response = await call("chat/stream", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let metadata = null;
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch {
      throw new ApiProblem("cut-off", "The connection broke before the answer ended. Send again.");
    }
    if (chunk.done) break;
    buffer += chunk.value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const { event, data } = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event === "metadata") {
        metadata = JSON.parse(data);
      } else if (event === "error") {
        const detail = JSON.parse(data).detail;
        throw new ApiProblem("stream", detail || "The answer failed part way.");
      } else if (data === "[DONE]") {
        return metadata;
      } else {
        onText(unescapeChunk(data));
      }
    }
  }
  if (metadata) return metadata;
  throw new ApiProblem("cut-off", "The connection broke before the answer ended. Send again.");
}
