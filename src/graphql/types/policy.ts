import { listCandidates, type CandidateRow } from "../../policy/candidates";
import { effectiveGlobalMode, type Reason } from "../../policy/eligibility";
import type { Rule } from "../../policy/schema";
import { readAudit, readPolicy, readRuntime, switchesOf, type AuditRow, type RuntimeState, type StoredPolicy } from "../../policy/store";
import { builder } from "../builder";
import { DomainError } from "../../errors";
import { ErrorInterface } from "../errors";
import { localId } from "../ids";
import { ControlIntentRef } from "./intent";
import { RunRef } from "./run";

// The fleet policy over GraphQL (reads): the policy in force with its governance, the engine's switches, the
// candidates with every reason they are or are not eligible for automatic execution, the recent actions with
// their outcomes, and the immutable audit. Mutations: src/graphql/mutations/policy.ts.

export class CandidateNotOpenError extends DomainError {
  constructor(
    readonly candidateId: string,
    readonly status: string,
  ) {
    super(`candidate ${candidateId} is ${status}, not open: it was executed, suppressed or has ended`);
  }
}
builder.objectType(CandidateNotOpenError, {
  name: "CandidateNotOpen",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof CandidateNotOpenError,
  fields: (t) => ({ candidateId: t.exposeString("candidateId"), status: t.exposeString("status") }),
});

const RuleRef = builder.objectRef<Rule>("PolicyRule").implement({
  fields: (t) => ({
    id: t.exposeString("id"),
    description: t.string({ nullable: true, resolve: (r) => r.description ?? null }),
    mode: t.exposeString("mode", { description: "off | advisory | guarded_auto (never beyond the global mode)" }),
    severity: t.exposeString("severity"),
    action: t.exposeString("action", { description: "CANCEL | RESTART | START | PAUSE | RESUME | REJECT | ALERT (never APPROVE)" }),
    condition: t.field({ type: "JSON", resolve: (r) => r.condition }),
    selector: t.field({ type: "JSON", resolve: (r) => r.selector }),
    cooldownMs: t.int({ nullable: true, resolve: (r) => r.cooldownMs ?? null }),
  }),
});

export const PolicyRef = builder.objectRef<StoredPolicy>("Policy").implement({
  description: "The fleet policy in force (the highest version); version 0 = none set yet",
  fields: (t) => ({
    version: t.exposeInt("version"),
    mode: t.string({ description: "The declared global mode", resolve: (p) => p.doc.mode }),
    effectiveMode: t.string({
      description: "The global mode after governance: guarded_auto with an expired review acts as advisory",
      resolve: (p) => effectiveGlobalMode(p.doc, p.reviewBy, new Date()).mode,
    }),
    reviewExpired: t.boolean({ resolve: (p) => effectiveGlobalMode(p.doc, p.reviewBy, new Date()).reviewExpired }),
    rationale: t.exposeString("rationale", { nullable: true }),
    reviewBy: t.expose("reviewBy", { type: "DateTime", nullable: true }),
    source: t.exposeString("source", { nullable: true, description: "fleet-file | graphql" }),
    actor: t.exposeString("actor", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime", nullable: true }),
    rules: t.field({ type: [RuleRef], resolve: (p) => p.doc.rules }),
    document: t.field({ type: "JSON", description: "The whole policy document (limits, allowlist, canary, autoPause, rules)", resolve: (p) => p.doc }),
  }),
});

export const PolicyRuntimeRef = builder.objectRef<RuntimeState & { leader: boolean }>("PolicyRuntime").implement({
  fields: (t) => ({
    killSwitch: t.boolean({ description: "No automatic execution (the mutation or OPS_POLICY_KILL_SWITCH)", resolve: (r) => switchesOf(r).killSwitch }),
    killSwitchSource: t.string({ nullable: true, resolve: (r) => switchesOf(r).killSwitchSource }),
    envKillSwitch: t.exposeBoolean("envKillSwitch", { description: "OPS_POLICY_KILL_SWITCH is set on this replica" }),
    killSwitchBy: t.exposeString("killSwitchBy", { nullable: true }),
    killSwitchNote: t.exposeString("killSwitchNote", { nullable: true }),
    killSwitchAt: t.expose("killSwitchAt", { type: "DateTime", nullable: true }),
    paused: t.exposeString("paused", { nullable: true, description: "manual | auto | null" }),
    pausedBy: t.exposeString("pausedBy", { nullable: true }),
    pausedReason: t.exposeString("pausedReason", { nullable: true }),
    pausedAt: t.expose("pausedAt", { type: "DateTime", nullable: true }),
    leader: t.exposeBoolean("leader", { description: "This replica holds the policy engine's lease" }),
  }),
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

const AuditRef = builder.objectRef<AuditRow>("PolicyAuditEntry").implement({
  description: "An immutable record of a policy change or switch",
  fields: (t) => ({
    id: t.exposeID("id"),
    at: t.expose("at", { type: "DateTime" }),
    actor: t.exposeString("actor"),
    action: t.exposeString("action", { description: "policy_changed | kill_switch_on | kill_switch_off | paused | resumed" }),
    version: t.exposeInt("version", { nullable: true }),
    rationale: t.exposeString("rationale", { nullable: true }),
    before: t.field({ type: "JSON", nullable: true, resolve: (a) => a.before }),
    after: t.field({ type: "JSON", nullable: true, resolve: (a) => a.after }),
  }),
});

export const CANDIDATE_STATUSES = ["open", "executing", "executed", "suppressed", "ended"];

export async function runtimeView(ctx: { app: { pool: import("pg").Pool; config: { OPS_POLICY_KILL_SWITCH: boolean }; policy?: { isLeader: boolean } } }) {
  return { ...(await readRuntime(ctx.app.pool, ctx.app.config.OPS_POLICY_KILL_SWITCH)), leader: ctx.app.policy?.isLeader ?? false };
}

builder.queryFields((t) => ({
  policy: t.field({ type: PolicyRef, description: "The fleet policy in force (viewer)", resolve: (_r, _a, ctx) => readPolicy(ctx.app.pool) }),
  policyRuntime: t.field({ type: PolicyRuntimeRef, description: "Kill switch and automation pause (viewer)", resolve: (_r, _a, ctx) => runtimeView(ctx) }),
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
  policyAudit: t.field({
    type: [AuditRef],
    description: "Policy changes and switches, newest first (viewer)",
    args: { first: t.arg.int({ required: false, validate: { min: 1, max: 1000 } }) },
    resolve: (_r, a, ctx) => readAudit(ctx.app.pool, a.first ?? 50),
  }),
}));
