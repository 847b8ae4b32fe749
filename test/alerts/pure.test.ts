import { describe, expect, it } from "vitest";
import { alertsConfigSchema, missingSecrets, parseAlertsConfig } from "../../src/alerts/config";
import { intentConditions, reconcile, runConditions, spriteConditions, type RunSnapshot } from "../../src/alerts/conditions";
import { planIntake, type EpisodeRow, type RunInfo } from "../../src/alerts/intake";
import { buildRequest, signature, type AlertMessage } from "../../src/alerts/messages";
import { backoffMs, classify, parseRetryAfter } from "../../src/alerts/retry";
import { globMatch, quietUntil, route } from "../../src/alerts/routing";

// The pure core of alerting: condition detection, reconciliation with open episodes, routing, retry policy,
// sink payloads. Table tests.

const base: RunSnapshot = { state: "RUNNING", stateReason: "running", health: "HEALTHY", reasons: [], ingestStatus: "OK", ingestError: null, removed: false };
const conds = (s: Partial<RunSnapshot>) => runConditions("r1", "sp/loop", { ...base, ...s }).map((c) => [c.condition, c.severity]);

describe("run conditions", () => {
  it.each([
    ["healthy running", {}, []],
    ["awaiting approval", { state: "AWAITING_APPROVAL" }, [["awaiting_approval", "warning"]]],
    ["failed", { state: "FAILED", stateReason: "runtime_died" }, [["run_failed", "critical"]]],
    ["stopped", { state: "STOPPED", stateReason: "max_iterations" }, [["run_stopped", "warning"]]],
    [
      "stale (warning)",
      { health: "DEGRADED", reasons: [{ code: "ingest_stale", severity: "warning" }] },
      [
        ["run_stale", "warning"],
        ["health_degraded", "info"],
      ],
    ],
    [
      "stale (critical)",
      { health: "CRITICAL", reasons: [{ code: "runtime_heartbeat_stale", severity: "critical" }] },
      [
        ["run_stale", "critical"],
        ["health_critical", "info"],
      ],
    ],
    ["cursor fork", { ingestStatus: "FORKED" }, [["cursor_fork", "critical"]]],
    ["ingest error", { ingestStatus: "ERROR", ingestError: "invalid_payload: bad line" }, [["ingest_error", "critical"]]],
    ["transport", { reasons: [{ code: "transport_unreachable", severity: "warning" }] }, [["transport_unreachable", "warning"]]],
    ["divergence", { reasons: [{ code: "divergence_detected", severity: "warning" }] }, [["divergence_detected", "warning"]]],
    ["removed run raises nothing", { state: "FAILED", removed: true }, []],
  ] as const)("%s", (_n, s, want) => expect(conds(s as Partial<RunSnapshot>)).toEqual(want));

  it("keys are stable per run and condition", () => {
    expect(runConditions("r1", "x", { ...base, state: "FAILED" })[0].key).toBe("run:r1:run_failed");
  });
});

describe("intent and sprite conditions", () => {
  const intent = { intentId: "i1", kind: "CANCEL", error: null, traceId: "t", requestedBy: "ops" };
  it.each([
    ["AMBIGUOUS", [["intent_ambiguous", undefined]]],
    ["FAILED", [["intent_failed", undefined]]],
    ["CONFIRMED", []],
  ] as const)("intent %s", (stage, want) => expect(intentConditions("r1", "x", { ...intent, stage }).map((c) => [c.condition, c.oneShot])).toEqual(want));
  it.each([
    ["MISSING", false, ["sprite_missing"]],
    ["UNREACHABLE", false, ["sprite_unreachable"]],
    ["RUNNING", false, []],
    ["MISSING", true, []],
  ] as const)("sprite %s removed=%s", (status, removed, want) => expect(spriteConditions("s1", { name: "a", status, removed }).map((c) => c.condition)).toEqual(want));
});

