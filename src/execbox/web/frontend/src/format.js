// Pure helpers that turn API values into words people read.

export const STATUS_LABELS = {
  ok: "Success",
  runtime_error: "Runtime error",
  compile_error: "Compile error",
  timeout: "Time limit exceeded",
  memory_limit: "Memory limit exceeded",
  output_limit: "Output limit exceeded",
  internal_error: "Internal error",
};

export function statusLabel(status) {
  return STATUS_LABELS[status] || String(status || "unknown");
}

export function formatMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return "—";
  const n = Number(ms);
  return `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`;
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  const n = Number(bytes);
  if (n < 1024) return `${n} B`;
  if (n < 100 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1000 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? "" : "s"}`;
  const h = Math.floor(m / 60);
  const rest = m % 60;
  return rest ? `${h} h ${rest} min` : `${h} hour${h === 1 ? "" : "s"}`;
}

export function formatClock(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function formatWhen(value) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const seconds = (Date.now() - date.getTime()) / 1000;
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return date.toLocaleDateString();
}

export function byteLength(text) {
  return new TextEncoder().encode(text).length;
}

export function usageText(usage) {
  if (!usage) return "";
  const plan = usage.plan ? `${usage.plan} plan` : "";
  if (usage.dailyLimit === null || usage.dailyLimit === undefined) {
    return [plan, "unlimited runs today"].filter(Boolean).join(" · ");
  }
  const remaining = usage.remaining ?? Math.max(0, usage.dailyLimit - (usage.runsToday || 0));
  const runs = `${remaining} of ${usage.dailyLimit} run${usage.dailyLimit === 1 ? "" : "s"} left today`;
  return [plan, runs].filter(Boolean).join(" · ");
}
