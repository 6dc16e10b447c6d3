// The files of the program in the editor: a tab per file, the first one the entry file,
// and Add / Rename / Remove for the others (CONTRACT.md, "Multi-file programs").
//
// The entry file is always named as the language runs it (its `sourceFile`: main.py,
// Main.java): the server writes the first file under that name whatever it is called, so
// the page shows that name and does not offer to rename or remove it. Each file keeps its
// own CodeMirror state (text, undo history, cursor); only the shown one lives in the view.
//
// Keyboard: the tabs are one Tab stop; ←/→, Home and End move between files, F2 renames
// and Delete removes the file whose tab has focus.
import { MAX_FILES, fileNameProblem } from "./filenames.js";
import { el } from "./panel.js";

export function entryNameOf(language) {
  if (language && language.sourceFile) return language.sourceFile;
  const ext = language && language.extensions && language.extensions[0];
  return `main${ext || ".txt"}`;
}

export class ProgramFiles {
  /**
   * `editor` is the handle from createEditor; `onChange` is called when files are added,
   * renamed or removed (text edits reach the page through the editor's own onChange).
   */
  constructor(editor, { onChange }) {
    this.editor = editor;
    this.onChange = onChange;
    this.$ = (id) => document.getElementById(id);
    this.entryName = "main";
    this.files = []; // [{name, state}]; files[0] is the entry, its name is entryName
    this.current = 0;
    this.formMode = null; // "add" or "rename" while the name form is open
    this.bind();
  }

