import type pg from "pg";
import type { Logger } from "../util/log";

// Work distribution: each run is polled by exactly one replica, the holder of its "RunLease" row. A lease is
// acquired only when free or expired (token + 1 on every change of owner: the ingest commit checks owner and
// token, so a replica that lost its lease without noticing cannot write), renewed every OPS_LEASE_RENEW_MS
// and lost OPS_LEASE_TTL_MS after the last renewal. Balance: a replica holds at most
// ceil(runs / live replicas) + slack; above that it hands leases back so newcomers get a share.
// All times are the database's clock (now()), so replicas' clocks never need to agree.

export interface LeaseOptions {
  pool: pg.Pool;
  replicaId: string;
  ttlMs: number;
  renewMs: number;
  slack: number;
  /**
   * Leases taken per round at most (default ACQUIRE_BATCH); the next round follows at once while more are
   * free. Every run taken starts polling at once (its first poll reads its whole history), so one replica
   * starting among 30,000 free runs takes them in steps instead of flooding its connection pool with all.
   */
  acquireBatch?: number;
  log: Logger;
  /** Runs this replica now holds (start polling them). */
  onAcquired: (runIds: string[]) => void;
  /** Runs it no longer holds (stop polling them before anyone else may start). */
  onLost: (runIds: string[]) => void;
  /** After shedding leases: tell the other replicas to pick them up now rather than at their next round. */
  announceReleased: () => Promise<void>;
}

export interface LeaseStatus {
  replicaId: string;
  held: number;
  liveReplicas: number;
  runs: number;
  target: number;
  lastRoundAt: string | null;
  lastError: string | null;
}

/** See LeaseOptions.acquireBatch. */
export const ACQUIRE_BATCH = 1000;
/** Between acquisition rounds: the runs just taken load and queue their first polls meanwhile. */
const ACQUIRE_PAUSE_MS = 200;

interface Held {
  token: number;
  /** performance.now() until which we trust the lease without asking the database (a margin before expiry) */
  validUntil: number;
  /** performance.now() when taken: a renewal that started before this cannot have seen it */
  since: number;
}

// Candidates are picked at random (replicas acquiring at once rarely want the same runs) but locked in id order:
// two replicas inserting overlapping sets in different orders would deadlock on each other's rows.
const ACQUIRE = `WITH candidates AS (
  SELECT r.id FROM "Run" r LEFT JOIN "RunLease" l ON l."runId" = r.id
   WHERE r."removedAt" IS NULL AND (l."runId" IS NULL OR l."expiresAt" <= now())
     AND ($3::text[] IS NULL OR r.id = ANY($3::text[]))
   ORDER BY random() LIMIT $2
)
INSERT INTO "RunLease" ("runId", owner, token, "expiresAt")
SELECT id, $1, 1, now() + make_interval(secs => $4::double precision / 1000) FROM candidates ORDER BY id
ON CONFLICT ("runId") DO UPDATE SET owner = EXCLUDED.owner, token = "RunLease".token + 1, "expiresAt" = EXCLUDED."expiresAt"
 WHERE "RunLease"."expiresAt" <= now()
RETURNING "runId", token`;

export class LeaseManager {
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private soon: NodeJS.Timeout | null = null;
  private stopped = false;
  private liveReplicas = 1;
  private runs = 0;
  private lastRoundAt: Date | null = null;
  private lastError: string | null = null;

  constructor(private readonly opts: LeaseOptions) {}

  get replicaId(): string {
    return this.opts.replicaId;
  }

  /** The fence for an ingest commit, or null when this replica must not poll the run. */
  fence(runId: string): { owner: string; token: number } | null {
    const h = this.held.get(runId);
    if (!h || performance.now() > h.validUntil) return null;
    return { owner: this.opts.replicaId, token: h.token };
  }

  isHolder(runId: string): boolean {
    return this.fence(runId) !== null;
  }

  heldRunIds(): string[] {
    return [...this.held.keys()];
  }

  status(): LeaseStatus {
    return {
      replicaId: this.opts.replicaId,
      held: this.held.size,
      liveReplicas: this.liveReplicas,
      runs: this.runs,
      target: this.target(),
      lastRoundAt: this.lastRoundAt?.toISOString() ?? null,
      lastError: this.lastError,
    };
  }

  async start(): Promise<void> {
    await this.round();
    this.timer = setInterval(() => this.requestRound(0), this.opts.renewMs);
    this.timer.unref();
  }

