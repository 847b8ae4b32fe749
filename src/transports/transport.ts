import type { ControlResult, EventCursor, EventsPage, LoopRunEvent, MappedEventsPage, RuntimeFacts } from "../contract";
import type { SpriteStatus, TransportKind } from "../generated/prisma/enums";

// One interface for the three ways a run is observed (invariant 6 of docs/architecture.md): the same files must give
// the same envelopes, facts and control results whichever transport carried them.

export interface RunTarget {
  runId: string;
  spriteName: string;
  repoPath: string;
  loopId: string;
}

export type ControlIntentName = "cancel" | "approve" | "reject" | "pause" | "resume" | "start";

export interface ControlRequest {
  intent: ControlIntentName;
  by: string;
  note?: string | null;
  idempotencyKey: string;
  traceId: string;
}

export interface SpriteObservation {
  status: SpriteStatus;
  detail?: string;
  /** Labels, when the status source has them (the Sprites API). */
  labels?: string[];
  /** The Sprite's agent answers but speaks a protocol this manager does not accept: nothing is read from it. */
  incompatible?: string;
}

export interface WatchOptions {
  active?: () => boolean;
}

export interface Transport {
  readonly kind: TransportKind;
  spriteStatus(target: RunTarget): Promise<SpriteObservation>;
  /**
   * A cheap fingerprint of everything the run's projection reads (sizes, mtimes, liveness). The poller skips
   * the full read when it equals the previous one. null = the transport cannot tell cheaply.
   */
  fingerprint(target: RunTarget): Promise<string | null>;
  readFacts(target: RunTarget): Promise<RuntimeFacts>;
  /** Complete lines after the cursor; `waitMs` lets a remote agent hold the request until a line lands. */
  readEvents(target: RunTarget, cursor: EventCursor, limit: number, waitMs?: number): Promise<EventsPage>;
  /**
   * The same page, each line's envelope handed to `map` as the line is read, the page keeping only what `map`
   * returns: only a transport that reads the files in this process has it (a page of envelopes would cost it
   * more than the rows made of them). What `map` throws ends the read and is the caller's. Having it also says
   * the files are at the target's repoPath on this machine: a catch-up reads its later pages there on the
   * packing thread, with the same reader (src/events/page-rows.ts).
   */
  readEventsMapped?<T>(target: RunTarget, cursor: EventCursor, limit: number, map: (envelope: LoopRunEvent, text: string) => T): Promise<MappedEventsPage<T>>;
  control(target: RunTarget, request: ControlRequest): Promise<ControlResult>;
  /**
   * Calls `onChange` soon after the run's files change; returns an unsubscribe. `active` says whether the
   * manager wants the Sprite kept awake now: a transport whose watching is activity in the Sprite (the
   * SPRITE_SERVICE long poll) watches only while it is true.
   */
  watch?(target: RunTarget, onChange: () => void, opts?: WatchOptions): () => void;
  /**
   * After a fork: whether the Sprite's files were rewound by a checkpoint restore after `since` (the Sprites API
   * knows; see sprite-checkpoints.ts). null = no restore known; absent = the transport cannot tell.
   */
  restoredSince?(target: RunTarget, since: Date): Promise<{ checkpointId: string; restoredAt: string } | null>;
  /** Milliseconds of Sprite awake time the requests since the last call caused (see AwakeMeter). */
  takeAwakeMs?(): number;
  close?(): Promise<void>;
}

export class TransportError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
