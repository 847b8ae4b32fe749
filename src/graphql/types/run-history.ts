import type { Run } from "../../generated/prisma/client";
import { ATTEMPT_EVENT_NAMES, deriveAttempts, restartCount, type Attempt } from "../../history/attempts";
import { deriveRoleSpans, ROLE_EVENT_NAMES, type RoleSpan } from "../../history/role-spans";
import { deriveSignOff, type Approver, type GateResult, type SignOff } from "../../history/sign-off";
import { deriveStateSpans, type StateSpan } from "../../history/state-spans";
import { parseStoredFacts } from "../../ingest/stored-facts";
import { builder } from "../builder";
import type { Context } from "../context";
import { ControlIntentRef } from "./intent";

// What the dashboard draws from a run's history: attempts (runtime invocations), the swimlane of roles, the
// sign-off of its last summary, its event rate and its state over the last hours. Each is a pure derivation in
// src/history fed by a few indexed reads here.

type Db = Context["app"]["db"];

// One read per run and request: `attempts` and `restartCount` share it (a fleet query asks for both).
const attemptCache = new WeakMap<Context, Map<string, Promise<Attempt[]>>>();

async function readAttempts(db: Db, run: Pick<Run, "id" | "state" | "stateReason">): Promise<Attempt[]> {
  const [events, iterations, transitions, intents] = await Promise.all([
    db.event.findMany({
      where: { runId: run.id, name: { in: ATTEMPT_EVENT_NAMES } },
      select: { line: true, name: true, timestamp: true, ingestedAt: true, runtimeRunId: true, iteration: true, status: true, payload: true },
    }),
    db.event.findMany({ where: { runId: run.id, name: "iteration_start" }, select: { line: true, iteration: true } }),
    db.lifecycleTransition.findMany({ where: { runId: run.id }, select: { to: true, reason: true, trigger: true, actor: true, at: true }, orderBy: { seq: "asc" } }),
    db.controlIntent.findMany({ where: { runId: run.id }, select: { id: true, kind: true, stage: true, requestedBy: true, note: true, requestedAt: true } }),
  ]);
  return deriveAttempts({
    events,
    iterations: iterations.flatMap((i) => (i.iteration === null ? [] : [{ line: i.line, iteration: i.iteration }])),
    transitions,
    intents,
    current: { state: run.state, reason: run.stateReason },
  });
}

export function attemptsOf(ctx: Context, run: Pick<Run, "id" | "state" | "stateReason" | "seq">): Promise<Attempt[]> {
  let perRequest = attemptCache.get(ctx);
  if (!perRequest) attemptCache.set(ctx, (perRequest = new Map()));
  const key = `${run.id}@${run.seq}`;
  let p = perRequest.get(key);
  if (!p) perRequest.set(key, (p = readAttempts(ctx.app.db, run)));
  return p;
}

const AttemptRef = builder.objectRef<Attempt>("RunAttempt").implement({
  description: "One `superloop run` invocation inside a run: from its loop_start to what ended it",
  fields: (t) => ({
    index: t.exposeInt("index", { description: "1-based, in the order the runtime started them" }),
    runtimeRunId: t.exposeString("runtimeRunId", { nullable: true, description: "The runtime's run id (loop_start's run_id)" }),
    startedAt: t.expose("startedAt", { type: "DateTime", description: "loop_start's timestamp (the runtime's clock)" }),
    endedAt: t.expose("endedAt", { type: "DateTime", nullable: true }),
    outcome: t.exposeString("outcome", { description: "COMPLETE | STOPPED | AWAITING_APPROVAL | FAILED | RUNNING | PAUSED | UNKNOWN" }),
    stopReason: t.exposeString("stopReason", { nullable: true, description: "loop_complete, max_iterations, runtime_died, approval_requested, cancelled, ..." }),
    stoppedBy: t.exposeString("stoppedBy", { nullable: true, description: "The operator whose action ended it, if one did" }),
    startedBy: t.exposeString("startedBy", { description: "The operator whose START/RESTART started it, or `runtime` when it was started outside this manager" }),
    intent: t.field({
      type: ControlIntentRef,
      nullable: true,
      description: "The intent that started it",
      resolve: (a, _args, ctx) => (a.intentId ? ctx.app.db.controlIntent.findUnique({ where: { id: a.intentId } }) : null),
    }),
    intentKind: t.exposeString("intentKind", { nullable: true }),
    restart: t.exposeBoolean("restart", { description: "The attempt before it ended FAILED or STOPPED: this one restarted the loop" }),
    firstIteration: t.exposeInt("firstIteration", { nullable: true }),
    lastIteration: t.exposeInt("lastIteration", { nullable: true }),
    maxIterations: t.exposeInt("maxIterations", { nullable: true, description: "max_iterations from its loop_start" }),
  }),
});

