import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { summarizeEvents, type EventRecord } from "../../../src/lifecycle/event-facts";
import type { ControlFacts, EventFacts, IngestFacts, RunFacts, RuntimeFacts, SpriteStatus, SummaryFacts } from "../../../src/lifecycle/types";

export const RECORDINGS_DIR = path.resolve(__dirname, "../../fixtures/recordings");
export const REFERENCE_DIR = path.resolve(__dirname, "../../fixtures/ops-contract-v1");
export const LOOP_ID = "demo-loop";
export const NOW = new Date("2026-11-24T07:00:00Z");

export interface FactsPatch {
  loopId?: string;
  now?: Date;
  runtime?: Partial<RuntimeFacts>;
  events?: Partial<EventFacts>;
  control?: Partial<ControlFacts>;
  ingest?: Partial<IngestFacts>;
  sprite?: SpriteStatus;
  staleAfterMs?: number;
}

/** A loop that never ran: the starting point every table row patches. */
export function makeFacts(patch: FactsPatch = {}, base?: RunFacts): RunFacts {
  const seed: RunFacts = base ?? {
    loopId: LOOP_ID,
    now: NOW,
    runtime: {
      loopDirExists: false,
      eventsFileExists: false,
      state: null,
      activeRun: null,
      activeRunAlive: null,
      processStopped: null,
      approval: null,
      lastSummary: null,
      heartbeat: null,
    },
    events: {
      count: 0,
      last: null,
      latestRunId: null,
      latestLoopStartAt: null,
      latestIteration: null,
      lastActivePhaseEventAt: null,
      stopReason: null,
    },
    control: { cancelAcceptedAt: null, pauseConfirmedAt: null, startDispatchedAt: null },
    ingest: { status: "OK", error: null, regression: null },
    sprite: { status: "RUNNING" },
    thresholds: { staleAfterMs: 300_000 },
  };
  return {
    loopId: patch.loopId ?? seed.loopId,
    now: patch.now ?? seed.now,
    runtime: { ...seed.runtime, ...patch.runtime },
    events: { ...seed.events, ...patch.events },
    control: { ...seed.control, ...patch.control },
    ingest: { ...seed.ingest, ...patch.ingest },
    sprite: { status: patch.sprite ?? seed.sprite.status },
    thresholds: { staleAfterMs: patch.staleAfterMs ?? seed.thresholds.staleAfterMs },
  };
}

function readJson(file: string): unknown {
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null;
}

type Json = Record<string, unknown>;

export function parseEventLines(text: string): EventRecord[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const raw = JSON.parse(line) as Json;
      const data = raw["data"];
      return {
        name: String(raw["event"] ?? raw["type"]),
        status: typeof raw["status"] === "string" ? raw["status"] : null,
        timestamp: String(raw["timestamp"]),
        runId: typeof raw["run_id"] === "string" ? raw["run_id"] : null,
        iteration: typeof raw["iteration"] === "number" ? raw["iteration"] : null,
        data: typeof data === "object" && data !== null ? (data as Json) : null,
      };
    });
}

export function recordingEvents(name: string): EventRecord[] {
  const file = path.join(RECORDINGS_DIR, name, ".superloop/loops", LOOP_ID, "events.jsonl");
  return existsSync(file) ? parseEventLines(readFileSync(file, "utf8")) : [];
}

/** RunFacts for one recording, read the way the ingest pipeline would (local transport, nothing running). */
export function recordingFacts(name: string, patch: FactsPatch = {}): RunFacts {
  const root = path.join(RECORDINGS_DIR, name, ".superloop");
  const loopDir = path.join(root, "loops", LOOP_ID);
  const summary = readJson(path.join(loopDir, "run-summary.json")) as { entries?: SummaryFacts[] } | null;
  const activeRun = readJson(path.join(root, "active-run.json")) as RuntimeFacts["activeRun"];
  const events = recordingEvents(name);
  const lastEvent = events.at(-1);
  const base = makeFacts({
    // a minute after the recording ended: fresh enough not to be stale
    now: lastEvent ? new Date(new Date(lastEvent.timestamp).getTime() + 60_000) : NOW,
    runtime: {
      loopDirExists: existsSync(loopDir),
      eventsFileExists: existsSync(path.join(loopDir, "events.jsonl")),
      state: readJson(path.join(root, "state.json")) as RuntimeFacts["state"],
      activeRun,
      activeRunAlive: activeRun === null ? null : true,
      approval: readJson(path.join(loopDir, "approval.json")) as RuntimeFacts["approval"],
      lastSummary: summary?.entries?.at(-1) ?? null,
      heartbeat: readJson(path.join(loopDir, "heartbeat.v1.json")) as RuntimeFacts["heartbeat"],
    },
    events: summarizeEvents(events),
  });
  return makeFacts(patch, base);
}
