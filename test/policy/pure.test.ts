import { describe, expect, it } from "vitest";
import { evaluateCondition, selects, type RunView } from "../../src/policy/conditions";
import {
  autoPauseVerdict,
  canaryBucket,
  capExceeded,
  cooldownLeftMs,
  effectiveGlobalMode,
  eligibilityReasons,
  inCanary,
  retryGuarded,
  type AutoExecution,
  type EligibilityInput,
} from "../../src/policy/eligibility";
import { replayRun, type ReplayRun } from "../../src/policy/replay";
import { policyChangeSchema, policyDocSchema, ruleSchema, type Rule } from "../../src/policy/schema";

// The policy engine's pure core, table by table: conditions, selectors, each guard, the reasons, the replay.

const T0 = new Date("2026-11-30T10:00:00.000Z");
const at = (s: number) => new Date(T0.getTime() + s * 1000);

const run = (over: Partial<RunView> = {}): RunView => ({
  id: "run-1",
  loopId: "demo-loop",
  spriteName: "s1",
  spriteLabels: ["env=prod", "team"],
  transport: "LOCAL",
  state: "RUNNING",
  stateReason: "running",
  stateSince: T0,
  lastEventAt: at(10),
  healthCodes: [],
  lastIntent: null,
  ...over,
});
const rule = (over: Record<string, unknown> = {}): Rule => ruleSchema.parse({ id: "stale", condition: { type: "stale_running", forMs: 60_000 }, action: "CANCEL", ...over });

describe("conditions", () => {
  it.each([
    ["stale: not yet", { type: "stale_running", forMs: 60_000 }, run(), at(69), null],
    ["stale: from the last event", { type: "stale_running", forMs: 60_000 }, run(), at(70), `stale:${at(10).toISOString()}`],
    ["stale: RUNNING started after the last event", { type: "stale_running", forMs: 60_000 }, run({ lastEventAt: at(-100) }), at(60), `stale:${T0.toISOString()}`],
    ["stale: not RUNNING", { type: "stale_running", forMs: 0 }, run({ state: "STOPPED" }), at(500), null],
    ["state with reason", { type: "state", states: ["FAILED"], reasons: ["runtime_died"], forMs: 0 }, run({ state: "FAILED", stateReason: "runtime_died" }), at(1), `state:${T0.toISOString()}`],
    ["state, other reason", { type: "state", states: ["FAILED"], reasons: ["runtime_died"] }, run({ state: "FAILED", stateReason: "killed" }), at(1), null],
    ["awaiting approval long enough", { type: "awaiting_approval", forMs: 30_000 }, run({ state: "AWAITING_APPROVAL", stateReason: "awaiting_approval" }), at(30), `state:${T0.toISOString()}`],
    ["usage-limit wait too short", { type: "usage_limit_wait", forMs: 30_000 }, run({ stateReason: "waiting_usage_limit" }), at(29), null],
    ["sprite missing", { type: "sprite_missing" }, run({ state: "UNKNOWN", stateReason: "sprite_missing" }), at(0), `state:${T0.toISOString()}`],
    ["intent ambiguous", { type: "intent_ambiguous", kinds: ["CANCEL"] }, run({ lastIntent: { id: "i1", kind: "CANCEL", stage: "AMBIGUOUS", endedAt: at(5) } }), at(6), "intent:i1"],
    ["intent ambiguous, other kind", { type: "intent_ambiguous", kinds: ["START"] }, run({ lastIntent: { id: "i1", kind: "CANCEL", stage: "AMBIGUOUS", endedAt: at(5) } }), at(6), null],
    ["health reason", { type: "health_reason", codes: ["ingest_stale"] }, run({ healthCodes: ["ingest_stale"] }), at(0), `health:ingest_stale:${T0.toISOString()}`],
  ])("%s", (_name, condition, view, now, key) => {
    const hit = evaluateCondition(ruleSchema.parse({ id: "r", condition, action: "ALERT" }).condition, view, now);
    expect(hit?.episodeKey ?? null).toBe(key);
  });

  it.each([
    [{}, true],
    [{ sprites: ["s2"] }, false],
    [{ labels: ["env=prod"] }, true],
    [{ labels: ["team"] }, true],
    [{ labels: ["env=dev"] }, false],
    [{ transports: ["SPRITES_API"] }, false],
    [{ loops: ["demo-loop"], sprites: ["s1"] }, true],
  ])("selector %j → %s", (selector, expected) => {
    expect(selects(ruleSchema.parse({ id: "r", condition: { type: "sprite_missing" }, action: "ALERT", selector }).selector, run())).toBe(expected);
  });

  it("APPROVE is refused as an action; a change needs a rationale", () => {
    expect(ruleSchema.safeParse({ id: "r", condition: { type: "sprite_missing" }, action: "APPROVE" }).success).toBe(false);
    expect(policyChangeSchema.safeParse({ rationale: "", reviewBy: "2027-01-01", policy: {} }).success).toBe(false);
    expect(policyDocSchema.safeParse({ rules: [rule(), rule()] }).success).toBe(false);
  });
});