const RoleSpanRef = builder.objectRef<RoleSpan>("RoleSpan").implement({
  description: "One agent role's turn in an iteration (role_start to role_end)",
  fields: (t) => ({
    attempt: t.exposeInt("attempt"),
    iteration: t.exposeInt("iteration", { nullable: true }),
    role: t.exposeString("role", { description: "planner | implementer | tester | reviewer | ..." }),
    startedAt: t.expose("startedAt", { type: "DateTime" }),
    endedAt: t.expose("endedAt", { type: "DateTime", nullable: true }),
    durationMs: t.exposeInt("durationMs", { nullable: true }),
    status: t.exposeString("status", { description: "ok | error | timeout | running | died" }),
    startLine: t.exposeInt("startLine"),
  }),
});

const GateResultRef = builder.objectRef<GateResult>("GateResult").implement({
  fields: (t) => ({
    name: t.exposeString("name"),
    status: t.exposeString("status", { description: "The runtime's word: ok, skipped, failed, pending, approved, ..." }),
    verdict: t.exposeString("verdict", { description: "PASS | FAIL | SKIPPED | PENDING | UNKNOWN" }),
  }),
});

const ApproverRef = builder.objectRef<Approver>("Approver").implement({
  fields: (t) => ({
    status: t.exposeString("status", { description: "approved | rejected" }),
    by: t.exposeString("by", { nullable: true }),
    note: t.exposeString("note", { nullable: true }),
    at: t.expose("at", { type: "DateTime", nullable: true }),
    source: t.exposeString("source", { description: "runtime (approval_decision event) | intent (only this manager's request is known)" }),
  }),
});

const SignOffRef = builder.objectRef<SignOff>("SignOff").implement({
  description: "Whether the last summary says the work was verified: gates, promise, tests mode, approval",
  fields: (t) => ({
    gates: t.field({ type: [GateResultRef], resolve: (s) => s.gates }),
    allGreen: t.exposeBoolean("allGreen", { description: "Promise matched and every gate passed (approval may be skipped: see approvalSkipped)" }),
    promiseMatched: t.exposeBoolean("promiseMatched", { nullable: true }),
    promiseExpected: t.exposeString("promiseExpected", { nullable: true }),
    testsMode: t.exposeString("testsMode", { nullable: true }),
    approval: t.field({ type: ApproverRef, nullable: true, resolve: (s) => s.approval }),
    approvalSkipped: t.exposeBoolean("approvalSkipped", { description: "No human approval was asked for" }),
    completionOk: t.exposeBoolean("completionOk", { nullable: true, description: "completion_ok of the last summary entry" }),
  }),
});

const StateSpanRef = builder.objectRef<StateSpan>("StateSpan").implement({
  fields: (t) => ({
    state: t.exposeString("state"),
    from: t.expose("from", { type: "DateTime" }),
    to: t.expose("to", { type: "DateTime", nullable: true, description: "null while it lasts" }),
  }),
});

const asRecord = (v: unknown): Record<string, unknown> | null => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

async function lastEvent(db: Db, runId: string, names: string[]) {
  return db.event.findFirst({ where: { runId, name: { in: names } }, orderBy: { line: "desc" }, select: { name: true, payload: true, timestamp: true } });
}