describe("reconcile", () => {
  const c = (key: string, severity: "warning" | "critical" = "warning") => ({ key, condition: "run_failed" as const, severity, summary: "", details: {} });
  it.each([
    ["new condition raises", [], [c("run:a:x")], { raise: ["run:a:x"], escalate: [], resolve: [] }],
    ["persisting condition is quiet", [{ key: "run:a:x", severity: "warning" as const }], [c("run:a:x")], { raise: [], escalate: [], resolve: [] }],
    ["worse severity escalates", [{ key: "run:a:x", severity: "warning" as const }], [c("run:a:x", "critical")], { raise: [], escalate: ["run:a:x"], resolve: [] }],
    ["milder severity is quiet", [{ key: "run:a:x", severity: "critical" as const }], [c("run:a:x", "warning")], { raise: [], escalate: [], resolve: [] }],
    ["cleared condition resolves", [{ key: "run:a:x", severity: "warning" as const }], [], { raise: [], escalate: [], resolve: ["run:a:x"] }],
    ["one-shot never resolves", [{ key: "policy:a1:policy_action", severity: "warning" as const }], [], { raise: [], escalate: [], resolve: [] }],
  ])("%s", (_n, open, active, want) => {
    const r = reconcile(open, active);
    expect({ raise: r.raise.map((x) => x.key), escalate: r.escalate.map((x) => x.key), resolve: r.resolve }).toEqual(want);
  });
});

const config = alertsConfigSchema.parse({
  defaultMinSeverity: "warning",
  sinks: {
    hook: { type: "webhook", url: "http://x/hook" },
    pd: { type: "pagerduty", routingKeyEnv: "PD_KEY" },
    off: { type: "slack", webhookUrl: "http://x/slack", enabled: false },
  },
  routing: {
    defaultSinks: ["hook"],
    categorySeverity: { health_critical: "critical" },
    routes: [
      { category: "run_failed", sinks: ["pd", "off"], minSeverity: "critical", sprites: ["prod-*"], reminderMinutes: 30 },
      { category: ["awaiting_approval"], sinks: ["pd"], labels: { team: "a" }, quietHours: { start: "22:00", end: "07:00" } },
    ],
  },
});

describe("routing", () => {
  const at = new Date("2026-11-30T12:00:00Z");
  const ctx = (condition: string, severity: string, spriteName: string | null = "dev-1", labels: Record<string, string> = {}) => ({ condition, severity, spriteName, labels }) as never;
  it.each([
    ["route by category + sprite glob (disabled sinks skipped)", ctx("run_failed", "critical", "prod-7"), [["pd", 1_800_000]]],
    ["sprite not selected: default sinks", ctx("run_failed", "critical", "dev-1"), [["hook", 0]]],
    ["below defaultMinSeverity: nothing", ctx("health_degraded", "info"), []],
    ["label selector matches", ctx("awaiting_approval", "warning", "x", { team: "a" }), [["pd", 0]]],
    ["label selector misses: default sinks", ctx("awaiting_approval", "warning", "x", { team: "b" }), [["hook", 0]]],
  ])("%s", (_n, c, want) => expect(route(config, c, at).map((r) => [r.sink, r.reminderMs])).toEqual(want));

  it("quiet hours defer (to the window's end) instead of dropping; critical goes through", () => {
    const night = new Date("2026-11-30T23:30:00Z");
    expect(route(config, ctx("awaiting_approval", "warning", "x", { team: "a" }), night)[0].notBefore).toEqual(new Date("2026-12-01T07:00:00Z"));
    expect(quietUntil(night, config.routing.routes[1].quietHours, "critical")).toBeNull();
  });
  it.each([
    ["22:00", "07:00", "2026-11-30T06:59:00Z", "2026-11-30T07:00:00Z"],
    ["22:00", "07:00", "2026-11-30T07:00:00Z", null],
    ["09:00", "17:00", "2026-11-30T12:30:00Z", "2026-11-30T17:00:00Z"],
    ["09:00", "17:00", "2026-11-30T08:59:00Z", null],
  ])("quiet %s-%s at %s → %s", (start, end, now, want) =>
    expect(quietUntil(new Date(now), { start, end, timezone: "UTC", allowSeverity: "critical" }, "warning")?.toISOString() ?? null).toBe(want ? new Date(want).toISOString() : null),
  );
  it("quiet hours follow the configured time zone", () => {
    // 21:30 UTC is 22:30 in Berlin (CET): inside 22:00-07:00 there, ending 06:00 UTC.
    expect(quietUntil(new Date("2026-11-30T21:30:00Z"), { start: "22:00", end: "07:00", timezone: "Europe/Berlin", allowSeverity: "critical" }, "warning")?.toISOString()).toBe(
      "2026-12-01T06:00:00.000Z",
    );
  });
  it.each([
    ["prod-*", "prod-1", true],
    ["prod-*", "dev-1", false],
    ["a.b", "axb", false],
    ["*", "anything", true],
  ])("glob %s ~ %s = %s", (g, v, want) => expect(globMatch(g, v)).toBe(want));
});

