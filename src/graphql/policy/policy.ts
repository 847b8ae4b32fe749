import { ZodError, z } from "zod";
import { inTransaction } from "../../db/transaction";
import { effectiveGlobalMode } from "../../policy/eligibility";
import { notReplayable, type SimulatedCandidate } from "../../policy/replay";
import { policyChangeSchema, policyDocSchema, ruleSchema, type Rule } from "../../policy/schema";
import { simulatePolicy } from "../../policy/simulate";
import { readAudit, readPolicy, readRuntime, switchesOf, updateRuntime, writePolicy, type AuditRow, type RuntimeState, type StoredPolicy } from "../../policy/store";
import { hasRole } from "../../auth/principal";
import { InvalidInputError, UnauthorizedError } from "../../errors";
import { builder } from "../builder";
import type { Context } from "../context";
import { RunRef } from "../run/run";
import { noteValidation } from "../validation";

// The fleet policy over GraphQL: the policy in force with its governance, the engine's switches (kill switch,
// automation pause), the immutable audit, and simulatePolicy (a read: what rules would have proposed over
// stored history). setPolicy needs a rationale and a review-by date; every change and switch is audited (admin).
// The candidates the rules propose are in ./candidates.ts.

export function requireRole(ctx: Context, role: "operator" | "admin"): string {
  if (!hasRole(ctx.principal, role)) throw new UnauthorizedError(role);
  return ctx.principal!.name;
}

const issuesText = (e: z.ZodError) => e.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");

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

export async function runtimeView(ctx: { app: { pool: import("pg").Pool; config: { OPS_POLICY_KILL_SWITCH: boolean }; policy?: { isLeader: boolean } } }) {
  return { ...(await readRuntime(ctx.app.pool, ctx.app.config.OPS_POLICY_KILL_SWITCH)), leader: ctx.app.policy?.isLeader ?? false };
}

const SetPolicyInput = builder.inputType("SetPolicyInput", {
  fields: (t) => ({
    policy: t.field({ type: "JSON", required: true, description: "The policy document: mode, autoMinSeverity, allowlist, limits, canary, autoPause, rules" }),
    rationale: t.string({ required: true, description: "Why this change (kept in the immutable audit)" }),
    reviewBy: t.field({ type: "DateTime", required: true, description: "After this date guarded_auto falls back to advisory until the policy is reviewed" }),
  }),
});

const WindowInput = builder.inputType("PolicyWindowInput", {
  fields: (t) => ({
    days: t.float({ required: false, description: "The last N days (default 1)" }),
    from: t.field({ type: "DateTime", required: false }),
    to: t.field({ type: "DateTime", required: false, description: "Default: now" }),
  }),
});

const SimulatedRef = builder.objectRef<SimulatedCandidate>("SimulatedCandidate").implement({
  fields: (t) => ({
    rule: t.exposeString("ruleId"),
    runId: t.exposeString("runId"),
    run: t.field({ type: RunRef, nullable: true, resolve: (c, _a, ctx) => ctx.app.db.run.findUnique({ where: { id: c.runId } }) }),
    episodeKey: t.exposeString("episodeKey"),
    action: t.exposeString("action"),
    condition: t.exposeString("condition"),
    since: t.expose("since", { type: "DateTime" }),
    at: t.expose("at", { type: "DateTime", description: "When the rule would first have proposed it" }),
    detail: t.exposeString("detail"),
  }),
});

interface Simulation {
  from: Date;
  to: Date;
  candidates: SimulatedCandidate[];
  skippedRules: string[];
}
const SimulationRef = builder.objectRef<Simulation>("PolicySimulation").implement({
  fields: (t) => ({
    from: t.expose("from", { type: "DateTime" }),
    to: t.expose("to", { type: "DateTime" }),
    candidates: t.field({ type: [SimulatedRef], resolve: (s) => s.candidates }),
    skippedRules: t.exposeStringList("skippedRules", { description: "Rules whose conditions cannot be replayed (health reasons are not stored per moment)" }),
  }),
});

/** simulatePolicy's `rules`: a rule list, a whole policy document, or null for the rules in force. */
const rulesArg = z.union([z.array(ruleSchema), policyDocSchema.transform((d) => d.rules)]);