  bind() {
    this.$("file-add").addEventListener("click", () => this.openForm("add"));
    this.$("file-rename").addEventListener("click", () => this.openForm("rename"));
    this.$("file-remove").addEventListener("click", () => this.remove(this.current));
    this.$("file-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitForm();
    });
    this.$("file-cancel").addEventListener("click", () => this.closeForm());
    this.$("file-name").addEventListener("input", () => this.showProblem(false));
    this.$("file-name").addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.closeForm();
      }
    });
    this.$("file-tabs").addEventListener("click", (event) => {
      const tab = event.target.closest("[role=tab]");
      if (tab) this.select(Number(tab.dataset.index));
    });
    this.$("file-tabs").addEventListener("keydown", (event) => this.tabKey(event));
  }

  // --- the program -----------------------------------------------------------

  /** Shows `files` ([{name, content}], the entry first) for `language`. */
  load(language, files) {
    this.closeForm({ refocus: false });
    this.entryName = entryNameOf(language);
    const given = files.length ? files : [{ name: this.entryName, content: "" }];
    this.files = given.map((file, index) => ({
      name: index === 0 ? this.entryName : file.name,
      state: this.editor.createState(file.content),
    }));
    this.current = 0;
    this.editor.showState(this.files[0].state);
    this.render();
  }

  /** The program as the API takes it: [{name, content}], the entry first. */
  list() {
    this.remember();
    return this.files.map((file) => ({ name: file.name, content: file.state.doc.toString() }));
  }

  names() {
    return this.files.map((file) => file.name);
  }

  // The view's state is the live one for the shown file.
  remember() {
    if (this.files[this.current]) this.files[this.current].state = this.editor.view.state;
  }

  select(index, { focusTab = false } = {}) {
    if (index < 0 || index >= this.files.length) return;
    if (index !== this.current) {
      this.closeForm({ refocus: false }); // a rename in progress was for the other file
      this.remember();
      this.current = index;
      this.editor.showState(this.files[index].state);
      this.render();
    }
    if (focusTab) this.tab(index)?.focus();
  }

  /** Adds a file after checking its name; answers the problem, or null once added. */
  add(name, content = "") {
    const problem = this.problemWith(name, -1);
    if (problem) return problem;
    this.remember();
    this.files.push({ name, state: this.editor.createState(content) });
    this.current = this.files.length - 1;
    this.editor.showState(this.files[this.current].state);
    this.render();
    this.onChange();
    return null;
  }

  rename(index, name) {
    if (index <= 0 || index >= this.files.length) return "The entry file keeps its name.";
    if (name === this.files[index].name) return null;
    const problem = this.problemWith(name, index);
    if (problem) return problem;
    this.files[index].name = name;
    this.render();
    this.onChange();
    return null;
  }

  remove(index) {
    if (index <= 0 || index >= this.files.length) return;
    this.remember();
    const file = this.files[index];
    if (file.state.doc.length > 0 && !window.confirm(`Remove ${file.name} and its text?`)) return;
    this.closeForm();
    this.files.splice(index, 1);
    this.current = Math.min(index, this.files.length - 1);
    this.editor.showState(this.files[this.current].state);
    this.render();
    this.tab(this.current)?.focus();
    this.onChange();
  }

  problemWith(name, index) {
    if (index < 0 && this.files.length >= MAX_FILES) {
      return `A program can have at most ${MAX_FILES} files.`;
    }
    const others = this.files.slice(1).filter((_, i) => i + 1 !== index).map((f) => f.name);
    return fileNameProblem(name, { entry: this.entryName, others });
  }

  // --- the tabs --------------------------------------------------------------

  tab(index) {
    return this.$("file-tabs").querySelector(`[data-index="${index}"]`);
  }

  render() {
    const tabs = this.files.map((file, index) => {
      const selected = index === this.current;
      return el(
        "button",
        {
          type: "button",
          role: "tab",
          id: `file-tab-${index}`,
          className: index === 0 ? "file-tab entry" : "file-tab",
          "data-index": index,
          "data-name": file.name,
          "aria-selected": String(selected),
          "aria-controls": "editor",
          tabindex: selected ? "0" : "-1",
          title: index === 0 ? `The entry file: the program starts here, run as ${file.name}` : null,
        },
        el("span", { className: "file-name" }, file.name),
        index === 0 ? el("span", { className: "entry-mark" }, "entry") : null,
      );
    });
    this.$("file-tabs").replaceChildren(...tabs);
    this.$("editor").setAttribute("aria-labelledby", `file-tab-${this.current}`);
    const onEntry = this.current === 0;
    this.$("file-rename").disabled = onEntry;
    this.$("file-remove").disabled = onEntry;
    this.$("file-add").disabled = this.files.length >= MAX_FILES;
    this.$("file-count").textContent =
      this.files.length === 1 ? "" : `${this.files.length} files: all are sent when you run.`;
  }

  tabKey(event) {
    const tab = event.target.closest("[role=tab]");
    if (!tab) return;
    const index = Number(tab.dataset.index);
    const last = this.files.length - 1;
    const moves = {
      ArrowRight: index === last ? 0 : index + 1,
      ArrowLeft: index === 0 ? last : index - 1,
      Home: 0,
      End: last,
    };
    if (event.key in moves) {
      event.preventDefault();
      this.select(moves[event.key], { focusTab: true });
    } else if (event.key === "F2" && index > 0) {
      event.preventDefault();
      this.select(index);
      this.openForm("rename");
    } else if (event.key === "Delete" && index > 0) {
      event.preventDefault();
      this.remove(index);
    }
  }

  // --- the name form ---------------------------------------------------------

  openForm(mode) {
    if (mode === "rename" && this.current === 0) return;
    this.formMode = mode;
    const form = this.$("file-form");
    const input = this.$("file-name");
    form.hidden = false;
    this.$("file-form-label").textContent =
      mode === "add" ? "Name of the new file" : `New name for ${this.files[this.current].name}`;
    this.$("file-submit").textContent = mode === "add" ? "Add" : "Rename";
    input.value = mode === "add" ? "" : this.files[this.current].name;
    this.showProblem(null);
    input.focus();
    input.select();
  }

  closeForm({ refocus = true } = {}) {
    const wasOpen = this.formMode !== null && refocus;
    this.formMode = null;
    this.$("file-form").hidden = true;
    this.showProblem(null);
    if (wasOpen) this.tab(this.current)?.focus();
  }

  submitForm() {
    const name = this.$("file-name").value;
    const problem = this.formMode === "add" ? this.add(name) : this.rename(this.current, name);
    if (problem) {
      this.showProblem(problem);
      this.$("file-name").focus();
      return;
    }
    const added = this.formMode === "add";
    this.closeForm();
    if (added) this.editor.focus();
  }

  // `problem` is a message, null to clear it, or false to clear it only once it is fixed.
  showProblem(problem) {
    const box = this.$("file-name-error");
    const input = this.$("file-name");
    if (problem === false) {
      if (!box.textContent) return;
      const index = this.formMode === "add" ? -1 : this.current;
      problem = this.problemWith(input.value, index); // said again as the name is fixed
    }
    box.textContent = problem || "";
    box.hidden = !problem;
    input.setAttribute("aria-invalid", String(Boolean(problem)));
  }
}
