// The result panel: one of idle, running, a run's result, or a readable error. Never blank.
import { formatBytes, formatMs, statusLabel } from "./format.js";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fact(label, field, value, extra = {}) {
  return el("div", { className: "fact" }, el("dt", {}, label), el("dd", { "data-field": field, ...extra }, value));
}

function block(title, field, text, emptyText) {
  const empty = !text;
  return el(
    "section",
    { className: `block block-${field}` },
    el("h3", {}, title),
    el("pre", { "data-field": field, className: empty ? "empty" : null, tabindex: "0" }, empty ? emptyText : text),
  );
}

// Accepts the run response (output nested) and a stored run (maybe flat, maybe under "result").
export function normalizeResult(data) {
  const r = data && typeof data.result === "object" && data.result !== null ? { ...data, ...data.result } : { ...data };
  const out = r.output && typeof r.output === "object" ? r.output : r;
  return {
    runId: r.runId ?? r.id ?? null,
    language: r.language,
    version: r.version,
    status: r.status,
    message: r.message,
    stdout: out.stdout ?? "",
    stderr: out.stderr ?? "",
    exitCode: out.exitCode ?? null,
    signal: out.signal ?? null,
    compileOutput: r.compileOutput ?? null,
    durationMs: r.durationMs ?? null,
    cpuTimeMs: r.cpuTimeMs ?? null,
    memoryUsed: r.memoryUsed ?? null,
    truncated: Boolean(r.truncated),
  };
}

function exitCodeFact(result) {
  const good = result.exitCode === 0 && result.status === "ok";
  let text;
  if (result.status === "compile_error" && result.exitCode !== null && result.exitCode !== undefined) {
    text = `${result.exitCode} ✗ (compiler)`;
  } else if (result.exitCode !== null && result.exitCode !== undefined) text = `${result.exitCode} ${good ? "✓" : "✗"}`;
  else if (result.signal) text = `✗ (killed by ${result.signal})`;
  else if (result.status === "compile_error") text = "✗ (did not run)";
  else text = "✗ (none)";
  return fact("Exit Code", "exit-code", text, { className: good ? "good" : "bad" });
}

export class ResultPanel {
  constructor(root) {
    this.root = root;
    this.timer = null;
  }

  replace(...nodes) {
    this.stopTimer();
    this.root.replaceChildren(...nodes);
    this.root.removeAttribute("aria-busy");
  }

  stopTimer() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  idle(text) {
    this.replace(el("p", { className: "placeholder", "data-state": "idle" }, text));
  }

  running(languageName) {
    const started = performance.now();
    const clock = el("span", { className: "clock" }, "0.0 s");
    this.replace(
      el(
        "p",
        { className: "running", "data-state": "running" },
        el("span", { className: "spinner", "aria-hidden": "true" }),
        `Running ${languageName || "your code"}… `,
        clock,
      ),
    );
    this.root.setAttribute("aria-busy", "true");
    this.timer = setInterval(() => {
      clock.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`;
    }, 100);
  }

  result(raw, languageName, caption) {
    const r = normalizeResult(raw);
    const name = languageName || r.language || "";
    const languageText = [name, r.version].filter(Boolean).join(" ");
    const facts = el(
      "dl",
      { className: "facts" },
      fact("Language", "language", languageText || "—"),
      exitCodeFact(r),
      fact("Duration", "duration", formatMs(r.durationMs)),
      fact("Status", "status", statusLabel(r.status), { "data-status": r.status, className: r.status === "ok" ? "good" : "bad" }),
      fact("Memory", "memory", formatBytes(r.memoryUsed)),
      fact("CPU time", "cpu-time", formatMs(r.cpuTimeMs)),
    );
    const nodes = [el("div", { "data-state": "result", className: `result status-${r.status}` }, facts)];
    const box = nodes[0];
    if (caption) box.prepend(el("p", { className: "caption", "data-field": "caption" }, caption));
    if (r.message && r.status !== "ok") box.append(el("p", { className: "message", "data-field": "message" }, r.message));
    if (r.truncated) {
      box.append(
        el("p", { className: "note", "data-field": "truncated", role: "note" },
          "Output was cut off: the program wrote more than the output limit, and only the first part is shown."),
      );
    }
    if (r.compileOutput || r.status === "compile_error") {
      box.append(block("Compile output", "compile-output", r.compileOutput, "(the compiler printed nothing)"));
    }
    box.append(block("Output", "stdout", r.stdout, "(no output)"));
    box.append(block("--- Errors ---", "stderr", r.stderr, "(none)"));
    this.replace(...nodes);
  }

  error({ title, message, hint }) {
    this.replace(
      el(
        "div",
        { className: "api-error", role: "alert", "data-state": "error" },
        el("h3", { "data-field": "error-title" }, title),
        el("p", { "data-field": "error-message" }, message),
        hint ? el("p", { className: "hint", "data-field": "error-hint" }, hint) : null,
      ),
    );
  }
}

export { el };
