// One streaming run over WebSocket /api/ws/run (CONTRACT.md, "Streaming runs").
// The page gets callbacks: onStarted(frame), onOutput(kind, text) for "compile", "stdout"
// and "stderr" as the program writes them, and exactly one of onResult(body) (the body of
// POST /api/editor/run), onRefused(answer) (an answer shaped like Api.request's failures),
// or onLost(answer) when the connection ends before a result.

export function streamingSupported() {
  return typeof WebSocket === "function";
}

export class LiveRun {
  constructor(body, apiKey, handlers) {
    this.handlers = handlers;
    this.finished = false;
    this.started = false;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new WebSocket(`${scheme}//${location.host}/api/ws/run`);
    this.socket.addEventListener("open", () => {
      const message = { type: "run", ...body };
      if (apiKey) message.apiKey = apiKey;
      this.socket.send(JSON.stringify(message));
    });
    this.socket.addEventListener("message", (event) => this.receive(event.data));
    this.socket.addEventListener("close", () => {
      if (!this.finished) {
        this.end("onLost", {
          ok: false,
          status: 0,
          opened: this.started,
          error: {
            code: "network_error",
            message: this.started
              ? "The connection to the server was lost while the program ran."
              : "The server could not be reached.",
          },
        });
      }
    });
  }

  receive(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    switch (frame.type) {
      case "started":
        this.started = true;
        this.handlers.onStarted?.(frame);
        break;
      case "compile":
      case "stdout":
      case "stderr":
        if (typeof frame.data === "string") this.handlers.onOutput?.(frame.type, frame.data);
        break;
      case "result":
        this.end("onResult", frame);
        break;
      case "error":
        this.end("onRefused", {
          ok: false,
          status: frame.status,
          error: frame.error || { code: "error", message: "The run was refused." },
          retryAfter: typeof frame.retryAfter === "number" ? frame.retryAfter : null,
        });
        break;
      default:
        break;
    }
  }

  end(handler, value) {
    if (this.finished) return;
    this.finished = true;
    this.handlers[handler]?.(value);
    try {
      this.socket.close();
    } catch { /* already closed */ }
  }

  send(message) {
    if (this.finished || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  input(text) { return this.send({ type: "stdin", data: text }); }
  endInput() { return this.send({ type: "stdin_end" }); }
  stop() { return this.send({ type: "kill" }); }
}
