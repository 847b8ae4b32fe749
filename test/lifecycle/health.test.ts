import { describe, expect, it } from "vitest";
import { projectHealth, rollUpHealth, type Health, type HealthInput, type HealthReason } from "../../src/lifecycle/health";
import { HEALTH_PROFILES, isHealthProfile, resolveThresholds, type HealthProfile } from "../../src/lifecycle/thresholds";

const NOW = new Date("2026-11-24T12:00:00.000Z");
const NO_DIVERGENCE = { activeMismatch: null, approvalCompletionConflict: null, cursorRegression: null };

function secondsAgo(seconds: number): string {
  return new Date(NOW.getTime() - seconds * 1000).toISOString();
}

function input(patch: Partial<HealthInput> = {}, profile: HealthProfile = "balanced"): HealthInput {
  return {
    now: NOW,
    state: "RUNNING",
    lastEventAt: secondsAgo(10),
    heartbeatAt: null,
    transport: { failureStreak: 0, failingSince: null },
    ingest: { status: "OK", error: null },
    divergence: NO_DIVERGENCE,
    lastIntent: null,
    spriteStatus: "WARM",
    thresholds: resolveThresholds(profile),
    ...patch,
  };
}

function codes(health: Health): string[] {
  return health.reasons.map((reason) => `${reason.code}:${reason.severity}`);
}

describe("threshold profiles", () => {
  it.each([
    ["strict", 120, 300, 1, 2],
    ["balanced", 300, 900, 2, 4],
    ["relaxed", 600, 1800, 3, 6],
  ] as const)("%s → lag %i/%i s, transport %i/%i", (profile, warn, crit, tWarn, tCrit) => {
    expect(resolveThresholds(profile)).toEqual({
      ingestLagWarningSec: warn,
      ingestLagCriticalSec: crit,
      transportFailureWarning: tWarn,
      transportFailureCritical: tCrit,
    });
  });

  it("explicit overrides win over the profile", () => {
    expect(resolveThresholds("strict", { ingestLagCriticalSec: 1000, transportFailureCritical: 9 })).toEqual({
      ingestLagWarningSec: 120,
      ingestLagCriticalSec: 1000,
      transportFailureWarning: 1,
      transportFailureCritical: 9,
    });
  });

  it.each([
    [{ ingestLagWarningSec: 0 }],
    [{ ingestLagWarningSec: -5 }],
    [{ transportFailureWarning: Number.NaN }],
    [{ ingestLagWarningSec: 1000 }], // above balanced critical 900
    [{ transportFailureWarning: 5 }], // above balanced critical 4
  ])("rejects %j", (overrides) => {
    expect(() => resolveThresholds("balanced", overrides)).toThrow(RangeError);
  });

  it("does not let callers mutate the profiles", () => {
    const resolved = resolveThresholds("strict");
    resolved.ingestLagWarningSec = 1;
    expect(HEALTH_PROFILES.strict.ingestLagWarningSec).toBe(120);
  });

  it.each([
    ["strict", true],
    ["balanced", true],
    ["relaxed", true],
    ["lenient", false],
    ["toString", false],
  ] as const)("isHealthProfile(%s) → %s", (name, ok) => expect(isHealthProfile(name)).toBe(ok));
});

describe("ingest_stale per profile", () => {
  const rows: readonly [HealthProfile, number, string[]][] = [
    ["strict", 100, []],
    ["strict", 121, ["ingest_stale:warning"]],
    ["strict", 301, ["ingest_stale:critical"]],
    ["balanced", 299, []],
    ["balanced", 301, ["ingest_stale:warning"]],
    ["balanced", 901, ["ingest_stale:critical"]],
    ["relaxed", 599, []],
    ["relaxed", 601, ["ingest_stale:warning"]],
    ["relaxed", 1801, ["ingest_stale:critical"]],
  ];
  it.each(rows)("%s, last event %i s ago → %j", (profile, age, expected) => {
    expect(codes(projectHealth(input({ lastEventAt: secondsAgo(age) }, profile)))).toEqual(expected);
  });

  it.each(["AWAITING_APPROVAL", "COMPLETE", "IDLE", "PAUSED", "STOPPED", "FAILED"] as const)("%s runs are never ingest-stale", (state) => {
    expect(projectHealth(input({ state, lastEventAt: secondsAgo(100_000) })).reasons).toEqual([]);
  });

  it("a RUNNING run without events is measured from stateSince", () => {
    expect(codes(projectHealth(input({ lastEventAt: null, stateSince: secondsAgo(400) })))).toEqual(["ingest_stale:warning"]);
    expect(projectHealth(input({ lastEventAt: null })).reasons).toEqual([]);
  });

  it("since is the moment the age crossed the warning line", () => {
    const [reason] = projectHealth(input({ lastEventAt: "2026-11-24T11:50:00.000Z" })).reasons;
    expect(reason?.since).toBe("2026-11-24T11:55:00.000Z");
  });
});

