import { z } from "zod";

// The fleet policy as data: rules (condition → proposed action, for the runs a selector picks), modes, and the
// guards of automatic execution (allowlist, severity threshold, caps, cooldown, canary cohort, auto-pause). The
// same document comes from the fleet file ("policies") or the admin mutation setPolicy; every change carries a
// rationale and a review-by date (see src/policy/store.ts for the versions and the audit).

export const MODES = ["off", "advisory", "guarded_auto"] as const;
export type Mode = (typeof MODES)[number];
const modeRank: Record<Mode, number> = { off: 0, advisory: 1, guarded_auto: 2 };
/** The stricter of two modes: a rule never acts beyond the global mode. */
export const stricterMode = (a: Mode, b: Mode): Mode => (modeRank[a] <= modeRank[b] ? a : b);

export const SEVERITIES = ["info", "warning", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];
export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

/** APPROVE is never an automatic action: approving is an operator's decision by definition. */
export const ACTIONS = ["CANCEL", "RESTART", "START", "PAUSE", "RESUME", "REJECT", "ALERT"] as const;
export type Action = (typeof ACTIONS)[number];
const actionSchema = z
  .string()
  .refine((a) => a !== "APPROVE", "APPROVE is never taken by a policy: approving is an operator's decision")
  .pipe(z.enum(ACTIONS));

const STATES = ["RUNNING", "PAUSED", "AWAITING_APPROVAL", "COMPLETE", "STOPPED", "FAILED", "IDLE", "UNKNOWN"] as const;
const forMs = z
  .number()
  .int()
  .min(0)
  .max(30 * 24 * 3600_000);

export const conditionSchema = z.discriminatedUnion("type", [
  /** The run is in one of `states` (and, if given, one of `reasons`) for at least forMs. */
  z.strictObject({ type: z.literal("state"), states: z.array(z.enum(STATES)).min(1), reasons: z.array(z.string().min(1).max(64)).optional(), forMs: forMs.default(0) }),
  /** RUNNING without a new event for at least forMs (the last event, or the start of RUNNING if later). */
  z.strictObject({ type: z.literal("stale_running"), forMs }),
  /** AWAITING_APPROVAL for at least forMs. */
  z.strictObject({ type: z.literal("awaiting_approval"), forMs: forMs.default(0) }),
  /** Waiting out a provider's usage limit (waiting_usage_limit) for at least forMs. */
  z.strictObject({ type: z.literal("usage_limit_wait"), forMs: forMs.default(0) }),
  /** The run's Sprite no longer exists (stateReason sprite_missing) for at least forMs. */
  z.strictObject({ type: z.literal("sprite_missing"), forMs: forMs.default(0) }),
  /** The run's latest control intent (of `kinds`, if given) ended AMBIGUOUS. One episode per intent. */
  z.strictObject({ type: z.literal("intent_ambiguous"), kinds: z.array(z.enum(["CANCEL", "APPROVE", "REJECT", "PAUSE", "RESUME", "START", "RESTART"])).optional() }),
  /** One of the health reason codes is present now (not replayable by simulatePolicy: reasons are not stored per moment). */
  z.strictObject({ type: z.literal("health_reason"), codes: z.array(z.string().min(1).max(64)).min(1) }),
]);
export type Condition = z.infer<typeof conditionSchema>;

export const selectorSchema = z
  .strictObject({
    sprites: z.array(z.string().min(1)).optional(),
    /** Sprite labels: "key=value" or a bare name (present) */
    labels: z.array(z.string().min(1)).optional(),
    transports: z.array(z.enum(["LOCAL", "SPRITE_SERVICE", "SPRITES_API"])).optional(),
    loops: z.array(z.string().min(1)).optional(),
  })
  .default({});
export type Selector = z.infer<typeof selectorSchema>;

export const ruleSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lower-case letters, digits, _ and - (at most 63)"),
  description: z.string().max(500).optional(),
  mode: z.enum(MODES).default("advisory"),
  severity: z.enum(SEVERITIES).default("warning"),
  condition: conditionSchema,
  selector: selectorSchema,
  action: actionSchema,
  /** Per rule and run: no automatic execution sooner than this after the previous one. Default: limits.cooldownMs. */
  cooldownMs: z.number().int().min(0).optional(),
});
export type Rule = z.infer<typeof ruleSchema>;

export const limitsSchema = z
  .strictObject({
    /** the time window the caps count automatic executions in */
    windowMs: z.number().int().min(1000).default(3600_000),
    maxPerRun: z.number().int().min(0).default(1),
    maxPerSprite: z.number().int().min(0).default(3),
    maxTotal: z.number().int().min(0).default(10),
    cooldownMs: z.number().int().min(0).default(1800_000),
  })
  .default({ windowMs: 3600_000, maxPerRun: 1, maxPerSprite: 3, maxTotal: 10, cooldownMs: 1800_000 });
export type Limits = z.infer<typeof limitsSchema>;

export const policyDocSchema = z
  .strictObject({
    /** global mode: caps every rule's mode */
    mode: z.enum(MODES).default("advisory"),
    /** below this severity a candidate is only proposed */
    autoMinSeverity: z.enum(SEVERITIES).default("warning"),
    /** what automatic execution may do at all; a Sprite list, if given, limits it to those Sprites */
    allowlist: z.strictObject({ actions: z.array(actionSchema).default([]), sprites: z.array(z.string().min(1)).optional() }).default({ actions: [] }),
    limits: limitsSchema,
    /** the automatic cohort: runs whose hash(salt, run id) falls below percent */
    canary: z.strictObject({ percent: z.number().min(0).max(100).default(100), salt: z.string().max(64).default("") }).default({ percent: 100, salt: "" }),
    /** pause automation when the share of AMBIGUOUS/FAILED outcomes among the last `lastN` automatic executions reaches maxBadShare */
    autoPause: z
      .strictObject({ lastN: z.number().int().min(1).max(1000).default(10), maxBadShare: z.number().min(0).max(1).default(0.5), minExecutions: z.number().int().min(1).optional() })
      .default({ lastN: 10, maxBadShare: 0.5 }),
    rules: z.array(ruleSchema).default([]),
  })
  .superRefine((d, ctx) => {
    const seen = new Set<string>();
    d.rules.forEach((r, i) => {
      if (seen.has(r.id)) ctx.addIssue({ code: "custom", path: ["rules", i, "id"], message: `rule ${r.id} is declared twice` });
      seen.add(r.id);
    });
  });
export type PolicyDoc = z.infer<typeof policyDocSchema>;
export const EMPTY_POLICY: PolicyDoc = policyDocSchema.parse({});

/** A change: the document plus why and until when it holds without review. */
export const policyChangeSchema = z.strictObject({
  rationale: z.string().trim().min(3, "say why (at least 3 characters)").max(2000),
  reviewBy: z.coerce.date(),
  policy: policyDocSchema,
});
export type PolicyChange = z.infer<typeof policyChangeSchema>;
