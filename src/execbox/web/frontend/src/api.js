// Talks to execbox's HTTP API (CONTRACT.md). Never throws: every outcome,
// including a dead network, comes back as {ok, status, data} or {ok:false, status, error}.

export class Api {
  constructor(getKey) {
    this.getKey = getKey;
  }

  headers(extra) {
    const headers = { Accept: "application/json", ...extra };
    const key = this.getKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    return headers;
  }

  async request(method, path, body) {
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: this.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (err) {
      return {
        ok: false,
        status: 0,
        error: { code: "network_error", message: String(err && err.message ? err.message : err) },
      };
    }
    const retryAfter = parseRetryAfter(response.headers.get("Retry-After"));
    let data = null;
    const text = await response.text().catch(() => "");
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (response.ok && data !== null) return { ok: true, status: response.status, data, retryAfter };
    const error = data && data.error && typeof data.error === "object"
      ? data.error
      : {
          code: response.ok ? "bad_response" : `http_${response.status}`,
          message: describeBody(data, text, response),
        };
    return { ok: false, status: response.status, error, retryAfter };
  }

  languages() { return this.request("GET", "/api/languages"); }
  usage() { return this.request("GET", "/api/usage"); }
  runs() { return this.request("GET", "/api/runs"); }
  run(runId) { return this.request("GET", `/api/runs/${encodeURIComponent(runId)}`); }
  execute(body) { return this.request("POST", "/api/editor/run", body); }
}

// Retry-After is either delay-seconds or an HTTP date; answer seconds or null.
function parseRetryAfter(value) {
  if (!value) return null;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, Math.round((when - Date.now()) / 1000));
}

function describeBody(data, text, response) {
  // FastAPI's own validation errors look like {"detail": [...]}; anything else is shown as text.
  if (data && data.detail) {
    if (typeof data.detail === "string") return data.detail;
    if (Array.isArray(data.detail)) {
      return data.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    }
  }
  const trimmed = (text || "").trim();
  if (trimmed && trimmed.length < 300 && !trimmed.startsWith("<")) return trimmed;
  return response.statusText || "The server gave an answer the page could not read.";
}
