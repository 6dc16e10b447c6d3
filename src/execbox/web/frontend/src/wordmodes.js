// Small highlighting modes for the languages neither CodeMirror's language packages nor its
// legacy modes cover (Ada, AWK, Nim, NASM assembly) and Vala (a C#-like clike dialect).
// They colour what a reader scans for (comments, strings, numbers, keywords, built-ins) and
// nothing more; each is a StreamLanguage, loaded in its own chunk like every grammar.
import { clike } from "@codemirror/legacy-modes/mode/clike";

const words = (text) => new Set(text.split(/\s+/).filter(Boolean));
// clike takes its word lists as objects.
const wordTable = (text) => Object.fromEntries([...words(text)].map((w) => [w, true]));

/**
 * A line-oriented tokenizer from data: `lineComment` (string or list), `blockComment`
 * ([open, close]), `strings` (quote characters; `escape` when backslash escapes),
 * `keywords`/`builtins`/`atoms` (word sets), `caseInsensitive`, `wordChars` (a regex for
 * one word character after the first).
 */
function wordMode(config) {
  const fold = config.caseInsensitive ? (w) => w.toLowerCase() : (w) => w;
  const keywords = words(fold(config.keywords || ""));
  const builtins = words(fold(config.builtins || ""));
  const atoms = words(fold(config.atoms || ""));
  const lineComments = [].concat(config.lineComment || []);
  const [blockOpen, blockClose] = config.blockComment || [null, null];
  const quotes = config.strings || "\"";
  const wordChar = config.wordChars || /[\w]/;

  function inBlock(stream, state) {
    while (!stream.eol()) {
      if (stream.match(blockClose)) {
        state.inBlock = false;
        return "comment";
      }
      stream.next();
    }
    return "comment";
  }

  function inString(stream, state) {
    let escaped = false;
    let ch;
    while ((ch = stream.next()) != null) {
      if (ch === state.quote && !escaped) {
        state.quote = null;
        return "string";
      }
      escaped = config.escape !== false && !escaped && ch === "\\";
    }
    if (!config.multilineStrings) state.quote = null;
    return "string";
  }

  return {
    name: config.name,
    startState: () => ({ inBlock: false, quote: null }),
    token(stream, state) {
      if (state.inBlock) return inBlock(stream, state);
      if (state.quote) return inString(stream, state);
      if (stream.eatSpace()) return null;
      for (const marker of lineComments) {
        if (stream.match(marker)) {
          stream.skipToEnd();
          return "comment";
        }
      }
      if (blockOpen && stream.match(blockOpen)) {
        state.inBlock = true;
        return inBlock(stream, state);
      }
      const ch = stream.peek();
      if (quotes.includes(ch)) {
        state.quote = stream.next();
        return inString(stream, state);
      }
      if (stream.match(/^(0x[\da-f_]+|\d[\d_]*(\.\d[\d_]*)?(e[+-]?\d+)?)/i)) return "number";
      if (/[A-Za-z_]/.test(ch)) {
        stream.next();
        while (!stream.eol() && wordChar.test(stream.peek())) stream.next();
        const word = fold(stream.current());
        if (keywords.has(word)) return "keyword";
        if (atoms.has(word)) return "atom";
        if (builtins.has(word)) return "builtin";
        return "variableName";
      }
      stream.next();
      return /[-+*/=<>!&|%^~:]/.test(ch) ? "operator" : null;
    },
    languageData: {
      commentTokens: {
        ...(lineComments.length ? { line: lineComments[0] } : {}),
        ...(blockOpen ? { block: { open: blockOpen, close: blockClose } } : {}),
      },
    },
  };
}

export const ada = wordMode({
  name: "ada",
  caseInsensitive: true,
  lineComment: "--",
  strings: "\"",
  escape: false,
  keywords:
    "abort abs abstract accept access aliased all and array at begin body case constant declare " +
    "delay delta digits do else elsif end entry exception exit for function generic goto if in " +
    "interface is limited loop mod new not null of or others out overriding package pragma " +
    "private procedure protected raise range record rem renames requeue return reverse select " +
    "separate some subtype synchronized tagged task terminate then type until use when while with xor",
  atoms: "true false",
  builtins:
    "integer natural positive float boolean character string duration put put_line get get_line " +
    "new_line ada text_io integer_text_io float_text_io",
});

export const awk = wordMode({
  name: "awk",
  lineComment: "#",
  strings: "\"",
  keywords:
    "BEGIN END BEGINFILE ENDFILE function func if else while for do in break continue next " +
    "nextfile exit return delete getline print printf",
  builtins:
    "NR NF FNR FS OFS RS ORS FILENAME SUBSEP RSTART RLENGTH ENVIRON ARGC ARGV CONVFMT OFMT " +
    "length substr index split sub gsub match sprintf sin cos atan2 exp log sqrt int rand srand " +
    "tolower toupper system close fflush",
});

export const nim = wordMode({
  name: "nim",
  lineComment: "#",
  blockComment: ["#[", "]#"],
  strings: "\"'",
  keywords:
    "addr and as asm bind block break case cast concept const continue converter defer discard " +
    "distinct div do elif else end enum except export finally for from func if import in include " +
    "interface is isnot iterator let macro method mixin mod nil not notin object of or out proc " +
    "ptr raise ref return shl shr static template try tuple type using var when while xor yield",
  atoms: "true false nil",
  builtins:
    "echo len int float string bool char seq array set openArray result stdin stdout stderr " +
    "readLine parseInt toUpperAscii items pairs inc dec high low assert quit",
});

export const nasm = wordMode({
  name: "nasm",
  caseInsensitive: true,
  lineComment: ";",
  strings: "\"'`",
  wordChars: /[\w.$@?#]/,
  keywords:
    "section segment global extern bits default align db dw dd dq dt resb resw resd resq times " +
    "equ mov movzx movsx lea add sub inc dec mul imul div idiv " +
    "neg and or xor not shl shr sar rol ror cmp test jmp je jne jz jnz jg jge jl jle ja jae jb " +
    "jbe call ret push pop syscall int nop loop cqo cdq leave enter",
  builtins:
    "rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 eax ebx ecx edx esi edi ebp " +
    "esp ax bx cx dx si di bp sp al bl cl dl ah bh ch dh byte word dword qword rel",
});

export const vala = clike({
  name: "vala",
  keywords: wordTable(
    "abstract as async base break case catch class const construct continue default delegate " +
    "delete do dynamic else ensures enum errordomain extern false finally for foreach get if in " +
    "inline interface internal is lock namespace new null out override owned private protected " +
    "public ref requires return set signal sizeof static struct switch this throw throws true try " +
    "typeof unowned using var virtual void weak while yield",
  ),
  types: wordTable(
    "bool char uchar int uint short ushort long ulong int8 int16 int32 int64 uint8 uint16 uint32 " +
    "uint64 float double string unichar size_t ssize_t Object",
  ),
  blockKeywords: wordTable("catch class do else finally for foreach if struct switch try while"),
  defKeywords: wordTable("class interface namespace struct enum delegate signal errordomain"),
  typeFirstDefinitions: true,
  atoms: wordTable("true false null"),
  builtin: wordTable("print stdout stderr stdin"),
});
