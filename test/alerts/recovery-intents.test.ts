import { describe, expect, it } from "vitest";
import { alertsConfigSchema } from "../../src/alerts/config";
import { recoveryCondition, type RunSnapshot } from "../../src/alerts/conditions";
import { planIntake, type EpisodeRow, type RunInfo, type Signal } from "../../src/alerts/intake";

// recovery_escalation, intent alerts that resolve, and policy_action alerts: the pure core (table tests).

const now = new Date("2026-11-30T12:00:00Z");
const ago = (min: number) => new Date(now.getTime() - min * 60_000).toISOString();
const config = alertsConfigSchema.parse({ sinks: { hook: { type: "webhook", url: "http://x/hook" }, pd: { type: "pagerduty", routingKeyEnv: "PD" } }, routing: { defaultSinks: ["hook", "pd"] } });
const runs = new Map<string, RunInfo>([["r1", { id: "r1", loopId: "loop", repoPath: "/r", spriteId: "s1", spriteName: "sp", labels: {} }]]);
const base: RunSnapshot = { state: "RUNNING", stateReason: "running", health: "HEALTHY", reasons: [], ingestStatus: "OK", ingestError: null, removed: false };

let n = 0;
const runSig = (s: Partial<RunSnapshot>): Signal => ({ id: String(++n), subject: "run", runId: "r1", spriteId: "s1", snapshot: { ...base, ...s }, at: now });
const intentSig = (intentId: string, stage: string, extra: Record<string, unknown> = {}): Signal => ({
  id: String(++n),
  subject: "intent",
  runId: "r1",
  spriteId: null,
  snapshot: { intentId, kind: "RESTART", stage, error: stage === "FAILED" ? "refused" : null, traceId: `trace-${intentId}`, requestedBy: "ops", tx: `tx-${intentId}`, ...extra },
  at: now,
});
const plan = (signals: Signal[], open: EpisodeRow[] = []) => planIntake(config, signals, open, runs, new Map(), now);
const events = (p: ReturnType<typeof plan>) => p.deliveries.filter((d) => d.sink === "pd").map((d) => [d.event, d.condition, d.dedupKey]);
const openFrom = (p: ReturnType<typeof plan>): EpisodeRow[] => p.episodes.filter((e) => e.resolvedAt === null).map((e) => ({ ...e, isNew: false, changed: false }));

describe("recovery_escalation", () => {
  const three = [ago(50), ago(20), ago(1)];
  it.each([
    ["down after 3 restarts in the window", { state: "FAILED", stateReason: "runtime_died", recoveries: three }, true],
    ["STOPPED (not cancelled) counts as down", { state: "STOPPED", stateReason: "rate_limited", recoveries: three }, true],
    ["cancelled is not down", { state: "STOPPED", stateReason: "cancelled", recoveries: three }, false],
    ["only 2 attempts", { state: "FAILED", stateReason: "runtime_died", recoveries: three.slice(1) }, false],
    ["attempts outside the window do not count", { state: "FAILED", stateReason: "runtime_died", recoveries: [ago(120), ago(20), ago(1)] }, false],
    ["running again after restarts", { state: "RUNNING", stateReason: "running", recoveries: three }, false],
    ["runtime escalation pending", { state: "RUNNING", stateReason: "running", escalation: { status: "pending", reason: "needs approval" } }, true],
    ["runtime escalation already decided", { state: "RUNNING", stateReason: "running", escalation: { status: "approved" } }, false],
  ] as const)("%s", (_n, s, want) => expect(recoveryCondition("r1", "sp/loop", s as never, now) !== null).toBe(want));

  it("the configured window and count apply", () => {
    const s = { state: "FAILED", stateReason: "error", recoveries: [ago(100), ago(1)] };
    expect(recoveryCondition("r1", "x", s, now, { attempts: 2, windowMinutes: 120 })?.condition).toBe("recovery_escalation");
    expect(recoveryCondition("r1", "x", s, now, { attempts: 2, windowMinutes: 60 })).toBeNull();
  });

  it("a run signal raises it (critical) and its recovery resolves it, PagerDuty trigger then resolve with one dedup key", () => {
    const p1 = plan([runSig({ state: "FAILED", stateReason: "runtime_died", recoveries: [ago(30), ago(10), ago(2)] })]);
    expect(events(p1)).toEqual([
      ["trigger", "run_failed", "superloop-ops:run:r1:run_failed"],
      ["trigger", "recovery_escalation", "superloop-ops:run:r1:recovery_escalation"],
    ]);
    expect(p1.episodes.find((e) => e.condition === "recovery_escalation")!.severity).toBe("critical");
    const p2 = plan([runSig({ state: "RUNNING", stateReason: "running", recoveries: [ago(30), ago(10), ago(2)] })], openFrom(p1));
    expect(events(p2)).toEqual([
      ["resolve", "run_failed", "superloop-ops:run:r1:run_failed"],
      ["resolve", "recovery_escalation", "superloop-ops:run:r1:recovery_escalation"],
    ]);
  });

  it("a START/RESTART failing while the run is down raises it from the intent signal, once", () => {
    const down = { runState: "FAILED", runStateReason: "error", recoveries: [ago(3), ago(2), ago(1)] };
    const p = plan([intentSig("i1", "FAILED", down), intentSig("i2", "FAILED", down)]);
    expect(events(p).filter((e) => e[1] === "recovery_escalation")).toEqual([["trigger", "recovery_escalation", "superloop-ops:run:r1:recovery_escalation"]]);
  });
});

