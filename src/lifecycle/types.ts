// Plain-data inputs and outputs of the lifecycle projection. Nothing here reads files or clocks: the ingest
// pipeline builds `RunFacts` on every poll and the projection stays a pure function of it (invariant 1 of
// docs/architecture.md: the manager's state is a recomputable projection of runtime facts).

export type LifecycleState = "RUNNING" | "PAUSED" | "AWAITING_APPROVAL" | "COMPLETE" | "STOPPED" | "FAILED" | "IDLE" | "UNKNOWN";

export type SpriteStatus = "COLD" | "WARM" | "RUNNING" | "UNREACHABLE" | "MISSING" | "UNKNOWN";
export type IngestStatus = "OK" | "FORKED" | "ERROR";

/** `.superloop/state.json` as the projection needs it. Optional fields are also nullable: zod `nullish()` readers produce both. */
export interface StateFacts {
  active: boolean;
  current_loop_id?: string | null;
  iteration?: number | null;
  updated_at?: string | null;
}

export interface ActiveRunFacts {
  pid?: number | null;
  pgid?: number | null;
  loop_id?: string | null;
  iteration?: number | null;
  stage?: string | null;
  updated_at?: string | null;
}

export interface ApprovalFacts {
  status: string;
  run_id?: string | null;
  iteration?: number | null;
  requested_at?: string | null;
}

export interface SummaryFacts {
  run_id?: string | null;
  iteration?: number | null;
  completion_ok?: boolean | null;
  ended_at?: string | null;
  gates?: Record<string, unknown> | null;
  stuck?: { streak: number; threshold: number } | null;
}

export interface HeartbeatFacts {
  timestamp?: string | null;
  updatedAt?: string | null;
  status?: string | null;
  stage?: string | null;
}

/** The supervisor's record of a supervised START (agent/supervise.ts) and the Sprite's boot id now. */
export interface SupervisorLifecycleFacts {
  status: string;
  pid: number | null;
  bootId: string | null;
  currentBootId: string | null;
}

/** What the runtime's files say right now (null = file missing). */
export interface RuntimeFacts {
  loopDirExists: boolean;
  eventsFileExists: boolean;
  state: StateFacts | null;
  activeRun: ActiveRunFacts | null;
  /** pid liveness; null = cannot be checked (remote transport). */
  activeRunAlive: boolean | null;
  /** process group observed SIGSTOPped; null = unknown. */
  processStopped: boolean | null;
  approval: ApprovalFacts | null;
  /** the last entry of run-summary.json */
  lastSummary: SummaryFacts | null;
  heartbeat: HeartbeatFacts | null;
  /** absent/null: the run was not started under the supervisor */
  supervisor?: SupervisorLifecycleFacts | null;
  /** the process group a START launched (pid == pgid); absent where the transport does not report it */
  launch?: { pid: number; pgid: number; startedAt: string } | null;
  /** a process of that group is still this repo's `run` (command line checked); null = unknown */
  launchAlive?: boolean | null;
  /** loops/<loop>/rate-limit.json, written with `rate_limit_stop` */
  rateLimit?: RateLimitFacts | null;
  /** loops/<loop>/stuck.json: every later `run` refuses while it exists */
  stuck?: StuckFileFacts | null;
  /** loops/<loop>/escalation.json: a recovery the runtime wants a human to allow */
  escalation?: EscalationFacts | null;
  /** the loop's usage_check.max_wait_seconds when wait_on_limit is on (0 = forever); null = off */
  usageWaitMaxSeconds?: number | null;
  /** the boot the liveness check ran in (remote transports); a change means every pid from before is dead */
  bootId?: string | null;
}

export interface RateLimitFacts {
  role?: string | null;
  occurred_at?: string | null;
  message?: string | null;
  type?: string | null;
}

export interface StuckFileFacts {
  streak?: number | null;
  threshold?: number | null;
  reason?: string | null;
  updated_at?: string | null;
}

export interface EscalationFacts {
  timestamp?: string | null;
  iteration?: number | null;
  type?: string | null;
  status?: string | null;
  /** the command or action the runtime proposes, as text */
  proposal?: string | null;
  reason?: string | null;
}

export interface LastEventFacts {
  name: string;
  status: string | null;
  timestamp: string;
  runId: string | null;
  iteration: number | null;
}

/** What the ingested event log says (see `foldEventFacts`). */
export interface EventFacts {
  /** lines ingested so far */
  count: number;
  last: LastEventFacts | null;
  /** run id of the latest `loop_start`, else of the last event */
  latestRunId: string | null;
  /** timestamp of the latest `loop_start` */
  latestLoopStartAt: string | null;
  /** iteration of the latest `iteration_start`, else of the first event that carries one (loop_stop carries max+1) */
  latestIteration: number | null;
  /** timestamp of the last event that only happens while a loop is active (see `isActivePhaseEvent`) */
  lastActivePhaseEventAt: string | null;
  /** `data.reason` of the latest `loop_stop` (e.g. `max_iterations`, `stuck`) */
  stopReason: string | null;
}

/** What the manager itself knows from its own intents: never read from the Sprite. */
export interface ControlFacts {
  /** a cancel intent was accepted (command exit 0) and is not superseded by a later start */
  cancelAcceptedAt: string | null;
  /** a pause was confirmed and no resume since */
  pauseConfirmedAt: string | null;
  /** a start was dispatched and `loop_start` not yet observed */
  startDispatchedAt: string | null;
}

export interface IngestFacts {
  status: IngestStatus;
  error: string | null;
  regression: { storedLines: number; fileLines: number } | null;
}

export interface RunFacts {
  loopId: string;
  now: Date;
  runtime: RuntimeFacts;
  events: EventFacts;
  control: ControlFacts;
  ingest: IngestFacts;
  sprite: { status: SpriteStatus };
  /** a RUNNING run with no event for longer than `staleAfterMs` is flagged `stale` */
  thresholds: { staleAfterMs: number };
}

export interface Flag {
  evidence: Record<string, unknown>;
}

export interface Divergence {
  activeMismatch: Flag | null;
  approvalCompletionConflict: Flag | null;
  cursorRegression: Flag | null;
}

export type DivergenceFlagName = keyof Divergence;

export interface Projection {
  state: LifecycleState;
  /** machine-readable snake_case */
  reason: string;
  /** id of the rule that matched (see `LIFECYCLE_RULES`) */
  ruleId: string;
  runtimeRunId: string | null;
  iteration: number | null;
  divergence: Divergence;
  stale: boolean;
  /** the facts that decided the rule */
  evidence: Record<string, unknown>;
}

export interface LifecycleRule {
  id: string;
  state: LifecycleState;
  reason: string | ((facts: RunFacts) => string);
  /** how a computed reason is rendered in the doc */
  reasonDoc?: string;
  when: (facts: RunFacts) => boolean;
  /** human text for docs/lifecycle.md */
  describe: string;
  /**
   * Which facts it reads: comma-separated `RunFacts` paths. The same list is rendered in the doc and picked
   * into `Projection.evidence`, so what the doc says a rule reads is exactly what gets recorded.
   */
  facts: string;
}
