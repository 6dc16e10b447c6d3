// Turns a refused or failed API call into a message a person can act on.
import { formatClock, formatDuration } from "./format.js";

/**
 * failure: {status, error: {code, message, ...}, retryAfter}
 * context: {hasKey, codeBytes, languageName, usage}
 * Returns {title, message, hint}; message is the server's own sentence when it gave one.
 */
export function describeFailure(failure, context = {}) {
  const { status, error = {}, retryAfter } = failure;
  const serverMessage = error.message || "";
  const withServer = (fallback) => serverMessage || fallback;

  switch (status) {
    case 0:
      return {
        title: "Cannot reach the execbox server",
        message: "The request did not get an answer. Check that the server is running and your connection works.",
        hint: serverMessage ? `(${serverMessage})` : "",
      };
    case 400:
      return { title: "The request was not understood", message: withServer("The server could not read the request."), hint: "" };
    case 401:
      return context.hasKey
        ? {
            title: "API key not accepted",
            message: withServer("The API key is not valid."),
            hint: "Check the key under “API key”, or clear it to run as a guest.",
          }
        : {
            title: "An API key is needed",
            message: withServer("Guests cannot run code on this server."),
            hint: "Paste your API key under “API key”.",
          };
    case 403:
      return {
        title: context.languageName ? `${context.languageName} is not allowed on your plan` : "Not allowed on your plan",
        message: withServer("Your plan does not allow this."),
        hint: "Pick another language, or ask for a plan that includes it.",
      };
    case 413: {
      const limit = error.limit ?? error.maxCodeBytes ?? error.max_code_bytes ?? null;
      const parts = [];
      const saysSize = context.codeBytes !== undefined && serverMessage.includes(String(context.codeBytes));
      if (context.codeBytes !== undefined && !saysSize) {
        parts.push(`Your code is ${context.codeBytes.toLocaleString()} bytes`);
      }
      if (limit !== null) parts.push(`the limit is ${Number(limit).toLocaleString()} bytes`);
      return {
        title: "Code too large",
        message: withServer("The code is larger than your plan allows."),
        hint: parts.length ? `${parts.join("; ")}.` : "Shorten the program, or ask for a plan with a larger limit.",
      };
    }
    case 422:
      if (error.field === "files") {
        return {
          title: "The server refused the program's files",
          message: withServer("A file name is not allowed."),
          hint: "Rename or remove that file (the tabs above the editor), then run again.",
        };
      }
      return { title: "The request was refused", message: withServer("A field is missing or invalid."), hint: "" };
    case 429: {
      const usage = context.usage;
      const limitText = !serverMessage && usage && usage.dailyLimit != null
        ? `All ${usage.dailyLimit} run${usage.dailyLimit === 1 ? "" : "s"} of today are used.`
        : "";
      let hint = "";
      if (retryAfter !== null && retryAfter !== undefined) {
        const at = new Date(Date.now() + retryAfter * 1000);
        hint = `Runs reset in ${formatDuration(retryAfter)} (at ${formatClock(at)}).`;
      } else {
        hint = "Runs reset at the start of the next day.";
      }
      return {
        title: "Daily runs used up",
        message: [withServer("Your plan's daily runs are used up."), limitText].filter(Boolean).join(" "),
        hint,
      };
    }
    case 503:
      return {
        title: "The service is busy",
        message: withServer("No sandbox is free right now."),
        hint: retryAfter != null ? `Try again in ${formatDuration(retryAfter)}.` : "Try again in a moment.",
      };
    default:
      return {
        title: status >= 500 ? `Server error (HTTP ${status})` : `Request failed (HTTP ${status})`,
        message: withServer("The server could not handle the request."),
        hint: "",
      };
  }
}
