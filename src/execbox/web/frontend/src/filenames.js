// The rules the server applies to a program's file names (src/execbox/program.py and
// sandbox/rundir.py's check_file_name), checked in the page so a bad name is refused as it
// is typed, with a sentence that says what to change. The server checks again and its 422
// is shown if it still refuses.

export const MAX_FILES = 64;
export const MAX_DEPTH = 8;
const SAFE_PART = /^[A-Za-z0-9._+-]{1,128}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * What is wrong with `name` for a file beside the entry file, or null when nothing is.
 * `entry` is the name the entry file runs as (e.g. main.py); `others` the names of the
 * program's other files (not the one being renamed).
 */
export function fileNameProblem(name, { entry, others = [] }) {
  if (!name) return "Type a file name.";
  if (CONTROL.test(name)) {
    return "A file name cannot contain control characters (such as a tab or a line break).";
  }
  if (name.startsWith("/")) return "A file name must be relative: it cannot start with “/”.";
  const parts = name.split("/");
  if (parts.includes("..")) return "A file name cannot contain “..”: every file stays beside the entry file.";
  if (parts.includes("")) return "A file name cannot have an empty part (“//”, or “/” at the end).";
  if (parts.includes(".")) return "A file name cannot have a “.” part.";
  if (parts.length > MAX_DEPTH) {
    return `A file name can have at most ${MAX_DEPTH} parts (its folders and its name).`;
  }
  if (parts.some((part) => part.length > 128)) return "Each part of a file name can be at most 128 characters.";
  if (!parts.every((part) => SAFE_PART.test(part))) {
    return "A file name can use only letters, digits, “.”, “_”, “+” and “-”, with “/” between folders.";
  }
  if (parts.some((part) => part.startsWith("-"))) return "No part of a file name can start with “-”.";
  if (name === entry) return `“${entry}” is the entry file's name: pick another.`;
  if (parts[0] === entry) return `“${entry}” is the entry file: it cannot be a folder.`;
  for (const other of others) {
    if (other === name) return `There is already a file named “${name}”.`;
    if (other.startsWith(`${name}/`)) return `“${name}” is already a folder (of “${other}”).`;
    if (name.startsWith(`${other}/`)) return `“${other}” is a file: it cannot be a folder.`;
  }
  return null;
}
