import { cpSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/recordings");
export const RECORDINGS = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

/** A writable copy of a recording as a repo root (the recordings themselves are read-only). */
export function repoFromRecording(name: string): string {
  const repo = mkdtempSync(path.join(tmpdir(), `ops-${name}-`));
  cpSync(path.join(FIXTURES, name, ".superloop"), path.join(repo, ".superloop"), { recursive: true });
  return repo;
}

export function eventsPath(repo: string, loopId = "demo-loop"): string {
  return path.join(repo, ".superloop", "loops", loopId, "events.jsonl");
}

export function fileLines(repo: string, loopId = "demo-loop"): string[] {
  return readFileSync(eventsPath(repo, loopId), "utf8")
    .split("\n")
    .filter((l) => l.length > 0);
}
