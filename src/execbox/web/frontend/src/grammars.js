// Every grammar the editor can highlight with, by name. A language names its grammar in its
// TOML file (`highlight = "..."`, served as `highlight` by GET /api/languages); a name this
// page does not know, or none, is plain text. Each loader is its own chunk, fetched the first
// time a language that uses it is picked, so the first page load carries none of them.
import { LanguageSupport, StreamLanguage } from "@codemirror/language";

// A legacy mode, named when it names itself (mllike's do not) so the editor says which is on.
const legacy = (load, pick, name) => () =>
  load().then((m) => StreamLanguage.define(name ? { ...pick(m), name } : pick(m)));
const ours = (pick) => legacy(() => import("./wordmodes.js"), pick);

export const GRAMMARS = {
  // CodeMirror's language packages (full parsers)
  python: () => import("@codemirror/lang-python").then((m) => m.python()),
  javascript: () => import("@codemirror/lang-javascript").then((m) => m.javascript()),
  typescript: () =>
    import("@codemirror/lang-javascript").then((m) => m.javascript({ typescript: true })),
  cpp: () => import("@codemirror/lang-cpp").then((m) => m.cpp()),
  java: () => import("@codemirror/lang-java").then((m) => m.java()),
  go: () => import("@codemirror/lang-go").then((m) => m.go()),
  rust: () => import("@codemirror/lang-rust").then((m) => m.rust()),
  php: () => import("@codemirror/lang-php").then((m) => m.php()),
  sqlite: () => import("@codemirror/lang-sql").then((m) => m.sql({ dialect: m.SQLite })),
  elixir: () => import("codemirror-lang-elixir").then((m) => m.elixir()),
  // the package's language has no name; naming it lets the page (and tests) tell it is on
  prolog: () =>
    import("codemirror-lang-prolog").then(
      (m) => new LanguageSupport(m.prologLanguage.configure({}, "prolog")),
    ),
  // CodeMirror's legacy modes
  shell: legacy(() => import("@codemirror/legacy-modes/mode/shell"), (m) => m.shell),
  clojure: legacy(() => import("@codemirror/legacy-modes/mode/clojure"), (m) => m.clojure),
  cobol: legacy(() => import("@codemirror/legacy-modes/mode/cobol"), (m) => m.cobol),
  coffeescript: legacy(
    () => import("@codemirror/legacy-modes/mode/coffeescript"),
    (m) => m.coffeeScript,
  ),
  commonlisp: legacy(
    () => import("@codemirror/legacy-modes/mode/commonlisp"),
    (m) => m.commonLisp,
  ),
  crystal: legacy(() => import("@codemirror/legacy-modes/mode/crystal"), (m) => m.crystal),
  csharp: legacy(() => import("@codemirror/legacy-modes/mode/clike"), (m) => m.csharp),
  kotlin: legacy(() => import("@codemirror/legacy-modes/mode/clike"), (m) => m.kotlin),
  scala: legacy(() => import("@codemirror/legacy-modes/mode/clike"), (m) => m.scala),
  objectivec: legacy(() => import("@codemirror/legacy-modes/mode/clike"), (m) => m.objectiveC),
  d: legacy(() => import("@codemirror/legacy-modes/mode/d"), (m) => m.d),
  erlang: legacy(() => import("@codemirror/legacy-modes/mode/erlang"), (m) => m.erlang),
  forth: legacy(() => import("@codemirror/legacy-modes/mode/forth"), (m) => m.forth),
  fortran: legacy(() => import("@codemirror/legacy-modes/mode/fortran"), (m) => m.fortran),
  groovy: legacy(() => import("@codemirror/legacy-modes/mode/groovy"), (m) => m.groovy),
  haskell: legacy(() => import("@codemirror/legacy-modes/mode/haskell"), (m) => m.haskell),
  lua: legacy(() => import("@codemirror/legacy-modes/mode/lua"), (m) => m.lua),
  ocaml: legacy(() => import("@codemirror/legacy-modes/mode/mllike"), (m) => m.oCaml, "ocaml"),
  octave: legacy(() => import("@codemirror/legacy-modes/mode/octave"), (m) => m.octave),
  pascal: legacy(() => import("@codemirror/legacy-modes/mode/pascal"), (m) => m.pascal),
  perl: legacy(() => import("@codemirror/legacy-modes/mode/perl"), (m) => m.perl),
  r: legacy(() => import("@codemirror/legacy-modes/mode/r"), (m) => m.r),
  ruby: legacy(() => import("@codemirror/legacy-modes/mode/ruby"), (m) => m.ruby),
  scheme: legacy(() => import("@codemirror/legacy-modes/mode/scheme"), (m) => m.scheme),
  tcl: legacy(() => import("@codemirror/legacy-modes/mode/tcl"), (m) => m.tcl),
  // this page's own small modes
  ada: ours((m) => m.ada),
  awk: ours((m) => m.awk),
  nim: ours((m) => m.nim),
  nasm: ours((m) => m.nasm),
  vala: ours((m) => m.vala),
};

// For a server that sends no `highlight` (an older one): the six first languages by id.
const BY_ID = { c: "cpp", bash: "shell", zsh: "shell" };

/** The grammar's extension for `language` (from GET /api/languages), or [] for plain text. */
export async function grammarFor(language) {
  if (!language) return [];
  const name = language.highlight || BY_ID[language.id] || language.id;
  const load = Object.prototype.hasOwnProperty.call(GRAMMARS, name) ? GRAMMARS[name] : null;
  if (!load) return [];
  try {
    return await load();
  } catch {
    return []; // plain text beats a broken editor
  }
}
