import { ZodError } from "zod";
import { getCandidate, listCandidates, suppressCandidate, type CandidateRow } from "../../policy/candidates";
import type { Reason } from "../../policy/eligibility";
import { hold } from "../../pubsub/subscription-scope";
import { CandidateNotOpenError, NotFoundError, UnauthorizedError } from "../../errors";
import { builder } from "../builder";
import { ErrorInterface } from "../errors";
import { localId } from "../ids";
import { ControlIntentRef } from "../intent";
import { RunRef } from "../run/run";
import { noteValidation } from "../validation";
import { requireRole } from "./policy";

// Policy candidates: one rule's proposal for one run and one condition episode, with every reason it is or is
// not eligible for automatic execution; the recent actions with the intent each became; executeCandidate and
// suppressCandidate (operator); policyCandidatesChanged.

builder.objectType(CandidateNotOpenError, {
  name: "CandidateNotOpen",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof CandidateNotOpenError,
  fields: (t) => ({ candidateId: t.exposeString("candidateId"), status: t.exposeString("status") }),
});

const ReasonRef = builder.objectRef<Reason>("PolicyReason").implement({
  fields: (t) => ({
    code: t.exposeString("code", {
      description:
        "mode_advisory | review_expired | kill_switch | paused_manual | paused_auto | suppressed | not_allowlisted | below_threshold | canary_excluded | cooldown_active | cap_exceeded | retry_guard | intent_in_flight",
    }),
    message: t.exposeString("message"),
  }),
});

export const CandidateRef = builder.objectRef<CandidateRow>("PolicyCandidate").implement({
  description: "One rule's proposal for one run and one condition episode",
  fields: (t) => ({
    id: t.exposeID("id"),
    rule: t.exposeString("ruleId"),
    run: t.field({ type: RunRef, nullable: true, resolve: (c, _a, ctx) => ctx.app.db.run.findUnique({ where: { id: c.runId } }) }),
    runId: t.exposeString("runId", { description: "Raw run id" }),
    condition: t.exposeString("condition"),
    detail: t.exposeString("detail"),
    episodeKey: t.exposeString("episodeKey"),
    since: t.expose("since", { type: "DateTime" }),
    action: t.exposeString("action", { description: "The proposed action" }),
    severity: t.exposeString("severity"),
    status: t.exposeString("status", { description: "open | executing | executed | suppressed | ended" }),
    eligible: t.exposeBoolean("eligible", { description: "Would be executed automatically now" }),
    reasons: t.field({ type: [ReasonRef], description: "Every reason it is not eligible for automatic execution (empty = eligible)", resolve: (c) => c.reasons }),
    policyVersion: t.exposeInt("policyVersion"),
    firstSeenAt: t.expose("firstSeenAt", { type: "DateTime" }),
    lastSeenAt: t.expose("lastSeenAt", { type: "DateTime" }),
    endedAt: t.expose("endedAt", { type: "DateTime", nullable: true }),
    executedBy: t.exposeString("executedBy", { nullable: true, description: "policy:<rule> (automatic) or the operator who executed it" }),
    executedAuto: t.exposeBoolean("executedAuto"),
    executedAt: t.expose("executedAt", { type: "DateTime", nullable: true }),
    intent: t.field({
      type: ControlIntentRef,
      nullable: true,
      description: "The control intent it became (requestedBy policy:<rule>); its stage is the outcome",
      resolve: (c, _a, ctx) => (c.intentId ? ctx.app.db.controlIntent.findUnique({ where: { id: c.intentId } }) : null),
    }),
    suppressedBy: t.exposeString("suppressedBy", { nullable: true }),
    suppressedNote: t.exposeString("suppressedNote", { nullable: true }),
    suppressedUntil: t.expose("suppressedUntil", { type: "DateTime", nullable: true }),
  }),
});

export const CANDIDATE_STATUSES = ["open", "executing", "executed", "suppressed", "ended"];

builder.queryFields((t) => ({
  policyCandidates: t.field({
    type: [CandidateRef],
    description: "Policy candidates, newest first; default: open and suppressed ones (viewer)",
    args: {
      status: t.arg.stringList({ required: false, description: "open | executing | executed | suppressed | ended" }),
      runId: t.arg.id({ required: false }),
      first: t.arg.int({ required: false, validate: { min: 1, max: 1000 } }),
    },
    resolve: (_r, a, ctx) =>
      listCandidates(ctx.app.pool, {
        statuses: a.status?.filter((s) => CANDIDATE_STATUSES.includes(s)) ?? ["open", "suppressed"],
        runId: a.runId ? localId(String(a.runId), "Run") : null,
        limit: a.first ?? 200,
      }),
  }),
  policyActions: t.field({
    type: [CandidateRef],
    description: "Executed candidates (automatic and by operators), newest first, with the intent each became (viewer)",
    args: { first: t.arg.int({ required: false, validate: { min: 1, max: 1000 } }) },
    resolve: (_r, a, ctx) => listCandidates(ctx.app.pool, { statuses: ["executing", "executed"], runId: null, limit: a.first ?? 50 }),
  }),
}));

