// The execbox web editor: pick a language, write code, press Run, read the result.
import { Api } from "./api.js";
import { createEditor } from "./editor.js";
import { describeFailure } from "./errors.js";
import { ProgramFiles, entryNameOf } from "./files.js";
import { byteLength, formatWhen, statusLabel, usageText } from "./format.js";
import { LiveConsole } from "./console.js";
import { LiveRun, streamingSupported } from "./live.js";
import { ResultPanel, el } from "./panel.js";
import { starterFor } from "./starters.js";

const KEY_STORAGE = "execbox.apiKey";
const LANGUAGE_STORAGE = "execbox.language";
const DRAFTS_STORAGE = "execbox.drafts";
const DRAFT_MAX_CHARS = 200_000;

function storageGet(name) {
  try { return localStorage.getItem(name) || ""; } catch { return ""; }
}
function storageSet(name, value) {
  try {
    if (value) localStorage.setItem(name, value);
    else localStorage.removeItem(name);
  } catch { /* private mode: the key lives for this page only */ }
}

// A draft is a language's program in this browser: its code (one file) or its files
// ([{name, content}], the entry first).
function isDraft(value) {
  return (
    typeof value === "string" ||
    (Array.isArray(value) &&
      value.length > 0 &&
      value.every((f) => f && typeof f.name === "string" && typeof f.content === "string"))
  );
}
function loadDrafts() {
  try {
    const stored = JSON.parse(storageGet(DRAFTS_STORAGE) || "{}");
    return new Map(Object.entries(stored).filter(([, draft]) => isDraft(draft)));
  } catch {
    return new Map();
  }
}
function saveDrafts(drafts) {
  storageSet(DRAFTS_STORAGE, drafts.size ? JSON.stringify(Object.fromEntries(drafts)) : "");
}

class EditorPage {
  constructor() {
    this.$ = (id) => document.getElementById(id);
    this.apiKey = storageGet(KEY_STORAGE);
    this.api = new Api(() => this.apiKey);
    this.languages = [];
    this.language = null;
    this.drafts = loadDrafts();
    this.saveTimer = null;
    this.usage = null;
    this.busy = false;
    this.panel = new ResultPanel(this.$("result"));
    this.editor = createEditor(this.$("editor"), {
      onRun: () => this.run(),
      onChange: () => this.draftChanged(),
      label: "Code editor",
    });
    this.program = new ProgramFiles(this.editor, { onChange: () => this.draftChanged() });
  }

  async start() {
    this.bind();
    this.showKeyState();
    this.panel.idle("Loading languages…");
    await this.loadLanguages();
    this.refreshUsage();
    this.refreshRuns();
  }

