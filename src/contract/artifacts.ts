import { z } from "zod";

// Schemas for the files the Superloop runtime writes under `.superloop/`.
// They are loose on purpose: the runtime adds keys over time (e.g. `gates.lifecycle`) and a reader that
// drops or rejects unknown keys would either lose information or break on the next runtime release.
// Only the fields the manager relies on are typed, and only where a wrong type would mislead it.

const nonNegativeInt = z.number().int().nonnegative();
const optionalString = z.string().nullish();

/** `.superloop/state.json` (one per repo). */
export const SuperloopStateSchema = z.looseObject({
  active: z.boolean().optional(),
  loop_index: z.number().int().nullish(),
  iteration: z.number().int().nullish(),
  current_loop_id: optionalString,
  updated_at: optionalString,
});
export type SuperloopState = z.infer<typeof SuperloopStateSchema>;

/** `.superloop/active-run.json`: present while a `superloop run` process is alive. */
export const ActiveRunSchema = z.looseObject({
  repo: optionalString,
  pid: z.number().int().positive().nullish(),
  pgid: z.number().int().positive().nullish(),
  loop_id: optionalString,
  iteration: z.number().int().nullish(),
  stage: optionalString,
  updated_at: optionalString,
});
export type ActiveRun = z.infer<typeof ActiveRunSchema>;

export const ApprovalStatusSchema = z.enum(["pending", "approved", "rejected"]);
export type ApprovalStatus = z.infer<typeof ApprovalStatusSchema>;

/** `.superloop/loops/<loop>/approval.json`. `status` stays a plain string so a future status is not a parse error. */
export const ApprovalSchema = z.looseObject({
  status: z.string(),
  loop_id: optionalString,
  run_id: optionalString,
  iteration: z.number().int().nullish(),
  requested_at: optionalString,
});
export type Approval = z.infer<typeof ApprovalSchema>;

export const SummaryStuckSchema = z.looseObject({
  streak: nonNegativeInt,
  threshold: nonNegativeInt,
});

/** One entry of `run-summary.json`; the last entry is the current summary. */
export const RunSummaryEntrySchema = z.looseObject({
  run_id: optionalString,
  iteration: z.number().int().nullish(),
  started_at: optionalString,
  ended_at: optionalString,
  completion_ok: z.boolean().nullish(),
  gates: z.record(z.string(), z.unknown()).nullish(),
  stuck: z.record(z.string(), z.unknown()).nullish(),
});
export type RunSummaryEntry = z.infer<typeof RunSummaryEntrySchema>;

/** `.superloop/loops/<loop>/run-summary.json`. */
export const RunSummarySchema = z.looseObject({
  version: z.number().int().nullish(),
  loop_id: optionalString,
  updated_at: optionalString,
  entries: z.array(RunSummaryEntrySchema).default([]),
});
export type RunSummary = z.infer<typeof RunSummarySchema>;

/** Optional `.superloop/loops/<loop>/heartbeat.v1.json` (Superloop does not write it today). */
export const HeartbeatSchema = z.looseObject({
  timestamp: optionalString,
  updatedAt: optionalString,
  status: optionalString,
  stage: optionalString,
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

/** `.superloop/loops/<loop>/rate-limit.json`, written with `rate_limit_stop` (docs/runtime.md). */
export const RateLimitSchema = z.looseObject({
  loop_id: optionalString,
  run_id: optionalString,
  iteration: z.number().int().nullish(),
  role: optionalString,
  occurred_at: optionalString,
  info: z.looseObject({ message: optionalString, type: optionalString }).nullish(),
});
export type RateLimit = z.infer<typeof RateLimitSchema>;

/** `.superloop/loops/<loop>/stuck.json`: while it exists every later `run` refuses. */
export const StuckFileSchema = z.looseObject({
  streak: z.number().nullish(),
  threshold: z.number().nullish(),
  reason: optionalString,
  updated_at: optionalString,
});
export type StuckFile = z.infer<typeof StuckFileSchema>;

/** `.superloop/loops/<loop>/escalation.json`: a recovery the runtime wants a human to allow. */
export const EscalationSchema = z.looseObject({
  timestamp: optionalString,
  loop_id: optionalString,
  iteration: z.number().int().nullish(),
  type: optionalString,
  status: optionalString,
  recovery_proposal: z.unknown().optional(),
  reason: optionalString,
});
export type Escalation = z.infer<typeof EscalationSchema>;

/**
 * One line of `events.jsonl`. Strict where ingestion depends on it (a name in `event`, or `type` in older
 * files, and a `timestamp`), loose everywhere else.
 */
export const RawEventSchema = z
  .looseObject({
    timestamp: z.string().min(1, "timestamp must be a non-empty string"),
    event: z.string().min(1).optional(),
    type: z.string().min(1).optional(),
    loop_id: z.unknown().optional(),
    run_id: z.unknown().optional(),
    iteration: z.unknown().optional(),
    role: z.unknown().optional(),
    status: z.unknown().optional(),
    message: z.unknown().optional(),
    data: z.unknown().optional(),
  })
  .refine((value) => value.event !== undefined || value.type !== undefined, {
    error: "event name missing: expected `event` (or `type` in older files)",
    path: ["event"],
  });
export type RawEvent = z.infer<typeof RawEventSchema>;

/** Relative paths of the artifacts, as they appear in `artifacts.*.path` of a snapshot. */
export const artifactPaths = {
  superloopDir: ".superloop",
  loopsDir: ".superloop/loops",
  state: ".superloop/state.json",
  activeRun: ".superloop/active-run.json",
  loopDir: (loopId: string): string => `.superloop/loops/${loopId}`,
  events: (loopId: string): string => `.superloop/loops/${loopId}/events.jsonl`,
  runSummary: (loopId: string): string => `.superloop/loops/${loopId}/run-summary.json`,
  approval: (loopId: string): string => `.superloop/loops/${loopId}/approval.json`,
  heartbeat: (loopId: string): string => `.superloop/loops/${loopId}/heartbeat.v1.json`,
  rateLimit: (loopId: string): string => `.superloop/loops/${loopId}/rate-limit.json`,
  stuck: (loopId: string): string => `.superloop/loops/${loopId}/stuck.json`,
  escalation: (loopId: string): string => `.superloop/loops/${loopId}/escalation.json`,
} as const;
