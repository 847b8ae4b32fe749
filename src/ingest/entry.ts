import type { Sprite } from "../generated/prisma/client";
import type { RunTarget, Transport } from "../transports/transport";

// What the poller keeps per run between polls, and small helpers its parts share (src/ingest/ingestor.ts,
// poll-read.ts, poll-commit.ts).

/** Lease fencing (scale-out): the owner and token a commit must still hold. */
export type Fence = { owner: string; token: number } | null;

export interface Entry {
  runId: string;
  target: RunTarget;
  transport: Transport;
  sprite: Sprite;
  lastFingerprint: string | null;
  dirty: boolean;
  transportFailures: number;
  /** Polls in a row that failed with something else than a transport problem (see pollFailed). */
  pollFailures: number;
  /** The last transport failure's message, shown in the transport_unreachable health reason. */
  lastTransportError?: string | null;
  /** A Sprite status change not yet recorded as a transition of this run. */
  spriteChange?: { from: Sprite["status"]; to: Sprite["status"]; detail: string | null } | null;
  /** Whether the last evaluation depends on the clock (running, open intents, unhealthy): then even an
   * unchanged fingerprint needs a re-evaluation (staleness, deadlines). */
  timeSensitive: boolean;
  /** A run the manager keeps its Sprite awake for: RUNNING or PAUSED, or an open intent. */
  live: boolean;
  /** When this poller last read the run's files (fingerprint or facts). */
  lastReadAt: number;
  unwatch: (() => void) | null;
}

export const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An error as one short line for a viewer-readable field: first line, no control characters, bounded. */
export function oneLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const first =
    text
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l && !/^Invalid `.*` invocation/.test(l)) ?? text;
  // eslint-disable-next-line no-control-regex -- a database error shown to operators: control characters become spaces
  return first.replace(/[\u0000-\u001f\u007f]/g, " ").slice(0, 300);
}
