import type { Run } from "../../generated/prisma/client";
import { ATTEMPT_EVENT_NAMES, deriveAttempts, restartCount, type Attempt } from "../../history/attempts";
import { deriveRoleSpans, ROLE_EVENT_NAMES, type RoleSpan } from "../../history/role-spans";
import { deriveSignOff, type Approver, type GateResult, type SignOff } from "../../history/sign-off";
import { deriveStateSpans, type StateSpan } from "../../history/state-spans";
import { LINE_SQL_COLUMNS, LINE_COLUMNS, payloadOf, type StoredEventLine } from "../../events/stored-event";
import { parseStoredFacts } from "../../ingest/stored-facts";
import { batched, groupBy } from "../batch";
import { builder } from "../builder";
import type { Context } from "../context";
import { ControlIntentRef } from "../intent";

// What the dashboard draws from a run's history: attempts (runtime invocations), the swimlane of roles, the
// sign-off of its last summary, its event rate and its state over the last hours. Each is a pure derivation in
// src/history fed by a few indexed reads here.

type Db = Context["app"]["db"];

interface AttemptRows {
  events: { line: number; name: string; timestamp: Date; ingestedAt: Date; runtimeRunId: string | null; iteration: number | null; status: string | null; payload: unknown }[];
  iterations: { line: number; iteration: number }[];
  transitions: { to: string; reason: string; trigger: string; actor: string | null; at: Date }[];
  intents: { id: string; kind: string; stage: string; requestedBy: string; note: string | null; requestedAt: Date }[];
}

/** The rows attempts are derived from, for every run of the request in four queries. */
async function loadAttemptRows(db: Db, runIds: string[]): Promise<Map<string, AttemptRows>> {
  const [events, iterations, transitions, intents] = await Promise.all([
    db.event.findMany({
      where: { runId: { in: runIds }, name: { in: ATTEMPT_EVENT_NAMES } },
      select: { runId: true, line: true, ingestedAt: true, status: true, ...LINE_COLUMNS },
    }),
    db.event.findMany({ where: { runId: { in: runIds }, name: "iteration_start" }, select: { runId: true, line: true, iteration: true } }),
    db.lifecycleTransition.findMany({ where: { runId: { in: runIds } }, select: { runId: true, to: true, reason: true, trigger: true, actor: true, at: true }, orderBy: { seq: "asc" } }),
    db.controlIntent.findMany({ where: { runId: { in: runIds } }, select: { runId: true, id: true, kind: true, stage: true, requestedBy: true, note: true, requestedAt: true } }),
  ]);
  const ev = groupBy(
    events.map(({ packed: _packed, ...e }) => ({ ...e, payload: payloadOf({ packed: _packed, ...e }) })),
    (e) => e.runId,
  );
  const it = groupBy(iterations, (e) => e.runId);
  const tr = groupBy(transitions, (e) => e.runId);
  const ints = groupBy(intents, (e) => e.runId);
  return new Map(
    runIds.map((id) => [
      id,
      {
        events: ev.get(id) ?? [],
        iterations: (it.get(id) ?? []).flatMap((i) => (i.iteration === null ? [] : [{ line: i.line, iteration: i.iteration }])),
        transitions: tr.get(id) ?? [],
        intents: ints.get(id) ?? [],
      },
    ]),
  );
}