describe("guards", () => {
  const doc = policyDocSchema.parse({ mode: "guarded_auto", allowlist: { actions: ["CANCEL"] }, limits: { windowMs: 3600_000, maxPerRun: 2, maxPerSprite: 3, maxTotal: 4, cooldownMs: 600_000 } });
  const ex = (runId: string, sprite: string, s: number, ruleId = "stale"): AutoExecution => ({ ruleId, runId, spriteName: sprite, at: at(s) });

  it.each([
    ["none", [], null],
    ["per run", [ex("run-1", "s1", -10), ex("run-1", "s1", -20)], "per run: 2 of 2 in 3600 s"],
    ["per Sprite", [ex("a", "s1", -10), ex("b", "s1", -20), ex("c", "s1", -30)], "per Sprite s1: 3 of 3 in 3600 s"],
    ["fleet", [ex("a", "x", -1), ex("b", "y", -2), ex("c", "z", -3), ex("d", "w", -4)], "fleet: 4 of 4 in 3600 s"],
    ["outside the window", [ex("run-1", "s1", -3601), ex("run-1", "s1", -4000)], null],
  ])("caps: %s", (_n, recent, expected) => {
    expect(capExceeded(doc, "run-1", "s1", recent, T0)).toBe(expected);
  });

  it.each([
    [[ex("run-1", "s1", -100)], 500_000],
    [[ex("run-1", "s1", -700)], 0],
    [[ex("run-2", "s1", -100)], 0],
    [[ex("run-1", "s1", -100, "other")], 0],
  ])("cooldown %#", (recent, left) => {
    expect(cooldownLeftMs(rule(), doc, "run-1", recent, T0)).toBe(left);
  });

  it("canary: deterministic per salt and run, and about the right share", () => {
    expect(canaryBucket("salt", "run-1")).toBe(canaryBucket("salt", "run-1"));
    expect(canaryBucket("salt", "run-1")).not.toBe(canaryBucket("pepper", "run-1"));
    const ids = Array.from({ length: 2000 }, (_, i) => `run-${i}`);
    const share = ids.filter((id) => inCanary(25, "s", id)).length / ids.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.3);
    expect(ids.every((id) => inCanary(100, "s", id))).toBe(true);
    expect(ids.some((id) => inCanary(0, "s", id))).toBe(false);
  });

  it.each([
    [["AMBIGUOUS", "AMBIGUOUS"], { lastN: 3, maxBadShare: 1 }, false],
    [["AMBIGUOUS", "AMBIGUOUS", "AMBIGUOUS"], { lastN: 3, maxBadShare: 1 }, true],
    [["AMBIGUOUS", "FAILED", "CONFIRMED"], { lastN: 3, maxBadShare: 0.6 }, true],
    [["AMBIGUOUS", "CONFIRMED", "CONFIRMED"], { lastN: 3, maxBadShare: 0.5 }, false],
    [["REQUESTED", "AMBIGUOUS", "AMBIGUOUS"], { lastN: 3, maxBadShare: 1 }, false],
    [["CONFIRMED", "CONFIRMED", "CONFIRMED", "AMBIGUOUS", "AMBIGUOUS"], { lastN: 3, maxBadShare: 0.1 }, false],
  ])("auto-pause %j %j → %s", (outcomes, cfg, pause) => {
    expect(autoPauseVerdict(outcomes, cfg).pause).toBe(pause);
  });

  it.each([
    [[], false],
    [[{ auto: true, stage: "AMBIGUOUS" }], true],
    [
      [
        { auto: false, stage: "CONFIRMED" },
        { auto: true, stage: "AMBIGUOUS" },
      ],
      false,
    ],
    [[{ auto: false, stage: "AMBIGUOUS" }], false],
  ])("retry guard %j → %s", (intents, guarded) => {
    expect(retryGuarded(intents)).toBe(guarded);
  });

  it("an expired review turns guarded_auto into advisory", () => {
    expect(effectiveGlobalMode(doc, at(-1), T0)).toEqual({ mode: "advisory", reviewExpired: true });
    expect(effectiveGlobalMode(doc, at(1), T0)).toEqual({ mode: "guarded_auto", reviewExpired: false });
  });
});

