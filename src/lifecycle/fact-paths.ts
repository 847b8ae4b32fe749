import type { RunFacts } from "./types";

export function factPaths(list: string): string[] {
  return list
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Reads a dotted path out of the facts; a missing link reads as null so evidence always has every key. */
export function readPath(root: unknown, path: string): unknown {
  let current: unknown = root;
  for (const key of path.split(".")) {
    if (!isRecord(current)) return null;
    current = current[key];
  }
  if (current === undefined) return null;
  return current instanceof Date ? current.toISOString() : current;
}

export function pickFacts(facts: RunFacts, list: string): Record<string, unknown> {
  const evidence: Record<string, unknown> = {};
  for (const path of factPaths(list)) evidence[path] = readPath(facts, path);
  return evidence;
}