  /** Run a round soon (debounced): another replica released leases, joined, or a run appeared. */
  requestRound(delayMs = 20): void {
    if (this.stopped) return;
    if (delayMs === 0) {
      void this.round();
      return;
    }
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      void this.round();
    }, delayMs);
    this.soon.unref();
  }

  /** Try to take one run right away (it was just registered here), if that keeps this replica within its share. */
  async tryAcquire(runId: string): Promise<boolean> {
    if (this.stopped) return false;
    if (this.held.has(runId)) return true;
    this.runs++;
    if (this.held.size >= this.target()) {
      this.requestRound();
      return false;
    }
    const t0 = performance.now();
    const got = await this.opts.pool.query<{ runId: string; token: number }>(ACQUIRE, [this.opts.replicaId, 1, [runId], this.opts.ttlMs]);
    this.take(got.rows, t0);
    return this.held.has(runId);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    await this.running?.catch(() => {});
  }

  /**
   * Graceful shutdown, after polling stopped: expire our leases at once (keeping their rows, so the next
   * owner's token still grows) and leave the replica table, so the others take over without waiting for TTL.
   */
  async releaseAll(): Promise<number> {
    const ids = [...this.held.keys()];
    this.held.clear();
    // A second in the past, not now(): expiresAt keeps milliseconds and rounds, so a stored now() can round up past
    // a peer's now() a fraction of a millisecond later, which would then find the lease still held.
    const res = await this.opts.pool.query(`UPDATE "RunLease" SET "expiresAt" = now() - interval '1 second' WHERE owner = $1 AND "expiresAt" > now()`, [this.opts.replicaId]);
    await this.opts.pool.query(`DELETE FROM "OpsReplica" WHERE id = $1`, [this.opts.replicaId]);
    if (ids.length || res.rowCount) await this.opts.announceReleased().catch(() => {});
    return res.rowCount ?? 0;
  }

  private target(): number {
    return Math.ceil(this.runs / Math.max(1, this.liveReplicas)) + this.opts.slack;
  }

  private round(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          if (this.stopped) return;
          try {
            await this.roundOnce();
            this.lastError = null;
          } catch (e) {
            this.lastError = (e as Error).message;
            this.opts.log.warn("lease round failed", { error: this.lastError });
          }
        } while (this.again && !this.stopped);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async roundOnce(): Promise<void> {
    const { pool, replicaId, ttlMs } = this.opts;
    const t0 = performance.now();
    await pool.query(`INSERT INTO "OpsReplica" (id, "startedAt", "heartbeatAt") VALUES ($1, now(), now()) ON CONFLICT (id) DO UPDATE SET "heartbeatAt" = now()`, [replicaId]);
    const renewed = await pool.query<{ runId: string; token: number }>(
      `UPDATE "RunLease" l SET "expiresAt" = now() + make_interval(secs => $2::double precision / 1000)
         FROM "Run" r
        WHERE l.owner = $1 AND l."expiresAt" > now() AND r.id = l."runId" AND r."removedAt" IS NULL
       RETURNING l."runId", l.token`,
      [replicaId, ttlMs],
    );
    if (this.stopped) return;
    const still = new Map(renewed.rows.map((r) => [r.runId, r.token]));
    const lost = [...this.held].filter(([id, h]) => h.since < t0 && still.get(id) !== h.token).map(([id]) => id);
    if (lost.length) {
      for (const id of lost) this.held.delete(id);
      this.opts.log.warn("leases lost (expired before renewal or taken over)", { runs: lost.length });
      this.opts.onLost(lost);
    }
    const validUntil = t0 + ttlMs - Math.min(1000, ttlMs / 10);
    const adopted: string[] = [];
    for (const [id, token] of still) {
      const h = this.held.get(id);
      if (h) {
        if (h.token === token) h.validUntil = validUntil;
      } else {
        // Held in the database under our id but unknown here: restarted with the same OPS_REPLICA_ID.
        this.held.set(id, { token, validUntil, since: t0 });
        adopted.push(id);
      }
    }
    if (adopted.length) this.opts.onAcquired(adopted);

    const counts = await pool.query<{ live: number; runs: number }>(
      `SELECT (SELECT count(*)::int FROM "OpsReplica" WHERE "heartbeatAt" > now() - make_interval(secs => $1::double precision / 1000)) AS live,
              (SELECT count(*)::int FROM "Run" WHERE "removedAt" IS NULL) AS runs`,
      [ttlMs],
    );
    this.liveReplicas = Math.max(1, counts.rows[0].live);
    this.runs = counts.rows[0].runs;
    const target = this.target();

    if (this.held.size > target) {
      // Stop polling first, then give the leases back: a poll already in flight is fenced by the commit check.
      const shed = [...this.held.keys()].sort(() => Math.random() - 0.5).slice(0, this.held.size - target);
      for (const id of shed) this.held.delete(id);
      this.opts.onLost(shed);
      await pool.query(`UPDATE "RunLease" SET "expiresAt" = now() - interval '1 second' WHERE owner = $1 AND "runId" = ANY($2::text[])`, [replicaId, shed]);
      this.opts.log.info("leases handed back for balance", { runs: shed.length, target });
      await this.opts.announceReleased().catch(() => {});
    } else if (this.held.size < target) {
      const t1 = performance.now();
      const batch = this.opts.acquireBatch ?? ACQUIRE_BATCH;
      const want = Math.min(target - this.held.size, batch);
      const got = await pool.query<{ runId: string; token: number }>(ACQUIRE, [replicaId, want, null, ttlMs]);
      this.take(got.rows, t1);
      // A full batch: more may be free; take them in the next round rather than waiting renewMs.
      if (got.rows.length === want && this.held.size < target) this.requestRound(ACQUIRE_PAUSE_MS);
    }
    this.lastRoundAt = new Date();
  }

  private take(rows: { runId: string; token: number }[], t0: number): void {
    if (!rows.length) return;
    const validUntil = t0 + this.opts.ttlMs - Math.min(1000, this.opts.ttlMs / 10);
    const fresh: string[] = [];
    for (const r of rows) {
      if (!this.held.has(r.runId)) fresh.push(r.runId);
      this.held.set(r.runId, { token: r.token, validUntil, since: t0 });
    }
    if (fresh.length) this.opts.onAcquired(fresh);
  }
}