describe("config validation", () => {
  it("names the unset secret variable of an enabled sink, ignores disabled ones", () => {
    expect(missingSecrets(config, {})).toEqual([{ path: "alerts.sinks.pd.routingKeyEnv", message: "environment variable PD_KEY is not set (sink pd is enabled)" }]);
    expect(missingSecrets(config, { PD_KEY: "k" })).toEqual([]);
  });
  it("refuses variable names the secret-name policy forbids (they would be sent to the sink's URL)", () => {
    const policy = { refuse: (n: string) => (n.startsWith("OPS_SECRET_") ? null : `${n} does not start with an allowed prefix`) };
    const c = alertsConfigSchema.parse({ sinks: { a: { type: "webhook", url: "http://x/", authTokenEnv: "OPS_TOKENS", enabled: false }, b: { type: "pagerduty", routingKeyEnv: "OPS_SECRET_PD" } } });
    expect(missingSecrets(c, { OPS_SECRET_PD: "k" }, "alerts", policy)).toEqual([{ path: "alerts.sinks.a.authTokenEnv", message: "OPS_TOKENS does not start with an allowed prefix" }]);
  });
  it("accepts the bash manager's sinks file shape", () => {
    const legacy = {
      schemaVersion: "v1",
      defaultMinSeverity: "warning",
      sinks: {
        "webhook-default": { enabled: false, type: "webhook", urlEnv: "U", authTokenEnv: "T", timeoutSeconds: 5, headers: { "Content-Type": "application/json" } },
        "slack-default": { enabled: false, type: "slack", webhookUrlEnv: "S", channel: "#ops-alerts", username: "ops-manager", iconEmoji: ":rotating_light:", timeoutSeconds: 5 },
        "pagerduty-default": { enabled: false, type: "pagerduty_events", routingKeyEnv: "P", source: "s", component: "c", group: "g", class: "escalation", timeoutSeconds: 5 },
      },
      routing: {
        defaultSinks: ["webhook-default"],
        categorySeverity: { divergence_detected: "warning", health_degraded: "warning", health_critical: "critical" },
        routes: [{ category: "health_critical", sinks: ["pagerduty-default", "slack-default"], minSeverity: "critical", enabled: true }],
      },
    };
    expect(parseAlertsConfig(legacy, {}).ok).toBe(true);
  });
  it.each([
    [{ sinks: { a: { type: "webhook" } } }, "alerts.sinks.a.url"],
    [{ sinks: {}, routing: { defaultSinks: ["nope"] } }, "alerts.routing.defaultSinks[0]"],
    [{ sinks: { a: { type: "webhook", url: "http://x", tokenValue: "secret" } } }, "alerts.sinks.a"],
  ])("rejects %j at %s", (raw, path) => {
    const r = parseAlertsConfig(raw, {});
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.path)).toContain(path);
  });
});

