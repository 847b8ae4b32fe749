import { statSync, watch, type FSWatcher } from "node:fs";
import path from "node:path";
import { executeControl, readEventsAfter, readEventsMapped, readRuntimeFacts, type EventCursor } from "../../agent";
import type { LoopRunEvent } from "../contract";
import type { ControlRequest, RunTarget, SpriteObservation, Transport } from "./transport";

// The run's files are on this machine: the agent's readers (agent/) run in-process, and fs.watch on the loop
// directory and .superloop/ wakes the poller as soon as the runtime writes.

const ARTIFACTS = (t: RunTarget) => {
  const root = path.join(t.repoPath, ".superloop");
  const loop = path.join(root, "loops", t.loopId);
  return [
    path.join(loop, "events.jsonl"),
    path.join(root, "state.json"),
    path.join(root, "active-run.json"),
    path.join(loop, "approval.json"),
    path.join(loop, "run-summary.json"),
    path.join(loop, "heartbeat.v1.json"),
    path.join(root, "ops-agent", `launched-${t.loopId}.json`),
    path.join(loop, "rate-limit.json"),
    path.join(loop, "stuck.json"),
    path.join(loop, "escalation.json"),
  ];
};

export class LocalTransport implements Transport {
  readonly kind = "LOCAL" as const;

  /** The artifact paths of each run target (the same object for a run's whole life in the ingestor). */
  private readonly artifacts = new WeakMap<RunTarget, string[]>();

  constructor(private readonly opts: { superloopBin: string; logDir: string; debounceMs?: number }) {}

  async spriteStatus(): Promise<SpriteObservation> {
    return { status: "RUNNING" };
  }

  async fingerprint(target: RunTarget): Promise<string> {
    // The idle poll of every run, many times a second in a large fleet (bench:fleet): synchronous stats of local
    // files cost a few microseconds each, where a promise per file through the thread pool, and an ENOENT error
    // with its stack for each file that does not exist (most of them, most of the time), cost ten times that.
    // stat never opens the file, so a FIFO or a device in the run's directory cannot block here.
    let paths = this.artifacts.get(target);
    if (!paths) this.artifacts.set(target, (paths = ARTIFACTS(target)));
    const stats = paths.map((f) => statSync(f, { throwIfNoEntry: false }) ?? null);
    const parts = stats.map((s) => (s ? `${s.size}:${s.mtimeMs}` : "-"));
    // Liveness changes without any file changing (a crashed runtime): fold the pid's state in.
    // Checked on every poll while active-run.json or a launch record exists: a SIGKILLed run changes no file, and
    // its dead pid must show as FAILED/killed within one poll interval (docs/runtime.md).
    const activeRun = stats[2];
    const launch = stats[6];
    if (activeRun || launch) {
      const facts = await readRuntimeFacts(target).catch(() => null);
      const pid = facts?.activeRun?.pid;
      parts.push(pid ? `${pid}:${facts?.activeRunAlive}:${facts?.processStopped}` : "nopid");
      parts.push(`launch:${facts?.launchAlive ?? "-"}`);
    }
    return parts.join("|");
  }

  readFacts(target: RunTarget) {
    return readRuntimeFacts(target);
  }

  readEvents(target: RunTarget, cursor: EventCursor, limit: number) {
    // The manager keeps no eventLineCount (rows are made of the lines): nothing is counted past the page.
    return readEventsAfter({ repoPath: target.repoPath, loopId: target.loopId, cursor, limit, countLinesAhead: false });
  }

  readEventsMapped<T>(target: RunTarget, cursor: EventCursor, limit: number, map: (envelope: LoopRunEvent, text: string) => T) {
    return readEventsMapped({ repoPath: target.repoPath, loopId: target.loopId, cursor, limit, countLinesAhead: false }, map);
  }

  control(target: RunTarget, request: ControlRequest) {
    return executeControl({
      repoPath: target.repoPath,
      loopId: target.loopId,
      intent: request.intent,
      by: request.by,
      note: request.note ?? undefined,
      superloopBin: this.opts.superloopBin,
      logDir: this.opts.logDir,
    });
  }

  watch(target: RunTarget, onChange: () => void): () => void {
    const debounceMs = this.opts.debounceMs ?? 15;
    let timer: NodeJS.Timeout | null = null;
    const fire = () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, debounceMs);
    };
    const watchers: FSWatcher[] = [];
    // Directories that do not exist yet (a loop that never ran) are retried by the poller's interval; the
    // watch is re-armed on every poll through `rewatch`.
    const dirs = [path.join(target.repoPath, ".superloop"), path.join(target.repoPath, ".superloop", "loops", target.loopId)];
    const arm = () => {
      for (const dir of dirs) {
        if (watchers.some((w) => (w as FSWatcher & { dir?: string }).dir === dir)) continue;
        try {
          const w = watch(dir, { persistent: false }, fire) as FSWatcher & { dir?: string };
          w.dir = dir;
          w.on("error", () => {
            w.close();
            watchers.splice(watchers.indexOf(w), 1);
          });
          watchers.push(w);
        } catch {
          // not there yet
        }
      }
    };
    arm();
    const rearm = setInterval(arm, 2000);
    rearm.unref();
    return () => {
      clearInterval(rearm);
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    };
  }
}
