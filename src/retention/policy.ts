import { z } from "zod";

// Pure: how many of a run's events retention may prune. A run's stored events are always the contiguous lines
// `eventsRetainedFrom .. cursorLine`; pruning only ever removes a prefix, so what a client pages through has
// one gap at most, at the start, and `Run.eventsRetainedFrom` says where history begins.

export const retentionPolicySchema = z
  .strictObject({
    /** events whose runtime timestamp is older than this many days (the oldest prefix of them) are pruned */
    maxAgeDays: z.number().positive().max(36_500).optional(),
    /** at most this many of a run's latest events are kept */
    maxEventsPerRun: z.number().int().min(1).max(1_000_000_000).optional(),
  })
  .describe("event retention: age and/or count per run; an empty policy keeps everything");
export type RetentionPolicy = z.infer<typeof retentionPolicySchema>;

/** The policy that applies to a Sprite's runs: its own if it has one, else the fleet's. */
export function effectivePolicy(fleet: RetentionPolicy | null, sprite: RetentionPolicy | null): RetentionPolicy | null {
  const policy = sprite ?? fleet;
  if (!policy || (policy.maxAgeDays === undefined && policy.maxEventsPerRun === undefined)) return null;
  return policy;
}

/** What pruning one run may not touch. */
export interface RunGuard {
  /** the last ingested line: its event is always kept (the cursor's line, compared on a fork) */
  cursorLine: number;
  /** the run's ingest is FORKED or ERROR: nothing is pruned until an operator resolves it */
  ingestUnresolved: boolean;
  /**
   * Open control intents (REQUESTED, DISPATCHED, ACCEPTED): each still reads every stored line after its
   * `observedLine` as evidence (null: after the cursor when it is dispatched, so after today's cursor at most).
   */
  openIntents: readonly { observedLine: number | null }[];
}

/** The first line retention must keep. Lines before it may go; never the cursor's line nor an intent's evidence. */
export function keepFrom(policy: RetentionPolicy, guard: RunGuard, firstYoungLine: number | null): number {
  if (guard.ingestUnresolved || guard.cursorLine === 0) return 1;
  let from = 1;
  if (policy.maxEventsPerRun !== undefined) from = Math.max(from, guard.cursorLine - policy.maxEventsPerRun + 1);
  // firstYoungLine: the first line whose timestamp is within maxAgeDays (null: none is, all are old)
  if (policy.maxAgeDays !== undefined) from = Math.max(from, firstYoungLine ?? guard.cursorLine + 1);
  from = Math.min(from, guard.cursorLine);
  for (const intent of guard.openIntents) from = Math.min(from, (intent.observedLine ?? guard.cursorLine) + 1);
  return Math.max(1, from);
}

/** The age cutoff of a policy at `now` (events with an older timestamp are old), or null without an age limit. */
export function ageCutoff(policy: RetentionPolicy, now: Date): Date | null {
  return policy.maxAgeDays === undefined ? null : new Date(now.getTime() - policy.maxAgeDays * 86_400_000);
}
