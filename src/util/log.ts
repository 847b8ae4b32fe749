import { currentTraceId } from "../observability/trace";

// One line per entry, JSON, to stderr. Never pass tokens or Authorization headers in `fields`. Inside traced
// work (src/observability/trace.ts) each line carries its traceId.
export type Level = "debug" | "info" | "warn" | "error" | "silent";
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: Level, write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger {
  const at = (l: Exclude<Level, "silent">) => (msg: string, fields?: Record<string, unknown>) => {
    if (RANK[l] < RANK[level]) return;
    const traceId = currentTraceId();
    write(JSON.stringify({ t: new Date().toISOString(), level: l, msg, ...(traceId ? { traceId } : {}), ...fields }));
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
