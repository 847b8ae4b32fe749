import { describe, expect, it } from "vitest";
import { checkPrecondition, INTENT_KINDS, type IntentKind, type PreconditionRun } from "../../src/control/stages";
import type { LifecycleState } from "../../src/lifecycle/types";

function run(state: LifecycleState, reason: string, patch: Partial<PreconditionRun> = {}): PreconditionRun {
  return { state, reason, approvalPending: state === "AWAITING_APPROVAL", ingestStatus: "OK", divergenceOpen: false, controlMode: "ENABLED", ...patch };
}

const STATES: readonly [LifecycleState, string][] = [
  ["IDLE", "not_started"],
  ["IDLE", "idle"],
  ["IDLE", "approved_pending_run"],
  ["RUNNING", "running"],
  ["RUNNING", "starting"],
  ["PAUSED", "paused"],
  ["AWAITING_APPROVAL", "awaiting_approval"],
  ["COMPLETE", "completed"],
  ["STOPPED", "max_iterations"],
  ["STOPPED", "cancelled"],
  ["FAILED", "runtime_died"],
  ["FAILED", "sprite_missing"],
  ["UNKNOWN", "unknown"],
];

// Which (state/reason) each intent kind accepts; everything else is PreconditionFailed.
const ALLOWED: Record<IntentKind, readonly string[]> = {
  APPROVE: ["AWAITING_APPROVAL/awaiting_approval"],
  REJECT: ["AWAITING_APPROVAL/awaiting_approval"],
  PAUSE: ["RUNNING/running"],
  RESUME: ["PAUSED/paused"],
  CANCEL: ["RUNNING/running", "RUNNING/starting", "PAUSED/paused"],
  START: ["IDLE/not_started", "IDLE/idle", "IDLE/approved_pending_run", "COMPLETE/completed", "STOPPED/max_iterations", "STOPPED/cancelled", "FAILED/runtime_died", "UNKNOWN/unknown"],
  // the same states as START: the service refuses it over a live process on top of this (test/control/truth.test.ts)
  RESTART: ["IDLE/not_started", "IDLE/idle", "IDLE/approved_pending_run", "COMPLETE/completed", "STOPPED/max_iterations", "STOPPED/cancelled", "FAILED/runtime_died", "UNKNOWN/unknown"],
};

const MATRIX = INTENT_KINDS.flatMap((kind) => STATES.map(([state, reason]) => ({ kind, state, reason, ok: ALLOWED[kind].includes(`${state}/${reason}`) })));

describe("checkPrecondition", () => {
  it.each(MATRIX)("$kind on $state/$reason → ok=$ok", ({ kind, state, reason, ok }) => {
    const result = checkPrecondition(kind, run(state, reason));
    if (ok) expect(result).toEqual({ ok: true });
    else expect(result).toMatchObject({ ok: false, error: "PreconditionFailed" });
  });

  it.each(INTENT_KINDS)("%s on a disabled Sprite → ControlDisabled (checked before everything else)", (kind) => {
    const result = checkPrecondition(kind, run("RUNNING", "running", { controlMode: "DISABLED", divergenceOpen: true }));
    expect(result).toMatchObject({ ok: false, error: "ControlDisabled" });
  });

  it.each(INTENT_KINDS)("%s with an open divergence → ControlFrozen", (kind) => {
    expect(checkPrecondition(kind, run("AWAITING_APPROVAL", "awaiting_approval", { divergenceOpen: true }))).toMatchObject({ ok: false, error: "ControlFrozen" });
  });

  it.each(INTENT_KINDS)("%s with a forked cursor → ControlFrozen", (kind) => {
    expect(checkPrecondition(kind, run("RUNNING", "running", { ingestStatus: "FORKED" }))).toMatchObject({ ok: false, error: "ControlFrozen" });
  });

  it("approve follows approvalPending, not just the state name", () => {
    expect(checkPrecondition("APPROVE", run("RUNNING", "running", { approvalPending: true }))).toEqual({ ok: true });
    expect(checkPrecondition("APPROVE", run("AWAITING_APPROVAL", "awaiting_approval", { approvalPending: false }))).toMatchObject({ ok: false });
  });

  it("an ingest ERROR does not freeze control", () => {
    expect(checkPrecondition("CANCEL", run("RUNNING", "running", { ingestStatus: "ERROR" }))).toEqual({ ok: true });
  });

  it("messages name the run's state", () => {
    const result = checkPrecondition("RESUME", run("COMPLETE", "completed"));
    expect(!result.ok && result.message).toContain("COMPLETE/completed");
  });
});
