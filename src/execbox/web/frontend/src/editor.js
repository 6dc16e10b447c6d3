// The code editor: CodeMirror 6 with a highlighting mode per language id.
import { EditorView, basicSetup } from "codemirror";
import { Compartment, EditorState, Prec } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { StreamLanguage, indentUnit } from "@codemirror/language";

// Each grammar is its own chunk, fetched the first time its language is picked.
// Keyed by language id or alias, so a language added to the server later
// still gets highlighting when one of its names is known here.
const python = () => import("@codemirror/lang-python").then((m) => m.python());
const javascript = () => import("@codemirror/lang-javascript").then((m) => m.javascript());
const typescript = () =>
  import("@codemirror/lang-javascript").then((m) => m.javascript({ typescript: true }));
const cpp = () => import("@codemirror/lang-cpp").then((m) => m.cpp());
const java = () => import("@codemirror/lang-java").then((m) => m.java());
const shell = () =>
  import("@codemirror/legacy-modes/mode/shell").then((m) => StreamLanguage.define(m.shell));

const MODES = {
  python, py: python, python3: python,
  javascript, js: javascript, node: javascript, nodejs: javascript,
  typescript, ts: typescript,
  c: cpp, cpp, "c++": cpp,
  java,
  bash: shell, sh: shell, shell,
};

async function modeFor(language) {
  if (!language) return [];
  for (const name of [language.id, ...(language.aliases || [])]) {
    const load = MODES[String(name).toLowerCase()];
    if (load) {
      try {
        return await load();
      } catch {
        return []; // plain text beats a broken editor
      }
    }
  }
  return [];
}

/**
 * Creates the editor inside `parent`. `onRun` is called on Ctrl/Cmd+Enter.
 * Returns a small handle so the rest of the page never touches CodeMirror.
 */
export function createEditor(parent, { onRun, onChange, label }) {
  const languageSlot = new Compartment();
  let current = null;
  const runKeys = Prec.highest(
    keymap.of([
      { key: "Mod-Enter", run: () => { onRun(); return true; } },
    ]),
  );
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: "",
      extensions: [
        runKeys,
        basicSetup,
        keymap.of([indentWithTab]),
        indentUnit.of("    "),
        languageSlot.of([]),
        EditorView.contentAttributes.of({ "aria-label": label }),
        EditorView.lineWrapping,
        EditorView.updateListener.of((update) => {
          if (update.docChanged && onChange) onChange();
        }),
      ],
    }),
  });
  return {
    view,
    getCode: () => view.state.doc.toString(),
    setCode(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    async setLanguage(language) {
      current = language;
      const mode = await modeFor(language);
      if (current === language) view.dispatch({ effects: languageSlot.reconfigure(mode) });
    },
    focus: () => view.focus(),
  };
}