export async function attemptsOf(ctx: Context, run: Pick<Run, "id" | "state" | "stateReason">): Promise<Attempt[]> {
  const rows = await batched(ctx, "attemptRows", run.id, (ids) => loadAttemptRows(ctx.app.db, ids));
  if (!rows) return [];
  return deriveAttempts({ ...rows, current: { state: run.state, reason: run.stateReason } });
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

/** Event names whose last occurrence the sign-off and progress read. */
const LAST_NAMES = ["gates_evaluated", "promise_checked", "tests_start", "loop_start", "approval_decision", "approval_consumed"];
type LastEvent = { name: string; payload: unknown; timestamp: Date; line: number };

/** The last event of each LAST_NAMES name, per run, for every run of the request in one query. */
function lastEvents(ctx: Context, runId: string): Promise<Map<string, LastEvent>> {
  return batched(ctx, "lastEvents", runId, async (ids) => {
    const res = await ctx.app.pool.query<StoredEventLine & { runId: string; line: number }>(
      `SELECT DISTINCT ON ("runId", name) "runId", line, ${LINE_SQL_COLUMNS}
         FROM "Event" WHERE "runId" = ANY($1::text[]) AND name = ANY($2::text[])
        ORDER BY "runId", name, line DESC`,
      [ids, LAST_NAMES],
    );
    const out = new Map<string, Map<string, LastEvent>>();
    for (const r of res.rows) {
      const m = out.get(r.runId) ?? new Map<string, LastEvent>();
      m.set(r.name, { name: r.name, payload: payloadOf(r), timestamp: r.timestamp, line: r.line });
      out.set(r.runId, m);
    }
    return out;
  }).then((m) => m ?? new Map());
}

type ApproveRow = { kind: string; requestedBy: string; note: string | null; requestedAt: Date };

function lastApproveIntent(ctx: Context, runId: string): Promise<ApproveRow | null> {
  return batched(ctx, "approveIntent", runId, async (ids) => {
    const res = await ctx.app.pool.query<ApproveRow & { runId: string }>(
      `SELECT DISTINCT ON ("runId") "runId", kind::text AS kind, "requestedBy", note, "requestedAt"
         FROM "ControlIntent" WHERE "runId" = ANY($1::text[]) AND kind::text IN ('APPROVE','REJECT') AND stage::text NOT IN ('REJECTED','FAILED')
        ORDER BY "runId", "requestedAt" DESC`,
      [ids],
    );
    return new Map(res.rows.map((r) => [r.runId, r]));
  }).then((r) => r ?? null);
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
      const v = asRecord((await lastEvents(ctx, run.id)).get("loop_start")?.payload)?.["max_iterations"];
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
      const [last, approveIntent] = await Promise.all([lastEvents(ctx, run.id), lastApproveIntent(ctx, run.id)]);
      const tests = last.get("tests_start");
      const loopStart = last.get("loop_start");
      // approval_consumed repeats the decision when the runtime resumes: the later of the two wins.
      const decisions = [last.get("approval_decision"), last.get("approval_consumed")].filter((e): e is LastEvent => e !== undefined);
      const decision = decisions.sort((a, b) => b.line - a.line)[0] ?? null;
      const mode = asRecord(tests?.payload)?.["mode"] ?? asRecord(loopStart?.payload)?.["tests_mode"];
      const facts = parseStoredFacts(run.facts);
      const decisionPayload = asRecord(decision?.payload);
      return deriveSignOff({
        summaryGates: asRecord(run.gates),
        gatesEvent: asRecord(last.get("gates_evaluated")?.payload),
        promise: asRecord(last.get("promise_checked")?.payload),
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
      const counts = await batched(ctx, `eventRate/${buckets}/${size}`, run.id, async (ids) => {
        const now = new Date();
        const res = await ctx.app.pool.query<{ runId: string; b: number; n: number }>(
          `SELECT "runId", floor(extract(epoch from ($2::timestamptz - "timestamp")) / $3)::int AS b, count(*)::int AS n
             FROM "Event" WHERE "runId" = ANY($1::text[]) AND "timestamp" > $2::timestamptz - make_interval(secs => $3 * $4)
            GROUP BY 1, 2`,
          [ids, now, size, buckets],
        );
        const out = new Map<string, number[]>();
        for (const r of res.rows) {
          const row = out.get(r.runId) ?? new Array<number>(buckets).fill(0);
          const i = buckets - 1 - Math.max(0, r.b);
          if (i >= 0 && i < buckets) row[i] += r.n;
          out.set(r.runId, row);
        }
        return out;
      });
      return counts ?? new Array<number>(buckets).fill(0);
    },
  }),
  stateSpans: t.field({
    type: [StateSpanRef],
    description: "The run's lifecycle state over the last `hours` as spans (X → X changes of reason only do not split a span)",
    args: { hours: t.arg.int({ required: false, defaultValue: 24, validate: { min: 1, max: 24 * 14 } }) },
    resolve: async (run, { hours }, ctx) => {
      const windowStart = new Date(Date.now() - (hours ?? 24) * 3600_000);
      const rows = await batched(ctx, `stateSpans/${hours ?? 24}`, run.id, async (ids) => {
        const [before, inWindow] = await Promise.all([
          ctx.app.pool.query<{ runId: string; to: string }>(
            `SELECT DISTINCT ON ("runId") "runId", "to"::text AS "to" FROM "LifecycleTransition"
              WHERE "runId" = ANY($1::text[]) AND at < $2 ORDER BY "runId", seq DESC`,
            [ids, windowStart],
          ),
          ctx.app.db.lifecycleTransition.findMany({ where: { runId: { in: ids }, at: { gte: windowStart } }, orderBy: { seq: "asc" }, select: { runId: true, from: true, to: true, at: true } }),
        ]);
        const b = new Map(before.rows.map((r) => [r.runId, r.to]));
        const w = groupBy(inWindow, (t) => t.runId);
        return new Map(ids.map((id) => [id, deriveStateSpans(b.get(id) ?? null, w.get(id) ?? [], windowStart)]));
      });
      return rows ?? [];
    },
  }),
}));