  bind() {
    this.$("run").addEventListener("click", () => this.run());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
        event.preventDefault();
        this.run();
      }
    });
    this.$("language").addEventListener("change", (event) => this.switchLanguage(event.target.value));
    this.$("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.setKey(this.$("api-key").value.trim());
    });
    this.$("key-clear").addEventListener("click", () => this.setKey(""));
    this.$("key-show").addEventListener("change", (event) => {
      this.$("api-key").type = event.target.checked ? "text" : "password";
    });
    this.$("runs-refresh").addEventListener("click", () => this.refreshRuns());
    this.$("reset-code").addEventListener("click", () => {
      // The entry file gets the starter again; the other files stay.
      if (this.language) {
        this.program.select(0);
        this.editor.setCode(starterFor(this.language));
      }
      this.keepDraft();
      this.editor.focus();
    });
    this.$("runs").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-run-id]");
      if (button) this.restoreRun(button.dataset.runId);
    });
  }

  // --- languages -----------------------------------------------------------

  async loadLanguages() {
    const select = this.$("language");
    const answer = await this.api.languages();
    if (!answer.ok || !Array.isArray(answer.data) || answer.data.length === 0) {
      select.replaceChildren(el("option", { value: "" }, "(no languages)"));
      select.disabled = true;
      this.$("run").disabled = true;
      const failure = answer.ok
        ? { title: "No languages available", message: "This server has no language it can run right now.", hint: "Ask its administrator to run `execbox doctor`." }
        : { ...describeFailure(answer), hint: "Reload the page to try again." };
      this.panel.error(failure);
      return;
    }
    this.languages = answer.data;
    select.replaceChildren(
      ...this.languages.map((lang) =>
        el("option", { value: lang.id }, [lang.name, lang.version].filter(Boolean).join(" ")),
      ),
    );
    select.disabled = false;
    this.$("run").disabled = false;
    const saved = storageGet(LANGUAGE_STORAGE);
    const first =
      this.find(saved) || this.find("python") || this.languages[0];
    this.selectLanguage(first, this.draftOf(first));
    this.panel.idle("Press Run (or Ctrl+Enter) to run your code. The result appears here.");
  }

  find(id) {
    return this.languages.find((lang) => lang.id === id) || null;
  }

  // `program` is code (one file) or [{name, content}] (the entry first).
  selectLanguage(language, program) {
    this.language = language;
    this.$("language").value = language.id;
    this.editor.setLanguage(language);
    const files = typeof program === "string"
      ? [{ name: entryNameOf(language), content: program }]
      : program;
    this.program.load(language, files);
    storageSet(LANGUAGE_STORAGE, language.id);
  }

  // Each language keeps its own files: switching shows the other language's draft (or its
  // starter), and switching back brings this one's files back as they were.
  switchLanguage(id) {
    const next = this.find(id);
    if (!next || (this.language && next.id === this.language.id)) return;
    this.keepDraft();
    this.selectLanguage(next, this.draftOf(next));
  }

  draftOf(language) {
    return this.drafts.get(language.id) ?? starterFor(language);
  }

  // Remembers the current language's program in this browser unless it is the starter alone.
  keepDraft() {
    if (!this.language) return;
    const files = this.program.list();
    const size = files.reduce((sum, f) => sum + f.name.length + f.content.length, 0);
    const onlyStarter = files.length === 1 && files[0].content === starterFor(this.language);
    if (!onlyStarter && size <= DRAFT_MAX_CHARS) {
      this.drafts.set(this.language.id, files.length === 1 ? files[0].content : files);
    } else {
      this.drafts.delete(this.language.id);
    }
    saveDrafts(this.drafts);
  }

  draftChanged() {
    if (this.saveTimer !== null) clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.keepDraft();
    }, 400);
  }

  // --- running -------------------------------------------------------------

  async run() {
    if (this.busy || !this.language) return;
    const language = this.language;
    // One file goes as `code`, several as `files` (the entry first): CONTRACT.md.
    const files = this.program.list();
    const program = files.length === 1 ? { code: files[0].content } : { files };
    const body = { language: language.id, ...program, stdin: this.$("stdin").value, args: [] };
    const codeBytes = files.reduce((sum, f) => sum + byteLength(f.content), 0);
    this.setBusy(true);
    try {
      let answer = streamingSupported() ? await this.runLive(body, language) : null;
      if (answer === null) {
        // No WebSocket, or it could not even connect: the same run over plain HTTP.
        this.panel.running(language.name);
        answer = await this.api.execute(body);
      }
      if (answer.ok) {
        this.panel.result(answer.data, language.name);
        if (answer.data.usage) this.showUsage(answer.data.usage);
        this.refreshRuns();
      } else {
        if (answer.status === 429 && this.usage) this.showUsage({ ...this.usage, remaining: 0 });
        this.panel.error(
          describeFailure(answer, {
            hasKey: Boolean(this.apiKey),
            codeBytes,
            languageName: language.name,
            usage: this.usage,
          }),
        );
        if (answer.status === 401) this.$("key-box").open = true;
        if (answer.status === 429 || answer.status === 401) this.refreshUsage();
      }
    } finally {
      this.setBusy(false);
    }
  }

  // Streams the run (output as it comes, input while it runs, Stop). Answers what
  // api.execute would, or null when the socket never opened (then HTTP is tried).
  runLive(body, language) {
    return new Promise((resolve) => {
      let console_ = null;
      const live = new LiveRun(
        // Text in the stdin box is the program's whole input, as before: it is fed, then
        // closed. With the box empty, input stays open for the "Program input" line.
        body,
        this.apiKey,
        {
          onStarted: () => {
            console_ = new LiveConsole(this.panel, language.name, {
              onInput: (text) => live.input(text),
              onEndInput: () => live.endInput(),
              onStop: () => live.stop(),
            });
            if (body.stdin) live.endInput();
          },
          onOutput: (kind, text) => console_?.write(kind, text),
          onResult: (frame) => resolve({ ok: true, status: 200, data: frame }),
          onRefused: (answer) => resolve(answer),
          onLost: (answer) => resolve(answer.opened ? answer : null),
        },
      );
    });
  }

  setBusy(busy) {
    this.busy = busy;
    const button = this.$("run");
    button.disabled = busy;
    button.setAttribute("aria-busy", String(busy));
    button.querySelector(".label").textContent = busy ? "Running…" : "Run";
  }

  // --- API key and usage ---------------------------------------------------

  setKey(key) {
    this.apiKey = key;
    this.$("key-box").open = false;
    storageSet(KEY_STORAGE, key);
    this.$("api-key").value = key;
    this.showKeyState();
    this.refreshUsage();
    this.refreshRuns();
  }

  showKeyState() {
    const input = this.$("api-key");
    if (!input.value) input.value = this.apiKey;
    this.$("key-state").textContent = this.apiKey
      ? `Using the API key ending in …${this.apiKey.slice(-4)}`
      : "Guest (no API key)";
  }

  async refreshUsage() {
    const answer = await this.api.usage();
    if (answer.ok) this.showUsage(answer.data);
    else if (answer.status === 401) this.$("usage").textContent = this.apiKey ? "API key not accepted" : "Sign in with an API key";
    else this.$("usage").textContent = "";
  }

  showUsage(usage) {
    this.usage = usage;
    this.$("usage").textContent = usageText(usage);
  }

  // --- recent runs ---------------------------------------------------------

  async refreshRuns() {
    const list = this.$("runs");
    const note = this.$("runs-note");
    const answer = await this.api.runs();
    if (!answer.ok) {
      list.replaceChildren();
      if (answer.status === 401 && this.apiKey) {
        note.textContent = "Recent runs could not be loaded: the API key was not accepted.";
      } else if (answer.status === 401 || answer.status === 403) {
        note.textContent = "Your recent runs appear here once you use an API key.";
      } else {
        note.textContent = `Recent runs could not be loaded: ${describeFailure(answer).message}`;
      }
      return;
    }
    const runs = Array.isArray(answer.data) ? answer.data : answer.data.runs || answer.data.items || [];
    note.textContent = runs.length ? "" : "No runs yet.";
    list.replaceChildren(...runs.slice(0, 50).map((run) => this.runItem(run)));
  }

  runItem(run) {
    const id = run.runId ?? run.id;
    const lang = this.find(run.language);
    const when = run.createdAt ?? run.created_at ?? run.finishedAt ?? run.startedAt;
    const status = run.status || "queued";
    return el(
      "li",
      {},
      el(
        "button",
        { type: "button", "data-run-id": id, className: `run-item status-${status}` },
        el("span", { className: "run-lang" }, lang ? lang.name : run.language || "?"),
        el("code", { className: "run-code" }, firstLine(run.codePreview ?? run.code ?? "")),
        el("span", { className: "run-status" }, statusLabel(status)),
        el("time", { className: "run-when", datetime: when || null }, formatWhen(when)),
      ),
    );
  }

  async restoreRun(runId) {
    if (this.busy) return;
    const answer = await this.api.run(runId);
    if (!answer.ok) {
      this.panel.error({ ...describeFailure(answer), title: "Could not open that run" });
      return;
    }
    const run = answer.data;
    const language = this.find(run.language);
    const code = typeof run.code === "string" ? run.code : "";
    const program = Array.isArray(run.files) && run.files.length ? run.files : code;
    this.keepDraft();
    if (language) this.selectLanguage(language, program);
    else this.editor.setCode(code);
    this.$("stdin").value = run.stdin ?? "";
    if (run.status === "queued" || run.status === "running") {
      this.panel.idle(`This run is still ${run.status}. Refresh the list in a moment to see its result.`);
    } else {
      const when = run.createdAt ? new Date(run.createdAt) : null;
      const caption = when && !Number.isNaN(when.getTime())
        ? `A past run, from ${when.toLocaleString()}.`
        : "A past run.";
      this.panel.result(run, language ? language.name : run.language, caption);
    }
    this.editor.focus();
  }
}

function firstLine(code) {
  const line = String(code).split("\n").find((l) => l.trim()) || "";
  return line.trim().slice(0, 80);
}

function boot() {
  const page = new EditorPage();
  window.execboxEditor = page; // for debugging from the console
  page.start();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