builder.prismaObjectFields("Run", (t) => ({
  attempts: t.field({
    type: [AttemptRef],
    description: "Every runtime invocation (loop_start) of this run, oldest first",
    resolve: (run, _args, ctx) => attemptsOf(ctx, run),
  }),
  restartCount: t.int({
    description: "Attempts started after an attempt that failed, was killed or stopped",
    resolve: async (run, _args, ctx) => restartCount(await attemptsOf(ctx, run)),
  }),
  maxIterations: t.int({
    nullable: true,
    description: "max_iterations of the latest loop_start",
    resolve: async (run, _args, ctx) => {
      const e = await lastEvent(ctx.app.db, run.id, ["loop_start"]);
      const v = asRecord(e?.payload)?.["max_iterations"];
      return typeof v === "number" ? v : null;
    },
  }),
  roleSpans: t.field({
    type: [RoleSpanRef],
    description: "The swimlane: each role's turn in the last iterations, oldest first",
    args: { lastIterations: t.arg.int({ required: false, defaultValue: 10, validate: { min: 1, max: 100 } }) },
    resolve: async (run, { lastIterations }, ctx) => {
      const n = lastIterations ?? 10;
      // Read back from the n-th last iteration_start (or the last loop_start if later, so `died` is known).
      const starts = await ctx.app.db.event.findMany({
        where: { runId: run.id, name: "iteration_start" },
        orderBy: { line: "desc" },
        take: n,
        select: { line: true },
      });
      const fromLine = starts.at(-1)?.line ?? 0;
      const events = await ctx.app.db.event.findMany({
        where: { runId: run.id, name: { in: ROLE_EVENT_NAMES }, line: { gte: fromLine } },
        orderBy: { line: "asc" },
        take: 20 * n + 50,
        select: { line: true, name: true, timestamp: true, iteration: true, role: true, status: true },
      });
      return deriveRoleSpans(events, run.state === "RUNNING" || run.state === "PAUSED");
    },
  }),
  signOff: t.field({
    type: SignOffRef,
    nullable: true,
    description: "Gates of the last summary, promise check, tests mode and approver; null before any iteration was evaluated",
    resolve: async (run, _args, ctx) => {
      const db = ctx.app.db;
      const [gatesEvent, promise, tests, loopStart, decision, approveIntent] = await Promise.all([
        lastEvent(db, run.id, ["gates_evaluated"]),
        lastEvent(db, run.id, ["promise_checked"]),
        lastEvent(db, run.id, ["tests_start"]),
        lastEvent(db, run.id, ["loop_start"]),
        lastEvent(db, run.id, ["approval_decision", "approval_consumed"]),
        db.controlIntent.findFirst({
          where: { runId: run.id, kind: { in: ["APPROVE", "REJECT"] }, stage: { notIn: ["REJECTED", "FAILED"] } },
          orderBy: { requestedAt: "desc" },
          select: { kind: true, requestedBy: true, note: true, requestedAt: true },
        }),
      ]);
      const mode = asRecord(tests?.payload)?.["mode"] ?? asRecord(loopStart?.payload)?.["tests_mode"];
      const facts = parseStoredFacts(run.facts);
      const decisionPayload = asRecord(decision?.payload);
      return deriveSignOff({
        summaryGates: asRecord(run.gates),
        gatesEvent: asRecord(gatesEvent?.payload),
        promise: asRecord(promise?.payload),
        testsMode: typeof mode === "string" ? mode : null,
        decision: decision && decisionPayload ? { payload: decisionPayload, timestamp: decision.timestamp } : null,
        approveIntent,
        completionOk: facts.runtime?.lastSummary?.completion_ok ?? null,
      });
    },
  }),
  eventRate: t.field({
    type: ["Int"],
    description: "Events per bucket over the last `buckets × bucketSeconds` (by the events' own timestamps), oldest bucket first: a flat line is a silent run",
    args: {
      buckets: t.arg.int({ required: false, defaultValue: 30, validate: { min: 1, max: 240 } }),
      bucketSeconds: t.arg.int({ required: false, defaultValue: 60, validate: { min: 1, max: 3600 } }),
    },
    resolve: async (run, args, ctx) => {
      const buckets = args.buckets ?? 30;
      const size = args.bucketSeconds ?? 60;
      const now = Date.now();
      const since = new Date(now - buckets * size * 1000);
      const rows = await ctx.app.db.$queryRaw<{ b: number; n: number }[]>`
        SELECT floor(extract(epoch from (${new Date(now)}::timestamptz - "timestamp")) / ${size})::int AS b, count(*)::int AS n
        FROM "Event" WHERE "runId" = ${run.id} AND "timestamp" > ${since} GROUP BY 1`;
      const out = new Array<number>(buckets).fill(0);
      for (const r of rows) {
        const i = buckets - 1 - Math.max(0, r.b);
        if (i >= 0 && i < buckets) out[i]! += r.n;
      }
      return out;
    },
  }),
  stateSpans: t.field({
    type: [StateSpanRef],
    description: "The run's lifecycle state over the last `hours` as spans (X → X changes of reason only do not split a span)",
    args: { hours: t.arg.int({ required: false, defaultValue: 24, validate: { min: 1, max: 24 * 14 } }) },
    resolve: async (run, { hours }, ctx) => {
      const windowStart = new Date(Date.now() - (hours ?? 24) * 3600_000);
      const [before, transitions] = await Promise.all([
        ctx.app.db.lifecycleTransition.findFirst({ where: { runId: run.id, at: { lt: windowStart } }, orderBy: { seq: "desc" }, select: { to: true } }),
        ctx.app.db.lifecycleTransition.findMany({ where: { runId: run.id, at: { gte: windowStart } }, orderBy: { seq: "asc" }, select: { from: true, to: true, at: true } }),
      ]);
      return deriveStateSpans(before?.to ?? null, transitions, windowStart);
    },
  }),
}));