describe("runtime_heartbeat_stale", () => {
  it.each([
    [100, "RUNNING", []],
    [400, "RUNNING", ["runtime_heartbeat_stale:warning"]],
    [1000, "RUNNING", ["runtime_heartbeat_stale:critical"]],
    [1000, "COMPLETE", []],
  ] as const)("heartbeat %i s old, %s → %j", (age, state, expected) => {
    expect(codes(projectHealth(input({ state, heartbeatAt: secondsAgo(age) })))).toEqual(expected);
  });
});

describe("transport_unreachable per profile", () => {
  const rows: readonly [HealthProfile, number, string[]][] = [
    ["strict", 0, []],
    ["strict", 1, ["transport_unreachable:warning"]],
    ["strict", 2, ["transport_unreachable:critical"]],
    ["balanced", 1, []],
    ["balanced", 2, ["transport_unreachable:warning"]],
    ["balanced", 3, ["transport_unreachable:warning"]],
    ["balanced", 4, ["transport_unreachable:critical"]],
    ["relaxed", 2, []],
    ["relaxed", 3, ["transport_unreachable:warning"]],
    ["relaxed", 6, ["transport_unreachable:critical"]],
  ];
  it.each(rows)("%s, streak %i → %j", (profile, streak, expected) => {
    const health = projectHealth(input({ transport: { failureStreak: streak, failingSince: "2026-11-24T11:58:00.000Z" } }, profile));
    expect(codes(health)).toEqual(expected);
    if (expected.length > 0) expect(health.reasons[0]?.since).toBe("2026-11-24T11:58:00.000Z");
  });
});

