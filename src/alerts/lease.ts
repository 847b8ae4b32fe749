import type pg from "pg";

// A named singleton lease ("OpsLease" row): at most one replica of a cluster does the work at a time. Taken when
// free or expired (token + 1 on every change of owner), renewed while held, expired at once on release. Times
// are the database's clock. Without cluster mode the lone process takes it on its first try.

export class SingletonLease {
  private token: number | null = null;
  private validUntil = 0;

  constructor(
    private readonly pool: pg.Pool,
    readonly name: string,
    readonly owner: string,
    private readonly ttlMs: number,
    /** Single-process mode: no other replica can exist, so a lease left by a killed predecessor is taken at once. */
    private readonly takeover = false,
  ) {}

  /** Acquire or renew; true while this process holds the lease. */
  async refresh(): Promise<boolean> {
    const t0 = performance.now();
    const res = await this.pool.query<{ token: number }>(
      `INSERT INTO "OpsLease" (name, owner, token, "expiresAt") VALUES ($1, $2, 1, now() + make_interval(secs => $3::double precision / 1000))
       ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, "expiresAt" = EXCLUDED."expiresAt",
         token = CASE WHEN "OpsLease".owner = EXCLUDED.owner THEN "OpsLease".token ELSE "OpsLease".token + 1 END
        WHERE "OpsLease".owner = EXCLUDED.owner OR "OpsLease"."expiresAt" <= now() OR $4
       RETURNING token`,
      [this.name, this.owner, this.ttlMs, this.takeover],
    );
    const row = res.rows[0];
    if (!row) {
      this.token = null;
      return false;
    }
    this.token = row.token;
    this.validUntil = t0 + this.ttlMs - Math.min(1000, this.ttlMs / 10);
    return true;
  }

  get held(): boolean {
    return this.token !== null && performance.now() < this.validUntil;
  }

  async release(): Promise<void> {
    if (this.token === null) return;
    this.token = null;
    // A second in the past, not now(): the column keeps milliseconds and rounds, so now() stored here can round up
    // past the now() of a peer's refresh a fraction of a millisecond later, which would then find it unexpired.
    await this.pool.query(`UPDATE "OpsLease" SET "expiresAt" = now() - interval '1 second' WHERE name = $1 AND owner = $2`, [this.name, this.owner]);
  }
}
