import type { SpriteStatus, TransportKind } from "../generated/prisma/enums";

// Cost-aware polling (docs/sprites.md): a Sprite is billed while awake, and every fs/exec request (SPRITES_API)
// or request to the agent (SPRITE_SERVICE, its long poll above all) is activity that keeps it awake. The manager
// keeps a Sprite awake only while its run is live (RUNNING, PAUSED, an intent in flight) or an operator watches
// the run's event feed, and never reads a WARM or COLD Sprite's files (that would wake it just to look). The
// decisions here are pure; the ingestor applies them.

/**
 * A Sprite that is not kept awake but is awake for someone else's reasons is re-read this rarely: each read
 * keeps it awake for another idle period (~30 s), which is what the manager would bill its owner for.
 */
export const IDLE_SPRITE_RECHECK_MS = 10 * 60_000;

export interface PollSituation {
  transport: TransportKind;
  /** Live or watched: the manager means to keep the Sprite awake. */
  keepAwake: boolean;
  /** Something outside the poller changed the run (a sync, an intent, a Sprite update, a wake). */
  dirty: boolean;
  transportFailures: number;
  /** When the run's files were last read (ms since the epoch). */
  lastReadAt: number;
  now: number;
}

function recheckNotDue(s: PollSituation): boolean {
  if (s.keepAwake || s.dirty || s.transportFailures > 0) return false;
  return s.now - s.lastReadAt < IDLE_SPRITE_RECHECK_MS;
}

/**
 * Before any request: whether to send nothing at all. Only SPRITE_SERVICE needs this: it has no status source
 * outside the Sprite (its /healthz reaches the Sprite like everything else), so a run neither live nor watched
 * (complete, stopped, failed, awaiting approval) on a Sprite last seen RUNNING gets no request until the recheck.
 */
export function sendNothing(s: PollSituation, lastStatus: SpriteStatus): boolean {
  return s.transport === "SPRITE_SERVICE" && lastStatus === "RUNNING" && recheckNotDue(s);
}

/**
 * After the status poll: whether to stop there, without reading the files. A hibernated Sprite is never read;
 * over SPRITES_API (whose status read, GET /v1/sprites/{name}, is not activity) an awake Sprite is read only while
 * kept awake, after a change or a failure, or at the recheck.
 */
export function statusOnly(s: PollSituation, status: SpriteStatus): boolean {
  if (status === "COLD" || status === "WARM") return true;
  if (s.transport !== "SPRITES_API" || status !== "RUNNING") return false;
  return recheckNotDue(s);
}
