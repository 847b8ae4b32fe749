import { z } from "zod";
import { ActiveRunSchema, ApprovalSchema, EscalationSchema, HeartbeatSchema, RateLimitSchema, RunSummaryEntrySchema, StuckFileSchema, SuperloopStateSchema } from "./artifacts";
import { LoopRunEventSchema, SCHEMA_VERSION, SourceSchema } from "./v1";

// Request and response shapes of the sprite agent HTTP service (`/healthz`, `/ops/*`), wire-compatible with
// the earlier Python service: old clients send `cursor`/`maxEvents` only and read
// `eventLineOffset`/`eventLineCount`; new clients also send `byteOffset`/`lastLineHash` back.

/** A loop id is a plain directory name: never a path, never `.`/`..`. */
export const LOOP_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const LoopIdSchema = z
  .string()
  .regex(LOOP_ID_PATTERN, "loopId must match /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/")
  .refine((value) => value !== "." && value !== "..", "loopId must not be '.' or '..'");

export const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/;

export const ControlIntentSchema = z.enum(["cancel", "approve", "reject", "pause", "resume", "start"]);
export type ControlIntent = z.infer<typeof ControlIntentSchema>;

export const ErrorBodySchema = z.looseObject({
  code: z.string().min(1),
  message: z.string(),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

export const ErrorResponseSchema = z.looseObject({
  ok: z.literal(false),
  error: ErrorBodySchema,
});
export type ErrorResponse = z.infer<typeof ErrorResponseSchema>;

const intFromQuery = z
  .string()
  .regex(/^\d{1,15}$/, "must be a non-negative integer")
  .transform((value) => Number(value));

// Query and body schemas strip unknown keys instead of rejecting them: old clients may send extras.
export const SnapshotQuerySchema = z.object({
  loopId: LoopIdSchema,
});

export const FactsQuerySchema = SnapshotQuerySchema;

export const EventsQuerySchema = z
  .object({
    loopId: LoopIdSchema,
    cursor: intFromQuery.optional(),
    maxEvents: intFromQuery.optional(),
    byteOffset: intFromQuery.optional(),
    lastLineHash: z.string().regex(SHA256_HEX_PATTERN, "lastLineHash must be 64 lowercase hex characters").optional(),
    waitMs: intFromQuery.optional(),
    /** `1`: also return each event's exact line text (`lines`), for byte-exact parity with the local transport. */
    includeLines: z.enum(["0", "1", "true", "false"]).optional(),
  })
  .refine((q) => q.lastLineHash === undefined || q.byteOffset !== undefined, {
    error: "lastLineHash needs byteOffset",
    path: ["lastLineHash"],
  });
export type EventsQuery = z.infer<typeof EventsQuerySchema>;

/** The cursor a page of events ends at; its fields feed the next request (`cursor`, `byteOffset`, `lastLineHash`). */
export const EventsResponseCursorSchema = z.strictObject({
  eventLineOffset: z.number().int().nonnegative(),
  eventLineCount: z.number().int().nonnegative(),
  byteOffset: z.number().int().nonnegative(),
  lastLineHash: z.string().nullable(),
  pendingBytes: z.number().int().nonnegative(),
  updatedAt: z.string(),
});
export type EventsResponseCursor = z.infer<typeof EventsResponseCursorSchema>;

export const EventsResponseSchema = z.looseObject({
  ok: z.literal(true),
  schemaVersion: z.literal(SCHEMA_VERSION),
  traceId: z.string().nullable().optional(),
  source: SourceSchema,
  events: z.array(LoopRunEventSchema),
  cursor: EventsResponseCursorSchema,
  hasMore: z.boolean().optional(),
  eventsFileExists: z.boolean().optional(),
  eventLineCountExact: z.boolean().optional(),
  /** events.jsonl as seen by this read (stop point of the page). */
  file: z.object({ size: z.number().int().nonnegative(), mtimeMs: z.number().nonnegative() }).optional(),
  /** Only with `includeLines=1`: the exact text of each event's line, same order as `events`. */
  lines: z.array(z.string()).optional(),
  error: z.looseObject({ code: z.string(), message: z.string(), line: z.number().int().positive().optional() }).optional(),
});
export type EventsResponse = z.infer<typeof EventsResponseSchema>;

export const ControlRequestSchema = z.object({
  loopId: LoopIdSchema,
  intent: z.string().min(1),
  by: z.string().min(1).max(200).optional(),
  note: z.string().max(4000).optional(),
  idempotencyKey: z.string().min(1).max(200).optional(),
  noConfirm: z.boolean().optional(),
  traceId: z.string().max(256).optional(),
});
export type ControlRequest = z.infer<typeof ControlRequestSchema>;

export const ControlResultSchema = z.object({
  ok: z.boolean(),
  intent: ControlIntentSchema,
  argv: z.array(z.string()).nullable(),
  exitCode: z.number().int().nullable(),
  signal: z.string().optional(),
  pid: z.number().int().optional(),
  stdout: z.string(),
  stderr: z.string(),
  logFile: z.string().optional(),
  verified: z.object({ processStopped: z.boolean().optional(), runGone: z.boolean().optional() }).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type ControlResult = z.infer<typeof ControlResultSchema>;

export const ControlResponseSchema = z.looseObject({
  ok: z.boolean(),
  intent: ControlIntentSchema,
  result: ControlResultSchema,
  replayed: z.boolean(),
  traceId: z.string().nullable(),
  error: ErrorBodySchema.optional(),
});
export type ControlResponse = z.infer<typeof ControlResponseSchema>;

/**
 * The agent ↔ manager wire protocol (`/healthz`, `/ops/*` shapes and semantics). It changes only when a change is
 * not backward-compatible; optional fields added to answers do not change it. An agent reports it in `/healthz`
 * (`agentProtocol`, with its build in `agentVersion`); agents from before versioning report nothing and speak 1.
 */
export const AGENT_PROTOCOL = 1;
/** The protocols this manager can talk to: any other is refused with the `agent_incompatible` health reason. */
export const ACCEPTED_AGENT_PROTOCOLS: readonly number[] = [1];
/** The agent's build, reported next to the protocol in /healthz. */
export const AGENT_VERSION = "0.1.0";

export const HealthResponseSchema = z.looseObject({
  ok: z.literal(true),
  agentProtocol: z.number().int().nonnegative().optional(),
  agentVersion: z.string().optional(),
});
export type HealthResponse = z.infer<typeof HealthResponseSchema>;

/** A short, printable version text from a peer (anything else is shown as "unknown": peer text is withheld). */
const VERSION_TEXT = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,39}$/;

/** Whether the agent that answered `/healthz` speaks a protocol this manager accepts; null = compatible. */
export function agentIncompatibility(health: HealthResponse): string | null {
  const protocol = health.agentProtocol ?? 1;
  if (ACCEPTED_AGENT_PROTOCOLS.includes(protocol)) return null;
  const version = typeof health.agentVersion === "string" && VERSION_TEXT.test(health.agentVersion) ? health.agentVersion : "unknown";
  const accepted = ACCEPTED_AGENT_PROTOCOLS.join(", ");
  return `the agent speaks protocol ${protocol} (agent version ${version}); this manager accepts protocol ${accepted} (agent version ${AGENT_VERSION}): install the matching agent (npm run build:agent) or upgrade the manager`;
}

/**
 * The record `superloop-ops-agent supervise` keeps next to a loop's artifacts (agent/supervise.ts writes it
 * without zod, so it can ship as one small file; everything that reads it parses it with this schema).
 */
export const SupervisorRecordSchema = z.looseObject({
  version: z.literal(1),
  status: z.enum(["starting", "running", "exited", "spawn_failed"]),
  loopId: z.string(),
  supervisorPid: z.number().int(),
  bootId: z.string().nullable(),
  pid: z.number().int().nullable(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  task: z.looseObject({ name: z.string(), held: z.boolean(), lastRefreshAt: z.string().nullable(), released: z.boolean(), error: z.string().nullable() }),
});
export type SupervisorRecord = z.infer<typeof SupervisorRecordSchema>;

/** What the manager needs of that record, with the boot id the Sprite has now (a different one: it slept cold). */
export const SupervisorFactsSchema = z.object({
  status: z.string(),
  pid: z.number().int().nullable(),
  exitCode: z.number().int().nullable(),
  bootId: z.string().nullable(),
  currentBootId: z.string().nullable(),
  startedAt: z.string(),
  taskHeld: z.boolean(),
  taskReleased: z.boolean(),
});
export type SupervisorFacts = z.infer<typeof SupervisorFactsSchema>;

/** What `readRuntimeFacts` returns; `GET /ops/facts` carries it for the remote transports. */
export const RuntimeFactsSchema = z.object({
  state: SuperloopStateSchema.nullable(),
  activeRun: ActiveRunSchema.nullable(),
  activeRunAlive: z.boolean().nullable(),
  processStopped: z.boolean().nullable(),
  approval: ApprovalSchema.nullable(),
  lastSummary: RunSummaryEntrySchema.nullable(),
  heartbeat: HeartbeatSchema.nullable(),
  eventsFileExists: z.boolean(),
  loopDirExists: z.boolean(),
  // Added for the runtime edges of docs/runtime.md; optional so an older agent's answer still parses.
  launch: z.object({ pid: z.number().int(), pgid: z.number().int(), startedAt: z.string() }).nullable().optional(),
  launchAlive: z.boolean().nullable().optional(),
  rateLimit: RateLimitSchema.nullable().optional(),
  stuck: StuckFileSchema.nullable().optional(),
  escalation: EscalationSchema.nullable().optional(),
  usageWaitMaxSeconds: z.number().nullable().optional(),
  /** Optional: agents older than the supervisor do not send it. */
  supervisor: SupervisorFactsSchema.nullable().optional(),
});

export const EventsStatSchema = z.object({
  exists: z.boolean(),
  size: z.number().int().nonnegative(),
  mtimeMs: z.number().nonnegative(),
});

export const FactsResponseSchema = z.looseObject({
  ok: z.literal(true),
  schemaVersion: z.literal(SCHEMA_VERSION),
  traceId: z.string().nullable().optional(),
  source: SourceSchema,
  facts: RuntimeFactsSchema,
  eventsStat: EventsStatSchema,
});
export type FactsResponse = z.infer<typeof FactsResponseSchema>;