describe("retry policy", () => {
  const now = new Date("2026-11-30T12:00:00Z");
  it.each([
    [200, null, { kind: "delivered" }],
    [202, null, { kind: "delivered" }],
    [null, null, { kind: "retry", retryAfterMs: null }],
    [408, null, { kind: "retry", retryAfterMs: null }],
    [429, "7", { kind: "retry", retryAfterMs: 7000 }],
    [503, "Mon, 30 Nov 2026 12:00:30 GMT", { kind: "retry", retryAfterMs: 30_000 }],
    [500, "soon", { kind: "retry", retryAfterMs: null }],
    [400, null, { kind: "dead" }],
    [404, null, { kind: "dead" }],
  ])("HTTP %s (Retry-After %s)", (status, ra, want) => expect(classify(status, ra, now)).toEqual(want));
  it("backs off exponentially with jitter, capped; Retry-After wins when longer", () => {
    expect([1, 2, 3, 4, 10].map((n) => backoffMs(n, 1000, 10_000, null, () => 0))).toEqual([500, 1000, 2000, 4000, 5000]);
    expect([1, 2, 3].map((n) => backoffMs(n, 1000, 10_000, null, () => 1))).toEqual([1000, 2000, 4000]);
    expect(backoffMs(1, 1000, 10_000, 30_000, () => 0)).toBe(30_000);
    expect(backoffMs(1, 1000, 10_000, 10, () => 0)).toBe(500);
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

describe("sink payloads", () => {
  const m: AlertMessage = {
    version: 1,
    deliveryId: "d1",
    event: "trigger",
    dedupKey: "superloop-ops:run:r1:run_failed",
    condition: "run_failed",
    severity: "critical",
    summary: "sp/loop: run failed",
    traceId: "0af7651916cd43dd8448eb211c80319c",
    at: "2026-11-30T12:00:00.000Z",
    openedAt: "2026-11-30T12:00:00.000Z",
    run: { id: "r1", loopId: "loop", repoPath: "/r" },
    sprite: { id: "s1", name: "sp" },
    details: {},
  };
  it("webhook: signed body, bearer token, trace and idempotency headers", () => {
    const r = buildRequest({ type: "webhook", enabled: true, url: "http://x/h", authTokenEnv: "T", signingSecretEnv: "S" }, m, { T: "tok", S: "sec" }, 1_800_000_000);
    expect(r.headers).toMatchObject({ authorization: "Bearer tok", "x-superloop-timestamp": "1800000000", "x-trace-id": m.traceId, "idempotency-key": "d1" });
    expect(r.headers["x-superloop-signature"]).toBe(signature("sec", 1_800_000_000, r.body));
    expect(signature("sec", 1_800_000_001, r.body)).not.toBe(r.headers["x-superloop-signature"]);
    expect(JSON.parse(r.body)).toEqual(m);
  });
  it("webhook url from an env var; a missing secret throws naming it", () => {
    expect(buildRequest({ type: "webhook", enabled: true, urlEnv: "U" }, m, { U: "http://u/" }, 0).url).toBe("http://u/");
    expect(() => buildRequest({ type: "webhook", enabled: true, urlEnv: "U" }, m, {}, 0)).toThrow(/U is not set/);
  });
  it("pagerduty: trigger with payload, resolve with the same dedup_key only", () => {
    const sink = { type: "pagerduty" as const, enabled: true, routingKeyEnv: "K", url: "http://pd/", source: "src" };
    expect(JSON.parse(buildRequest(sink, m, { K: "k" }, 0).body)).toMatchObject({
      routing_key: "k",
      event_action: "trigger",
      dedup_key: m.dedupKey,
      payload: { severity: "critical", source: "src", class: "run_failed" },
    });
    expect(JSON.parse(buildRequest(sink, { ...m, event: "resolve" }, { K: "k" }, 0).body)).toEqual({ routing_key: "k", event_action: "resolve", dedup_key: m.dedupKey });
  });
  it("slack: text and blocks", () => {
    const body = JSON.parse(buildRequest({ type: "slack", enabled: true, webhookUrl: "http://s/", channel: "#c" }, m, {}, 0).body);
    expect(body.text).toContain("[CRITICAL] sp/loop: run failed");
    expect(body.blocks.map((b: { type: string }) => b.type)).toEqual(["section", "section", "context"]);
    expect(body.channel).toBe("#c");
  });
});

describe("intake plan", () => {
  const runs = new Map<string, RunInfo>([["r1", { id: "r1", loopId: "loop", repoPath: "/r", spriteId: "s1", spriteName: "sp", labels: {} }]]);
  const sig = (id: string, state: string) => ({ id, subject: "run" as const, runId: "r1", spriteId: "s1", snapshot: { ...base, state }, at: new Date("2026-11-30T12:00:00Z") });
  const now = new Date("2026-11-30T12:00:01Z");
  it("a condition that comes and goes within one batch still sends its trigger, then its resolve", () => {
    const p = planIntake(config, [sig("1", "FAILED"), sig("2", "RUNNING")], [], runs, new Map(), now);
    expect(p.deliveries.map((d) => [d.sink, d.event, d.condition])).toEqual([
      ["hook", "trigger", "run_failed"],
      ["hook", "resolve", "run_failed"],
    ]);
    expect(p.episodes).toHaveLength(1);
    expect(p.episodes[0].resolvedAt).not.toBeNull();
  });
  it("an already open episode is not raised again; clearing resolves to the sinks that got the trigger", () => {
    const open: EpisodeRow = {
      id: "e1",
      key: "run:r1:run_failed",
      condition: "run_failed",
      severity: "critical",
      runId: "r1",
      spriteId: "s1",
      subject: { summary: "x", details: {}, run: null, sprite: null },
      sinks: ["hook"],
      traceId: "t",
      openedAt: now,
      resolvedAt: null,
    };
    expect(planIntake(config, [sig("1", "FAILED")], [open], runs, new Map(), now).deliveries).toEqual([]);
    const p = planIntake(config, [sig("2", "COMPLETE")], [open], runs, new Map(), now);
    expect(p.deliveries.map((d) => [d.sink, d.event, d.dedupKey, d.traceId])).toEqual([["hook", "resolve", "superloop-ops:run:r1:run_failed", "t"]]);
    // a purged run (no row any more): its open episodes resolve
    const gone = planIntake(config, [{ ...sig("3", "FAILED"), snapshot: { deleted: true } }], [open], new Map(), new Map(), now);
    expect(gone.deliveries.map((d) => [d.sink, d.event])).toEqual([["hook", "resolve"]]);
    expect(gone.invalid).toEqual([]);
  });
  it("a run change caused by a request carries the request's trace id; one no request caused gets a generated id", () => {
    const caused = planIntake(config, [{ ...sig("1", "FAILED"), snapshot: { ...base, state: "FAILED", traceId: "trace-cancel" } }], [], runs, new Map(), now);
    expect(caused.deliveries.map((d) => [d.condition, d.traceId, d.payload.traceId])).toEqual([["run_failed", "trace-cancel", "trace-cancel"]]);
    expect(caused.episodes[0].traceId).toBe("trace-cancel");
    for (const snapshot of [
      { ...base, state: "FAILED", traceId: null },
      { ...base, state: "FAILED" },
    ]) {
      const own = planIntake(config, [{ ...sig("2", "FAILED"), snapshot }], [], runs, new Map(), now);
      expect(own.deliveries.map((d) => d.condition)).toEqual(["run_failed"]);
      expect(own.deliveries[0].traceId).toMatch(/^[0-9a-f]{32}$/);
    }
  });
  it("an intent that ends AMBIGUOUS raises an alert carrying the intent's trace id (open until it clears)", () => {
    const p = planIntake(
      config,
      [{ id: "9", subject: "intent", runId: "r1", spriteId: null, at: now, snapshot: { intentId: "i9", kind: "CANCEL", stage: "AMBIGUOUS", error: null, traceId: "trace-9", requestedBy: "ops" } }],
      [],
      runs,
      new Map(),
      now,
    );
    expect(p.deliveries.map((d) => [d.sink, d.event, d.condition, d.traceId, d.payload.traceId])).toEqual([["hook", "trigger", "intent_ambiguous", "trace-9", "trace-9"]]);
    expect(p.episodes[0].resolvedAt).toBeNull();
  });
});
