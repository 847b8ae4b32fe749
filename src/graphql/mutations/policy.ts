import { ZodError, z } from "zod";
import { getCandidate, suppressCandidate } from "../../policy/candidates";
import { notReplayable, type SimulatedCandidate } from "../../policy/replay";
import { policyChangeSchema, policyDocSchema, ruleSchema } from "../../policy/schema";
import { simulatePolicy } from "../../policy/simulate";
import { inTransaction } from "../../db/transaction";
import { readPolicy, updateRuntime, writePolicy } from "../../policy/store";
import { builder } from "../builder";
import type { Context } from "../context";
import { hasRole } from "../../auth/principal";
import { InvalidInputError, NotFoundError, UnauthorizedError } from "../../errors";
import { noteValidation } from "../validation";
import { CandidateNotOpenError, CandidateRef, PolicyRef, PolicyRuntimeRef, runtimeView } from "../types/policy";
import { RunRef } from "../types/run";

// Policy mutations: setPolicy (admin; needs a rationale and a review-by date; audited before/after), the kill
// switch and the automation pause (admin; audited), executeCandidate / suppressCandidate (operator), and
// simulatePolicy (a read: what rules would have proposed over stored history).

function requireRole(ctx: Context, role: "operator" | "admin"): string {
  if (!hasRole(ctx.principal, role)) throw new UnauthorizedError(role);
  return ctx.principal!.name;
}

const issuesText = (e: z.ZodError) => e.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");

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
