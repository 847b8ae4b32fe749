import type { Closable } from "../pubsub/subscription-scope";

// Operators watching a run's event feed (a runEvents subscription). A Sprite is billed while awake, so the poller
// keeps one awake only for a live run or while someone watches one of its runs, and never otherwise
// (docs/sprites.md, cost-aware polling). Subscriptions register here and release on close; the poller only asks
// "is this run watched?" and hears when the answer changes. One process's view: in a cluster, the replica
// serving the subscription and the one polling the run may differ (then the poller's own rules apply).

export interface WatchedRuns {
  isWatched(runId: string): boolean;
  /** Called when a run gains its first watcher or loses its last one; returns an unsubscribe. */
  onChange(listener: (runId: string, watched: boolean) => void): () => void;
}

export class RunWatchers implements WatchedRuns {
  private readonly counts = new Map<string, number>();
  private readonly listeners = new Set<(runId: string, watched: boolean) => void>();

  /** One watcher of `runId` until close() (idempotent: a subscription may be closed by both its scope and its end). */
  watch(runId: string): Closable {
    const n = this.counts.get(runId) ?? 0;
    this.counts.set(runId, n + 1);
    if (n === 0) this.emit(runId, true);
    let open = true;
    return {
      close: () => {
        if (!open) return;
        open = false;
        const left = (this.counts.get(runId) ?? 1) - 1;
        if (left > 0) this.counts.set(runId, left);
        else {
          this.counts.delete(runId);
          this.emit(runId, false);
        }
      },
    };
  }

  isWatched(runId: string): boolean {
    return (this.counts.get(runId) ?? 0) > 0;
  }

  /** How many watch a run (tests, metrics). */
  count(runId: string): number {
    return this.counts.get(runId) ?? 0;
  }

  onChange(listener: (runId: string, watched: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(runId: string, watched: boolean): void {
    for (const l of this.listeners) l(runId, watched);
  }
}