describe("intent alerts resolve when the condition clears", () => {
  it("a later intent on the run CONFIRMED resolves the open AMBIGUOUS/FAILED ones, same dedup key", () => {
    const p1 = plan([intentSig("i1", "AMBIGUOUS"), intentSig("i2", "FAILED")]);
    expect(events(p1).map((e) => e[0])).toEqual(["trigger", "trigger"]);
    const p2 = plan([intentSig("i3", "CONFIRMED")], openFrom(p1));
    expect(events(p2)).toEqual([
      ["resolve", "intent_ambiguous", "superloop-ops:intent:i1:intent_ambiguous"],
      ["resolve", "intent_failed", "superloop-ops:intent:i2:intent_failed"],
    ]);
    expect(p2.episodes.every((e) => e.resolvedAt !== null)).toBe(true);
  });

  it("the intent itself confirmed after all resolves it", () => {
    const p1 = plan([intentSig("i1", "AMBIGUOUS")]);
    expect(events(plan([intentSig("i1", "CONFIRMED")], openFrom(p1)))).toEqual([["resolve", "intent_ambiguous", "superloop-ops:intent:i1:intent_ambiguous"]]);
  });

  it("the run reaching HEALTHY (and not down) in a later transaction resolves; the same transaction does not", () => {
    const p1 = plan([intentSig("i1", "FAILED")]);
    expect(events(plan([runSig({ health: "HEALTHY", tx: "tx-i1" })], openFrom(p1)))).toEqual([]);
    expect(events(plan([runSig({ health: "DEGRADED", tx: "tx-9" })], openFrom(p1)))).toEqual([]);
    expect(events(plan([runSig({ state: "FAILED", stateReason: "error", health: "HEALTHY", tx: "tx-9" })], openFrom(p1))).map((e) => e[0])).toEqual(["trigger"]);
    expect(events(plan([runSig({ health: "HEALTHY", tx: "tx-9" })], openFrom(p1)))).toEqual([["resolve", "intent_failed", "superloop-ops:intent:i1:intent_failed"]]);
  });

  it("a purged run resolves its intent alerts", () => {
    const p1 = plan([intentSig("i1", "FAILED")]);
    const gone = planIntake(config, [{ id: "x", subject: "run", runId: "r1", spriteId: "s1", snapshot: { deleted: true }, at: now }], openFrom(p1), new Map(), new Map(), now);
    expect(gone.deliveries.filter((d) => d.sink === "pd").map((d) => d.event)).toEqual(["resolve"]);
  });

  it("an unrelated intent confirming on another run resolves nothing", () => {
    const p1 = plan([intentSig("i1", "FAILED")]);
    const other = new Map(runs).set("r2", { ...runs.get("r1")!, id: "r2" });
    const p2 = planIntake(config, [{ ...intentSig("i5", "CONFIRMED"), runId: "r2" }], openFrom(p1), other, new Map(), now);
    expect(p2.deliveries).toEqual([]);
  });
});

describe("policy_action", () => {
  const policySig = (actionId: string, extra: Record<string, unknown> = {}): Signal => ({
    id: String(++n),
    subject: "policy",
    runId: "r1",
    spriteId: null,
    snapshot: {
      actionId,
      policy: "restart-on-failure",
      action: "RESTART",
      summary: "restarted after runtime_died",
      severity: "warning",
      runId: "r1",
      spriteId: null,
      traceId: "tr-p",
      details: { attempt: 2 },
      ...extra,
    },
    at: now,
  });
  it("is announced once per action (one-shot, no resolve), with the run, the trace id and the details", () => {
    const p = plan([policySig("a1"), policySig("a2")]);
    expect(events(p)).toEqual([
      ["trigger", "policy_action", "superloop-ops:policy:a1:policy_action"],
      ["trigger", "policy_action", "superloop-ops:policy:a2:policy_action"],
    ]);
    const d = p.deliveries[0].payload;
    expect(d).toMatchObject({ traceId: "tr-p", run: { id: "r1" }, sprite: { name: "sp" }, details: { attempt: 2, policy: "restart-on-failure", action: "RESTART" } });
    expect(d.summary).toBe("sp/loop: policy restart-on-failure: restarted after runtime_died");
    expect(p.episodes.every((e) => e.resolvedAt !== null)).toBe(true);
  });
  it("an invalid snapshot is reported, not sent", () => {
    const p = plan([policySig("a3", { severity: "loud" })]);
    expect(p.deliveries).toEqual([]);
    expect(p.invalid).toHaveLength(1);
  });
});
