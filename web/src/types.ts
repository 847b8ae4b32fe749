// Response shapes of the documents in queries.ts (only the fields asked for).

export interface HealthReason {
  code: string;
  severity: string;
  message: string;
  since: string;
}
export interface Health {
  status: string;
  reasons: HealthReason[];
}
export interface SpriteRef {
  name: string;
  transport?: string;
  status?: string;
}

export interface GateResult {
  name: string;
  status?: string;
  verdict: string;
}

export interface SignOff {
  allGreen: boolean;
  approvalSkipped: boolean;
  promiseMatched: boolean | null;
  promiseExpected?: string | null;
  testsMode?: string | null;
  completionOk?: boolean | null;
  gates: GateResult[];
  approval?: { status: string; by: string | null; note: string | null; at: string | null; source: string } | null;
}

export interface StateSpan {
  state: string;
  from: string;
  to: string | null;
}

export interface RunRow {
  id: string;
  loopId: string;
  state: string;
  stateReason: string;
  stateSince: string;
  iteration: number | null;
  lastEventName: string | null;
  lastEventAt: string | null;
  health: Health;
  sprite: SpriteRef;
  // history fields: absent on servers without them
  restartCount?: number;
  maxIterations?: number | null;
  signOff?: SignOff | null;
  eventRate?: number[];
  stateSpans?: StateSpan[];
}

export interface Attempt {
  index: number;
  runtimeRunId: string | null;
  startedAt: string;
  endedAt: string | null;
  outcome: string;
  stopReason: string | null;
  stoppedBy: string | null;
  startedBy: string;
  intentKind: string | null;
  restart: boolean;
  firstIteration: number | null;
  lastIteration: number | null;
  maxIterations: number | null;
}

export interface RoleSpanRow {
  attempt: number;
  iteration: number | null;
  role: string;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  status: string;
}

export interface Fleet {
  sprites: number;
  runs: number;
  needsIntervention: number;
  byState: { state: string; count: number }[];
  byHealth: { status: string; count: number }[];
}

export interface Acknowledgement {
  kind: string;
  by: string;
  note: string | null;
  until: string | null;
  createdAt: string;
}

export interface Intervention {
  acknowledgement?: Acknowledgement | null;
  severity: string;
  since: string;
  suggestedActions: string[];
  reasons: HealthReason[];
  run: { id: string; loopId: string; state: string; stateReason: string; iteration: number | null; sprite: SpriteRef; ingest: { status: string } };
}

export interface InterventionChange {
  runId: string;
  seq: number;
  intervention: Intervention | null;
}

export interface Transition {
  id: string;
  seq: number;
  from: string | null;
  to: string;
  reason: string;
  trigger: string;
  actor: string | null;
  at: string;
}

export interface RunDetail extends RunRow {
  __typename: "Run";
  repoPath: string;
  runtimeRunId: string | null;
  seq: number;
  approval: unknown;
  ingest: { status: string; cursorLine: number; lastError: string | null };
  /** the first stored event line: earlier ones were pruned by retention or after archiving */
  eventsRetainedFrom: number;
  archive: { file: string; lines: number } | null;
  divergence: { open: boolean };
  transitions: { edges: { node: Transition }[] };
  attempts: Attempt[];
  roleSpans: RoleSpanRow[];
  restartCount: number;
  maxIterations: number | null;
  signOff: SignOff | null;
}

export interface Resolved {
  at: string;
  kind: string;
  by: string;
  note: string | null;
  until: string | null;
  outcome: string;
  run: { id: string; loopId: string; state: string; stateReason: string; sprite: SpriteRef } | null;
}

export interface SpriteRow {
  name: string;
  transport: string;
  status: string;
  controlMode: string;
  pollIntervalMs: number | null;
  healthProfile: string;
  agentUrl: string | null;
  agentTokenEnv: string | null;
  spritesApiName: string | null;
  runs: { edges: { node: { id: string; loopId: string; repoPath: string; state: string } }[] };
}

export interface IntentStage {
  stage: string;
  at: string;
  observation: string;
}

export interface Intent {
  id: string;
  kind: string;
  stage: string;
  terminal: boolean;
  stages: IntentStage[];
  requestedBy: string;
  note: string | null;
  error: string | null;
  resumeAfterApprove: boolean;
  requestedAt: string;
  updatedAt: string;
}
