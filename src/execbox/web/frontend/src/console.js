// The result panel while a program runs: its output as it comes, a "Program input" line
// (Enter sends it; Ctrl+D ends the input) and a "Stop" button. The result replaces it.
import { el } from "./panel.js";

const MAX_SHOWN_CHARS = 2_000_000;

export class LiveConsole {
  constructor(panel, languageName, { onInput, onEndInput, onStop }) {
    this.panel = panel;
    this.shown = 0;
    const started = performance.now();
    const clock = el("span", { className: "clock" }, "0.0 s");
    this.output = el("pre", {
      "data-field": "live-output",
      className: "live-output",
      tabindex: "0",
      "aria-label": "Program output so far",
    });
    this.input = el("input", {
      id: "program-input",
      type: "text",
      autocomplete: "off",
      spellcheck: "false",
      placeholder: "Type a line, press Enter",
      "aria-describedby": "program-input-help",
    });
    this.stopButton = el("button", { type: "button", id: "stop", className: "stop" }, "Stop");
    const form = el(
      "form",
      { className: "program-input", "data-field": "program-input-form" },
      el("label", { for: "program-input" }, "Program input"),
      this.input,
      this.stopButton,
      el(
        "p",
        { id: "program-input-help", className: "help" },
        "Enter sends the line to the running program; Ctrl+D ends its input.",
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const line = this.input.value;
      this.input.value = "";
      this.echo(line);
      onInput(`${line}\n`);
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "d" && event.ctrlKey) {
        event.preventDefault();
        onEndInput();
        this.input.disabled = true;
        this.input.placeholder = "Input ended";
      }
    });
    this.stopButton.addEventListener("click", () => {
      this.stopButton.disabled = true;
      this.stopButton.textContent = "Stopping…";
      onStop();
    });
    panel.replace(
      el(
        "div",
        { "data-state": "running", className: "live" },
        el(
          "p",
          { className: "running" },
          el("span", { className: "spinner", "aria-hidden": "true" }),
          `Running ${languageName || "your code"}… `,
          clock,
        ),
        this.output,
        form,
      ),
    );
    panel.root.setAttribute("aria-busy", "true");
    panel.timer = setInterval(() => {
      clock.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`;
    }, 100);
  }

  // Output as text, appended as it comes (stderr and compiler output set apart).
  write(kind, text) {
    if (this.shown >= MAX_SHOWN_CHARS) return;
    const piece = text.slice(0, MAX_SHOWN_CHARS - this.shown);
    this.shown += piece.length;
    const last = this.output.lastChild;
    if (last && last.dataset && last.dataset.kind === kind) {
      last.append(piece);
    } else {
      this.output.append(el("span", { "data-kind": kind, className: `live-${kind}` }, piece));
    }
    this.output.scrollTop = this.output.scrollHeight;
  }

  // What the person typed, shown where a terminal would echo it.
  echo(line) {
    this.output.append(el("span", { "data-kind": "input", className: "live-input" }, `${line}\n`));
  }

  focusInput() {
    this.input.focus();
  }
}
