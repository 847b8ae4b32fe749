import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fakeRunSync } from "../support/fake-run";

// A loop's files as the local transport reads them, with just enough runtime state to drive lifecycle changes.

export function freshRepo(prefix = "ops-cluster-"): string {
  const repo = mkdtempSync(path.join(tmpdir(), prefix));
  mkdirSync(path.join(repo, ".superloop", "loops", "demo-loop"), { recursive: true });
  writeFileSync(path.join(repo, ".superloop", "loops", "demo-loop", "events.jsonl"), "");
  return repo;
}

let n = 0;
export function line(name: string, extra: Record<string, unknown> = {}): string {
  n++;
  return JSON.stringify({ timestamp: new Date(Date.UTC(2026, 10, 24, 9, 0, 0, 0) + n).toISOString(), event: name, loop_id: "demo-loop", run_id: "r-1", iteration: 1, ...extra }) + "\n";
}

export function append(repo: string, ...lines: string[]): void {
  appendFileSync(path.join(repo, ".superloop", "loops", "demo-loop", "events.jsonl"), lines.join(""));
}

/** The runtime says a loop is active in this repo (the pid is ours, so it is alive). */
/** A "running" repo: state active and active-run.json naming a live process that is this repo's superloop `run`
 * (liveness is checked by command line, so the test's own pid would read as a killed run). */
export function setRunning(repo: string, pid = fakeRunSync(repo)): void {
  writeFileSync(path.join(repo, ".superloop", "state.json"), JSON.stringify({ active: true, loop_index: 0, iteration: 1, current_loop_id: "demo-loop", updated_at: new Date().toISOString() }));
  writeFileSync(path.join(repo, ".superloop", "active-run.json"), JSON.stringify({ repo, pid, pgid: pid, loop_id: "demo-loop", iteration: 1, stage: "planner", updated_at: new Date().toISOString() }));
}

export function setStopped(repo: string): void {
  writeFileSync(path.join(repo, ".superloop", "state.json"), JSON.stringify({ active: false, loop_index: 0, iteration: 1, current_loop_id: "demo-loop", updated_at: new Date().toISOString() }));
  rmSync(path.join(repo, ".superloop", "active-run.json"), { force: true });
}
