// The code editor: CodeMirror 6 with the grammar each language names (grammars.js).
import { EditorView, basicSetup } from "codemirror";
import { Compartment, EditorState, Prec } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import {
  HighlightStyle,
  defaultHighlightStyle,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { tags } from "@lezer/highlight";
import { grammarFor } from "./grammars.js";

// CodeMirror's default colours, plus the names a language predefines (shell and AWK
// built-ins, standard functions, registers), which legacy modes mark and the default leaves
// uncoloured.
const highlightStyle = HighlightStyle.define([
  ...defaultHighlightStyle.specs,
  { tag: [tags.standard(tags.variableName), tags.standard(tags.name)], color: "#0a6b75" },
  { tag: tags.function(tags.variableName), color: "#3c4fb0" },
]);

/**
 * Creates the editor inside `parent`. `onRun` is called on Ctrl/Cmd+Enter.
 * Returns a small handle so the rest of the page never touches CodeMirror.
 */
export function createEditor(parent, { onRun, onChange, label }) {
  const languageSlot = new Compartment();
  let current = null;
  let grammar = [];
  const runKeys = Prec.highest(
    keymap.of([
      { key: "Mod-Enter", run: () => { onRun(); return true; } },
    ]),
  );
  // Every file's state is made with the same extensions; only the grammar is swapped.
  const extensions = [
    runKeys,
    basicSetup,
    syntaxHighlighting(highlightStyle),
    keymap.of([indentWithTab]),
    indentUnit.of("    "),
    EditorView.contentAttributes.of({ "aria-label": label }),
    EditorView.lineWrapping,
    EditorView.updateListener.of((update) => {
      if (update.docChanged && onChange) onChange();
    }),
  ];
  const createState = (text) =>
    EditorState.create({ doc: text, extensions: [...extensions, languageSlot.of(grammar)] });
  const view = new EditorView({ parent, state: createState("") });
  const useGrammar = () => {
    if (languageSlot.get(view.state) !== grammar) {
      view.dispatch({ effects: languageSlot.reconfigure(grammar) });
    }
  };
  return {
    view,
    getCode: () => view.state.doc.toString(),
    setCode(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    /** A document of its own (text, undo history, cursor) for one file of a program. */
    createState,
    /** Shows a document made by createState, with the current language's grammar. */
    showState(state) {
      view.setState(state);
      useGrammar();
    },
    async setLanguage(language) {
      current = language;
      const mode = await grammarFor(language);
      if (current !== language) return;
      grammar = mode;
      useGrammar();
    },
    focus: () => view.focus(),
  };
}
