import { z } from "zod";

// The v1 wire contract between the runtime side (the in-Sprite agent, agent/) and the manager.
// Mirrors `ops-manager.contract.schema.json` (draft 2020-12): closed objects where the JSON Schema says
// `additionalProperties: false`, with one deliberate relaxation: `gates` keeps extra keys
// (`lifecycle` exists in real run summaries).

export const SCHEMA_VERSION = "v1" as const;
export const SEQUENCE_SOURCE = "cursor_event_line_offset" as const;

const nonNegativeInt = z.number().int().nonnegative();

export const SourceSchema = z.strictObject({
  repoPath: z.string().min(1),
  loopId: z.string().min(1),
});
export type Source = z.infer<typeof SourceSchema>;

export const SequenceSchema = z.strictObject({
  source: z.string().min(1),
  value: nonNegativeInt,
});
export type Sequence = z.infer<typeof SequenceSchema>;

export const ArtifactRefSchema = z.strictObject({
  path: z.string().min(1),
  exists: z.boolean(),
  sizeBytes: nonNegativeInt,
  lineCount: nonNegativeInt,
  sha256: z.string().nullable(),
  mtimeEpoch: z.number().int().nullable(),
});
export type ArtifactRef = z.infer<typeof ArtifactRefSchema>;

export const CursorSchema = z.strictObject({
  eventLineOffset: nonNegativeInt,
  eventLineCount: nonNegativeInt,
});
export type Cursor = z.infer<typeof CursorSchema>;

export const GatesSchema = z.looseObject({
  tests: z.string(),
  validation: z.string(),
  prerequisites: z.string(),
  checklist: z.string(),
  evidence: z.string(),
  approval: z.string(),
});
export type Gates = z.infer<typeof GatesSchema>;

export const StuckSchema = z.strictObject({
  streak: nonNegativeInt,
  threshold: nonNegativeInt,
});
export type Stuck = z.infer<typeof StuckSchema>;

export const RunStatusSchema = z.enum(["running", "awaiting_approval", "complete", "stopped", "failed", "idle", "unknown"]);
export type RunStatus = z.infer<typeof RunStatusSchema>;

export const RunRefSchema = z.strictObject({
  runId: z.string().min(1),
  iteration: nonNegativeInt,
});
export type RunRef = z.infer<typeof RunRefSchema>;

const jsonObject = z.record(z.string(), z.unknown());

export const EventBodySchema = z.strictObject({
  timestamp: z.string().min(1),
  name: z.string().min(1),
  role: z.string().nullable(),
  status: z.string().nullable(),
  message: z.string().nullable(),
  payload: jsonObject.nullable(),
  raw: jsonObject,
});
export type EventBody = z.infer<typeof EventBodySchema>;

const traceIdField = z.string().nullable().optional();

export const LoopRunEventSchema = z.strictObject({
  schemaVersion: z.literal(SCHEMA_VERSION),
  envelopeType: z.literal("loop_run_event"),
  emittedAt: z.iso.datetime({ offset: true }),
  traceId: traceIdField,
  source: SourceSchema,
  sequence: SequenceSchema,
  cursor: CursorSchema,
  run: RunRefSchema,
  event: EventBodySchema,
});
export type LoopRunEvent = z.infer<typeof LoopRunEventSchema>;

export const SnapshotRunSchema = z.strictObject({
  runId: z.string().min(1),
  iteration: nonNegativeInt,
  status: RunStatusSchema,
  summary: jsonObject.nullable(),
});

export const SnapshotRuntimeSchema = z.strictObject({
  superloopState: jsonObject.nullable(),
  activeRun: jsonObject.nullable(),
  approval: jsonObject.nullable(),
  heartbeat: jsonObject.nullable().optional(),
});

export const SnapshotArtifactsSchema = z.strictObject({
  events: ArtifactRefSchema,
  runSummary: ArtifactRefSchema,
  state: ArtifactRefSchema,
  activeRun: ArtifactRefSchema,
  approval: ArtifactRefSchema,
  heartbeat: ArtifactRefSchema.optional(),
});

export const SnapshotHealthSchema = z.strictObject({
  eventCount: nonNegativeInt,
  lastEventAt: z.string().nullable(),
  lastEventName: z.string().nullable(),
  lastSummaryAt: z.string().nullable(),
  hasPendingApproval: z.boolean(),
  gates: GatesSchema.nullable(),
  stuck: StuckSchema.nullable(),
});
export type SnapshotHealth = z.infer<typeof SnapshotHealthSchema>;

export const LoopRunSnapshotSchema = z.strictObject({
  schemaVersion: z.literal(SCHEMA_VERSION),
  envelopeType: z.literal("loop_run_snapshot"),
  emittedAt: z.iso.datetime({ offset: true }),
  traceId: traceIdField,
  source: SourceSchema,
  sequence: SequenceSchema,
  run: SnapshotRunSchema,
  runtime: SnapshotRuntimeSchema,
  artifacts: SnapshotArtifactsSchema,
  cursor: CursorSchema,
  health: SnapshotHealthSchema,
});
export type LoopRunSnapshot = z.infer<typeof LoopRunSnapshotSchema>;

export const EnvelopeSchema = z.discriminatedUnion("envelopeType", [LoopRunSnapshotSchema, LoopRunEventSchema]);
export type Envelope = z.infer<typeof EnvelopeSchema>;