describe("other reason codes and status", () => {
  const rows: readonly { name: string; patch: Partial<HealthInput>; status: Health["status"]; codes: string[] }[] = [
    { name: "all fine", patch: {}, status: "HEALTHY", codes: [] },
    { name: "ingest error", patch: { ingest: { status: "ERROR", error: "line 7: not JSON" } }, status: "CRITICAL", codes: ["invalid_payload:critical"] },
    { name: "cursor fork", patch: { ingest: { status: "FORKED", error: "rewritten" } }, status: "CRITICAL", codes: ["cursor_fork:critical"] },
    { name: "sprite missing", patch: { spriteStatus: "MISSING" }, status: "CRITICAL", codes: ["sprite_missing:critical"] },
    { name: "sprite cold is fine", patch: { spriteStatus: "COLD" }, status: "HEALTHY", codes: [] },
    { name: "divergence", patch: { divergence: { ...NO_DIVERGENCE, activeMismatch: { evidence: {} } } }, status: "DEGRADED", codes: ["divergence_detected:warning"] },
    { name: "ambiguous intent", patch: { lastIntent: { kind: "CANCEL", stage: "AMBIGUOUS", at: "2026-11-24T11:59:00.000Z" } }, status: "DEGRADED", codes: ["control_ambiguous:warning"] },
    { name: "failed intent", patch: { lastIntent: { kind: "START", stage: "FAILED", at: "2026-11-24T11:59:00.000Z", error: "exit 2" } }, status: "DEGRADED", codes: ["control_failed:warning"] },
    { name: "confirmed intent", patch: { lastIntent: { kind: "START", stage: "CONFIRMED", at: "2026-11-24T11:59:00.000Z" } }, status: "HEALTHY", codes: [] },
    {
      name: "critical first, then warnings in catalog order",
      patch: {
        lastEventAt: secondsAgo(400),
        divergence: { ...NO_DIVERGENCE, cursorRegression: { evidence: {} } },
        ingest: { status: "FORKED", error: null },
        transport: { failureStreak: 2, failingSince: null },
      },
      status: "CRITICAL",
      codes: ["cursor_fork:critical", "transport_unreachable:warning", "ingest_stale:warning", "divergence_detected:warning"],
    },
  ];
  it.each(rows)("$name → $status", (row) => {
    const health = projectHealth(input(row.patch));
    expect(health.status).toBe(row.status);
    expect(codes(health)).toEqual(row.codes);
  });

  it("an intent-derived reason starts at the intent's time; others default to now", () => {
    const health = projectHealth(input({ spriteStatus: "MISSING", lastIntent: { kind: "CANCEL", stage: "AMBIGUOUS", at: "2026-11-24T11:00:00.000Z" } }));
    expect(health.reasons.map((r) => [r.code, r.since])).toEqual([
      ["sprite_missing", NOW.toISOString()],
      ["control_ambiguous", "2026-11-24T11:00:00.000Z"],
    ]);
  });

  it("an unchanged reason keeps its original since, even when its severity escalates", () => {
    const previous: HealthReason[] = [
      { code: "sprite_missing", severity: "critical", since: "2026-11-24T09:00:00.000Z", message: "old" },
      { code: "ingest_stale", severity: "warning", since: "2026-11-24T10:00:00.000Z", message: "old" },
    ];
    const health = projectHealth(input({ spriteStatus: "MISSING", lastEventAt: secondsAgo(2000), previousReasons: previous }));
    expect(health.reasons.map((r) => [r.code, r.severity, r.since])).toEqual([
      ["sprite_missing", "critical", "2026-11-24T09:00:00.000Z"],
      ["ingest_stale", "critical", "2026-11-24T10:00:00.000Z"],
    ]);
  });

  it("a reason that went away and came back starts again", () => {
    const previous: HealthReason[] = [{ code: "transport_unreachable", severity: "warning", since: "2026-11-24T09:00:00.000Z", message: "old" }];
    expect(projectHealth(input({ previousReasons: previous })).reasons).toEqual([]);
  });
});

describe("rollUpHealth", () => {
  const warn = (code: HealthReason["code"], since: string): HealthReason => ({ code, severity: "warning", since, message: code });
  const crit = (code: HealthReason["code"], since: string): HealthReason => ({ code, severity: "critical", since, message: `${code}!` });
  it.each([
    { name: "no runs", healths: [], status: "HEALTHY", reasons: [] },
    { name: "all healthy", healths: [{ status: "HEALTHY", reasons: [] }], status: "HEALTHY", reasons: [] },
    {
      name: "worst severity and earliest since per code",
      healths: [
        { status: "DEGRADED", reasons: [warn("ingest_stale", "2026-11-24T10:00:00.000Z")] },
        { status: "CRITICAL", reasons: [crit("ingest_stale", "2026-11-24T11:00:00.000Z")] },
      ],
      status: "CRITICAL",
      reasons: [{ code: "ingest_stale", severity: "critical", since: "2026-11-24T10:00:00.000Z", message: "ingest_stale! (2 runs)" }],
    },
    {
      name: "different codes are kept, critical first",
      healths: [
        { status: "DEGRADED", reasons: [warn("control_failed", "2026-11-24T10:00:00.000Z")] },
        { status: "CRITICAL", reasons: [crit("cursor_fork", "2026-11-24T11:00:00.000Z")] },
      ],
      status: "CRITICAL",
      reasons: [crit("cursor_fork", "2026-11-24T11:00:00.000Z"), warn("control_failed", "2026-11-24T10:00:00.000Z")],
    },
  ] as { name: string; healths: Health[]; status: Health["status"]; reasons: HealthReason[] }[])("$name", (row) => {
    expect(rollUpHealth(row.healths)).toEqual({ status: row.status, reasons: row.reasons });
  });
});