describe("eligibility reasons", () => {
  const base = (over: Partial<EligibilityInput> = {}): EligibilityInput => ({
    doc: policyDocSchema.parse({ mode: "guarded_auto", allowlist: { actions: ["CANCEL"] } }),
    reviewBy: at(3600),
    switches: { killSwitch: false, killSwitchSource: null, paused: null, pausedReason: null },
    rule: rule({ mode: "guarded_auto" }),
    severity: "warning",
    runId: "run-1",
    spriteName: "s1",
    suppressed: null,
    recent: [],
    runIntents: [],
    now: T0,
    ...over,
  });
  const codes = (over: Partial<EligibilityInput>) => eligibilityReasons(base(over)).map((r) => r.code);

  it.each([
    ["eligible", {}, []],
    ["advisory rule", { rule: rule({ mode: "advisory" }) }, ["mode_advisory"]],
    ["advisory global", { doc: policyDocSchema.parse({ mode: "advisory", allowlist: { actions: ["CANCEL"] } }) }, ["mode_advisory"]],
    ["review expired", { reviewBy: at(-1) }, ["review_expired"]],
    ["kill switch", { switches: { killSwitch: true, killSwitchSource: "env", paused: null, pausedReason: null } }, ["kill_switch"]],
    ["paused auto", { switches: { killSwitch: false, killSwitchSource: null, paused: "auto" as const, pausedReason: "x" } }, ["paused_auto"]],
    ["paused manual", { switches: { killSwitch: false, killSwitchSource: null, paused: "manual" as const, pausedReason: null } }, ["paused_manual"]],
    ["not allowlisted", { rule: rule({ mode: "guarded_auto", action: "RESTART" }) }, ["not_allowlisted"]],
    ["below threshold", { severity: "info" as const }, ["below_threshold"]],
    ["canary excluded", { doc: policyDocSchema.parse({ mode: "guarded_auto", allowlist: { actions: ["CANCEL"] }, canary: { percent: 0, salt: "x" } }) }, ["canary_excluded"]],
    ["cooldown and cap", { recent: [{ ruleId: "stale", runId: "run-1", spriteName: "s1", at: at(-5) }] }, ["cooldown_active", "cap_exceeded"]],
    ["retry guard", { runIntents: [{ auto: true, stage: "AMBIGUOUS" }] }, ["retry_guard"]],
    ["in flight", { runIntents: [{ auto: false, stage: "ACCEPTED" }] }, ["intent_in_flight"]],
    ["suppressed", { suppressed: { by: "alice", until: null } }, ["suppressed"]],
  ])("%s", (_n, over, expected) => {
    expect(codes(over as Partial<EligibilityInput>)).toEqual(expected);
  });
});

describe("replay", () => {
  const r: ReplayRun = {
    id: "run-1",
    loopId: "demo-loop",
    spriteName: "s1",
    spriteLabels: [],
    transport: "LOCAL",
    transitions: [
      { at: at(0), to: "RUNNING", reason: "running", trigger: "ingest" },
      { at: at(50), to: "RUNNING", reason: "running", trigger: "control_mode" },
      { at: at(200), to: "STOPPED", reason: "cancelled", trigger: "ingest" },
      { at: at(300), to: "RUNNING", reason: "running", trigger: "ingest" },
      { at: at(320), to: "COMPLETE", reason: "completed", trigger: "ingest" },
    ],
    events: [
      { ingestedAt: at(0), timestamp: at(-1) },
      { ingestedAt: at(20), timestamp: at(19) },
      { ingestedAt: at(300), timestamp: at(299) },
    ],
    intents: [],
  };
  it("finds each stale episode once, keyed like the live engine", () => {
    const out = replayRun([rule({ condition: { type: "stale_running", forMs: 60_000 } })], r, at(-10), at(1000));
    expect(out.map((c) => [c.episodeKey, c.at.toISOString()])).toEqual([[`stale:${at(19).toISOString()}`, at(79).toISOString()]]);
  });
  it("respects the window", () => {
    expect(replayRun([rule()], r, at(200), at(1000))).toEqual([]);
  });
});