builder.queryFields((t) => ({
  simulatePolicy: t.field({
    type: SimulationRef,
    description: "Replay stored transitions, events and intents over a window: what the rules would have proposed (viewer)",
    errors: { types: [InvalidInputError] },
    args: {
      rules: t.arg({ type: "JSON", required: false, description: "Rules (a list or a policy document); default: the rules in force" }),
      window: t.arg({ type: WindowInput, required: false }),
    },
    resolve: async (_r, { rules, window }, ctx) => {
      const parsed = rules === null || rules === undefined ? { success: true as const, data: (await readPolicy(ctx.app.pool)).doc.rules } : rulesArg.safeParse(rules);
      if (!parsed.success) throw new InvalidInputError("rules", issuesText(parsed.error));
      const to = window?.to ?? new Date();
      const days = window?.days ?? 1;
      if (!(days > 0 && days <= 90)) throw new InvalidInputError("window.days", "days must be in (0, 90]");
      const from = window?.from ?? new Date(to.getTime() - days * 24 * 3600_000);
      if (from >= to) throw new InvalidInputError("window.from", "from must be before to");
      const candidates = await simulatePolicy(ctx.app.pool, parsed.data, from, to);
      return { from, to, candidates, skippedRules: parsed.data.filter(notReplayable).map((r) => r.id) };
    },
  }),
}));

builder.queryFields((t) => ({
  policy: t.field({ type: PolicyRef, description: "The fleet policy in force (viewer)", resolve: (_r, _a, ctx) => readPolicy(ctx.app.pool) }),
  policyRuntime: t.field({ type: PolicyRuntimeRef, description: "Kill switch and automation pause (viewer)", resolve: (_r, _a, ctx) => runtimeView(ctx) }),
  policyAudit: t.field({
    type: [AuditRef],
    description: "Policy changes and switches, newest first (viewer)",
    args: { first: t.arg.int({ required: false, validate: { min: 1, max: 1000 } }) },
    resolve: (_r, a, ctx) => readAudit(ctx.app.pool, a.first ?? 50),
  }),
}));

builder.mutationFields((t) => ({
  setPolicy: t.field({
    type: PolicyRef,
    description: "Replace the fleet policy (admin). Needs a rationale and a review-by date; recorded as a new version and an audit entry",
    errors: { types: [ZodError, UnauthorizedError, InvalidInputError] },
    args: { input: t.arg({ type: SetPolicyInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      const actor = requireRole(ctx, "admin");
      const parsed = policyChangeSchema.safeParse(input);
      if (!parsed.success) throw new InvalidInputError("policy", issuesText(parsed.error));
      const { policy } = await writePolicy(ctx.app.pool, parsed.data, "graphql", actor);
      ctx.app.policy?.wake();
      return policy;
    },
  }),
  setPolicyKillSwitch: t.field({
    type: PolicyRuntimeRef,
    description: "Kill switch (admin): on = no policy acts automatically (candidates are still proposed); audited",
    errors: { types: [ZodError, UnauthorizedError] },
    args: { on: t.arg.boolean({ required: true }), note: t.arg.string({ required: false, validate: noteValidation }) },
    resolve: async (_r, { on, note }, ctx) => {
      const actor = requireRole(ctx, "admin");
      await inTransaction(ctx.app.pool, (c) =>
        updateRuntime(c, actor, on ? "kill_switch_on" : "kill_switch_off", note ?? null, (r) =>
          r.killSwitch === on ? null : { ...r, killSwitch: on, killSwitchBy: actor, killSwitchNote: note ?? null, killSwitchAt: new Date() },
        ),
      );
      ctx.app.policy?.wake();
      return runtimeView(ctx);
    },
  }),
  setPolicyAutomationPaused: t.field({
    type: PolicyRuntimeRef,
    description: "Pause (paused_manual) or resume automatic execution (admin); resuming also clears an automatic pause; audited",
    errors: { types: [ZodError, UnauthorizedError] },
    args: { paused: t.arg.boolean({ required: true }), note: t.arg.string({ required: false, validate: noteValidation }) },
    resolve: async (_r, { paused, note }, ctx) => {
      const actor = requireRole(ctx, "admin");
      await inTransaction(ctx.app.pool, (c) =>
        updateRuntime(c, actor, paused ? "paused" : "resumed", note ?? null, (r) =>
          paused
            ? r.paused === "manual"
              ? null
              : { ...r, paused: "manual", pausedBy: actor, pausedReason: note ?? null, pausedAt: new Date() }
            : r.paused === null
              ? null
              : { ...r, paused: null, pausedBy: null, pausedReason: null, resumedAt: new Date() },
        ),
      );
      ctx.app.policy?.wake();
      return runtimeView(ctx);
    },
  }),
}));
