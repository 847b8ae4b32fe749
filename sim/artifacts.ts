import { z } from "zod/mini";

// The shapes the simulator reads back from `.superloop/`: only the fields it looks at, everything else kept as
// is. A file of another shape reads as absent, as a missing one does.

/** A field the simulator looks at, of any JSON type, possibly missing (zod/mini keys are required otherwise). */
export const maybe = () => z.optional(z.unknown());

export const StateSchema = z.looseObject({ active: maybe(), current_loop_id: maybe(), iteration: maybe() });

export const ActiveRunSchema = z.looseObject({ pid: maybe(), pgid: maybe(), loop_id: maybe(), iteration: maybe(), stage: maybe() });

export const StuckSchema = z.looseObject({ threshold: maybe(), streak: maybe() });

/** approval.json: pending, or decided (approve writes the decision into it; the next `run` consumes it). */
export const ApprovalSchema = z.looseObject({
  status: maybe(),
  run_id: maybe(),
  iteration: maybe(),
  decision: maybe(),
  decided_at: maybe(),
  decided_by: maybe(),
  decided_note: maybe(),
});
export type ApprovalFile = z.infer<typeof ApprovalSchema>;

export const RunSummarySchema = z.looseObject({
  entries: z.array(z.looseObject({ gates: z.optional(z.record(z.string(), z.unknown())) })),
});
export type RunSummaryFile = z.infer<typeof RunSummarySchema>;
