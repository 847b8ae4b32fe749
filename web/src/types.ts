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
}

export interface Fleet {
  sprites: number;
  runs: number;
  needsIntervention: number;
  byState: { state: string; count: number }[];
  byHealth: { status: string; count: number }[];
}

export interface Intervention {
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
  divergence: { open: boolean };
  transitions: { edges: { node: Transition }[] };
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