builder.mutationFields((t) => ({
  executeCandidate: t.field({
    type: CandidateRef,
    description: "Execute an open candidate now (operator): it becomes an ordinary control intent with requestedBy policy:<rule>, you as the executor",
    errors: { types: [ZodError, UnauthorizedError, NotFoundError, CandidateNotOpenError] },
    args: { id: t.arg.id({ required: true }), note: t.arg.string({ required: false, validate: noteValidation }) },
    resolve: async (_r, { id, note }, ctx) => {
      const actor = requireRole(ctx, "operator");
      const engine = ctx.app.policy;
      if (!engine) throw new NotFoundError("PolicyCandidate", String(id));
      const r = await engine.execute(String(id), actor, false, `executed by ${actor}${note ? `: ${note}` : ""}`);
      if (r.kind === "executed") return r.candidate;
      if (!r.candidate) throw new NotFoundError("PolicyCandidate", String(id));
      throw new CandidateNotOpenError(r.candidate.id, r.candidate.status);
    },
  }),
  suppressCandidate: t.field({
    type: CandidateRef,
    description: "Suppress a candidate (operator): never executed automatically; with `until` it opens again then",
    errors: { types: [ZodError, UnauthorizedError, NotFoundError, CandidateNotOpenError] },
    args: {
      id: t.arg.id({ required: true }),
      note: t.arg.string({ required: true, validate: { ...noteValidation, minLength: 1 }, description: "Why" }),
      until: t.arg({ type: "DateTime", required: false }),
    },
    resolve: async (_r, { id, note, until }, ctx) => {
      const actor = requireRole(ctx, "operator");
      const row = await suppressCandidate(ctx.app.pool, String(id), actor, note, until ?? null);
      if (row) {
        ctx.app.policy?.notify();
        return row;
      }
      const existing = await getCandidate(ctx.app.pool, String(id));
      if (!existing) throw new NotFoundError("PolicyCandidate", String(id));
      throw new CandidateNotOpenError(existing.id, existing.status);
    },
  }),
}));

// policyCandidatesChanged: the open and suppressed candidates, sent first as they are now and again whenever
// they change. The lease holder's engine says when it changed them on this replica; on any other replica the
// periodic re-read (every OPS_POLICY_TICK_MS) finds the change, so every replica's subscribers hear it.

interface Wake {
  wait(): Promise<void>;
  close(): void;
}

function waker(ms: number, subscribe: (fn: () => void) => () => void): Wake {
  let resolve: (() => void) | null = null;
  let pending = false;
  const fire = () => {
    if (resolve) {
      const r = resolve;
      resolve = null;
      r();
    } else pending = true;
  };
  const off = subscribe(fire);
  const interval = setInterval(fire, ms);
  return {
    wait: () => {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise<void>((r) => (resolve = r));
    },
    close: () => {
      off();
      clearInterval(interval);
      fire();
    },
  };
}

const fingerprint = (rows: CandidateRow[]) => JSON.stringify(rows.map((r) => [r.id, r.status, r.eligible, r.reasons.map((x) => x.code), r.intentId]));

builder.subscriptionFields((t) => ({
  policyCandidatesChanged: t.field({
    type: [CandidateRef],
    description: "The open and suppressed policy candidates: now, then after every change (viewer)",
    subscribe: async function* (_root, _args, ctx) {
      const app = ctx.app;
      let closed = false;
      const wake = hold(
        ctx,
        waker(app.config.OPS_POLICY_TICK_MS, (fn) => app.policy?.onChange(fn) ?? (() => {})),
      );
      const close = { close: () => (closed = true) };
      hold(ctx, close);
      let last = "";
      try {
        while (!closed) {
          const rows = await listCandidates(app.pool, { statuses: ["open", "suppressed"], runId: null, limit: 500 });
          const fp = fingerprint(rows);
          if (fp !== last) {
            last = fp;
            yield rows;
          }
          await wake.wait();
        }
      } finally {
        wake.close();
      }
    },
    resolve: (rows) => rows,
  }),
}));
