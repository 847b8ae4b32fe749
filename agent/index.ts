// Public surface of the in-Sprite agent's readers: the manager's `local` transport calls these in-process; the sprite
// agent (agent-server.ts, cli.ts) serves the same functions over HTTP. Imports only src/contract and node
// built-ins so the agent bundles into one file.

export { AdapterError, ADAPTER_ERROR_CODES, httpStatusFor, isAdapterError, type AdapterErrorCode } from "../src/contract";
export { assertLoopId, loopPaths, type LoopPaths } from "./paths";
export { MAX_LINE_BYTES } from "./limits";
export { sha256Hex } from "./file-io";
export { readJsonArtifact, readLoopArtifacts, lastSummaryEntry, type JsonArtifact, type LoopArtifacts } from "./artifacts";
export { envelopeFromLine, parseEventLine, eventName, iterationOf, type EnvelopeFromLineOptions, type ParsedLine } from "./event-envelope";
export {
  readEventsAfter,
  readEventsMapped,
  type MappedEventsPage,
  statEvents,
  cursorForkError,
  pageWithoutEventsFile,
  MAX_PAGE_LIMIT,
  type EventCursor,
  type LineOnlyCursor,
  type PageCursor,
  type EventsPage,
  type EventsPageError,
  type ReadEventsOptions,
} from "./events-reader";
export { baselineStatus, type BaselineInputs } from "./baseline-status";
export { readSnapshot, readSnapshotWithCursor, resolveRunId, resolveIteration, type ReadSnapshotOptions, type SnapshotWithCursor } from "./snapshot";
export { readRuntimeFacts, type RuntimeFacts } from "./runtime-facts";
export { isProcessAlive, isProcessStopped, readProcStat, type ProcStat } from "./process-info";
export { executeControl, buildControlArgv, parseIntent, defaultSuperloopBin, DEFAULT_CONTROL_TIMEOUT_MS, type ExecuteControlOptions, type ControlIntent, type ControlResult } from "./control";
export { IdempotencyStore, DEFAULT_MAX_IDEMPOTENCY_KEYS, type StoredResponse, type IdempotencyOutcome } from "./idempotency-store";
export { createAgentServer, tokenMatches, DEFAULT_MAX_EVENTS, MAX_EVENTS_CAP, DEFAULT_MAX_WAIT_MS, type AgentServer, type AgentServerOptions } from "./agent-server";
export { waitForFileChange, type WaitForChangeOptions, type WaitOutcome, type FileState } from "./wait-for-change";
