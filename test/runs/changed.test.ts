import { describe, expect, it } from "vitest";
import { recordStages } from "../../src/control/stage-write";
import type { StageTransition } from "../../src/control/stages";
import { ANNOTATION_TRIGGERS, runChanged, type RunHead } from "../../src/runs/changed";

// The pure parts of the run writer: the one `run` message every writer publishes (and the cluster fan-out
// rebuilds from the rows), and the one way a list of stage transitions becomes an intent's stored change.

const run: RunHead = { id: "r1", spriteId: "s1", seq: 7, state: "RUNNING", stateReason: "iterating" };
const AT = new Date("2026-11-30T07:00:00.000Z");

describe("runChanged: one message for every writer", () => {
  // [writer, transition (trigger as that writer records it), lifecycleChanged, previousState, state, reason]
  const cases: [string, Parameters<typeof runChanged>[1], boolean, string | null, string, string][] = [
    ["poll with a new state", { from: "RUNNING", to: "COMPLETE", reason: "loop_complete", trigger: "ingest" }, true, "RUNNING", "COMPLETE", "loop_complete"],
    ["poll that failed to read", { from: "RUNNING", to: "UNKNOWN", reason: "ingest_error", trigger: "ingest_error" }, true, "RUNNING", "UNKNOWN", "ingest_error"],
    ["registration", { from: null, to: "IDLE", reason: "not_started", trigger: "register" }, true, null, "IDLE", "not_started"],
    ["cursor reset", { from: "RUNNING", to: "RUNNING", reason: "iterating", trigger: "cursor_reset" }, false, "RUNNING", "RUNNING", "iterating"],
    ["Sprite status", { from: "RUNNING", to: "RUNNING", reason: "sprite_cold", trigger: "sprite" }, false, "RUNNING", "RUNNING", "sprite_cold"],
    ["control mode", { from: "RUNNING", to: "RUNNING", reason: "control_mode_disabled", trigger: "control_mode" }, false, "RUNNING", "RUNNING", "control_mode_disabled"],
    ["anything else (queue entry, ingest status, removal)", null, false, "RUNNING", "RUNNING", "iterating"],
  ];
  it.each(cases)("%s", (_writer, transition, lifecycleChanged, previousState, state, reason) => {
    expect(runChanged(run, transition, AT)).toEqual({ runId: "r1", spriteId: "s1", seq: 7, previousState, state, reason, lifecycleChanged, at: AT });
  });

  it("a transition read back from the database keeps its own time", () => {
    const at = new Date("2026-11-30T06:00:00.000Z");
    expect(runChanged(run, { from: "IDLE", to: "RUNNING", reason: "starting", trigger: "ingest", at }, AT).at).toBe(at);
  });

  it("every annotation trigger is not a lifecycle change", () => {
    for (const trigger of ANNOTATION_TRIGGERS) expect(runChanged(run, { from: "IDLE", to: "IDLE", reason: "x", trigger }).lifecycleChanged).toBe(false);
  });
});

describe("recordStages: one record of stage changes for the poller and the control service", () => {
  const stored = { id: "i1", stage: "DISPATCHED" as const, evidence: [{ stage: "REQUESTED", at: "t0", observation: "requested", evidence: {} }], observedLine: 12 };
  const t = (to: StageTransition["to"], at: string, extra: Partial<StageTransition> = {}): StageTransition => ({ from: "DISPATCHED", to, at, observation: `to ${to}`, evidence: { to }, ...extra });

  const cases: [string, StageTransition[], Date | undefined, { stage: string; stamps: [string, string][]; error: string | null; followUp: string | null; records: number }][] = [
    ["no transition: the stored stage, nothing stamped", [], undefined, { stage: "DISPATCHED", stamps: [], error: null, followUp: null, records: 1 }],
    [
      "accepted then confirmed in one poll: both stamped at their observation, ended with the terminal stage",
      [t("ACCEPTED", "2026-11-30T07:00:01.000Z"), t("CONFIRMED", "2026-11-30T07:00:02.000Z")],
      undefined,
      {
        stage: "CONFIRMED",
        stamps: [
          ["acceptedAt", "2026-11-30T07:00:01.000Z"],
          ["confirmedAt", "2026-11-30T07:00:02.000Z"],
          ["endedAt", "2026-11-30T07:00:02.000Z"],
        ],
        error: null,
        followUp: null,
        records: 3,
      },
    ],
    [
      "a dispatch's stamp is the dispatch's start, not the answer's time",
      [t("DISPATCHED", "2026-11-30T07:00:05.000Z", { from: "REQUESTED" }), t("FAILED", "2026-11-30T07:00:05.000Z", { error: "failed_command" })],
      new Date("2026-11-30T07:00:03.000Z"),
      {
        stage: "FAILED",
        stamps: [
          ["dispatchedAt", "2026-11-30T07:00:03.000Z"],
          ["endedAt", "2026-11-30T07:00:05.000Z"],
        ],
        error: "failed_command",
        followUp: null,
        records: 3,
      },
    ],
    [
      "an approve accepted with resume asks for its follow-up start",
      [t("ACCEPTED", "2026-11-30T07:00:01.000Z", { followUp: "START" })],
      undefined,
      { stage: "ACCEPTED", stamps: [["acceptedAt", "2026-11-30T07:00:01.000Z"]], error: null, followUp: "START", records: 2 },
    ],
    [
      "the deadline: ambiguous with its cause, ended",
      [t("AMBIGUOUS", "2026-11-30T07:01:00.000Z", { error: "deadline_exceeded" })],
      undefined,
      { stage: "AMBIGUOUS", stamps: [["endedAt", "2026-11-30T07:01:00.000Z"]], error: "deadline_exceeded", followUp: null, records: 2 },
    ],
  ];
  it.each(cases)("%s", (_name, transitions, dispatchedAt, want) => {
    const change = recordStages(stored, transitions, dispatchedAt);
    expect(change.id).toBe("i1");
    expect(change.expectedStage).toBe("DISPATCHED");
    expect(change.observedLine).toBe(12);
    expect(change.stage).toBe(want.stage);
    expect(change.stamps.map((s) => [s.column, s.at.toISOString()])).toEqual(want.stamps);
    expect(change.error).toBe(want.error);
    expect(change.followUp).toBe(want.followUp);
    expect(change.evidence).toHaveLength(want.records);
    expect(change.evidence.slice(1).map((r) => r.stage)).toEqual(transitions.map((x) => x.to));
    if (want.followUp) expect(change.evidence[1].followUp).toBe("START");
  });

  it("does not change the stored evidence it was given", () => {
    recordStages(stored, [t("ACCEPTED", "2026-11-30T07:00:01.000Z")]);
    expect(stored.evidence).toHaveLength(1);
  });
});
