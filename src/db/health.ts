import pg from "pg";

// The database may go away under a running manager (a restart, a failover, `pg_terminate_backend`, a killed
// postmaster). node-postgres reports that as an `error` event on the pool or on a client, and an `error` event
// nobody listens to ends the process. Every pool and client here has a listener that reports to one monitor:
// it logs the outage once, probes with backoff until the server answers, then logs the recovery and wakes
// whoever waits for it (the ingestor re-polls at once instead of after its own backoff). Queries in between fail
// on their own and their callers retry as they do for any error; /ready says 503 meanwhile.

export interface DatabaseState {
  up: boolean;
  /** the last connection error while down */
  error: string | null;
  /** when it went down or came back */
  since: Date;
}

export interface MonitorOptions {
  url: string;
  log: { warn(msg: string, fields?: Record<string, unknown>): void; info(msg: string, fields?: Record<string, unknown>): void };
  /** first probe delay; doubles up to maxDelayMs */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** Errors that mean "the connection or the server is gone", as opposed to a bad query. */
export function isConnectionError(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | null;
  if (!err) return false;
  const code = err.code ?? "";
  // 57P01 admin_shutdown (pg_terminate_backend, fast shutdown), 57P02 crash_shutdown, 57P03 cannot_connect_now,
  // 08xxx connection exceptions; plus the socket-level errors of the driver.
  if (/^(57P0[123]|08\d{3})$/.test(code)) return true;
  if (["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN"].includes(code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection/i.test(err.message ?? "");
}

export class DatabaseMonitor {
  private current: DatabaseState = { up: true, error: null, since: new Date() };
  private probing: Promise<void> | null = null;
  private closed = false;
  private readonly recovered = new Set<() => void>();

  constructor(private readonly opts: MonitorOptions) {}

  get state(): DatabaseState {
    return this.current;
  }

  /** Calls `fn` each time the database comes back after an outage. */
  onRecovered(fn: () => void): () => void {
    this.recovered.add(fn);
    return () => this.recovered.delete(fn);
  }

  /** The `error` listener for pools and clients; also fed by callers that see a connection error. */
  readonly report = (e: unknown): void => {
    if (this.closed) return;
    if (!isConnectionError(e)) {
      this.opts.log.warn("database client error", { error: (e as Error)?.message ?? String(e) });
      return;
    }
    const message = (e as Error).message ?? String(e);
    if (this.current.up) {
      this.current = { up: false, error: message, since: new Date() };
      this.opts.log.warn("database connection lost; reconnecting", { error: message });
    } else {
      this.current.error = message;
    }
    this.probing ??= this.probe().finally(() => (this.probing = null));
  };

  private async probe(): Promise<void> {
    let delay = this.opts.baseDelayMs ?? 250;
    while (!this.closed) {
      await new Promise((r) => setTimeout(r, delay).unref());
      if (this.closed) return;
      const client = new pg.Client({ connectionString: this.opts.url, connectionTimeoutMillis: 3000 });
      client.on("error", () => {});
      try {
        await client.connect();
        await client.query("SELECT 1");
        const downFor = Date.now() - this.current.since.getTime();
        this.current = { up: true, error: null, since: new Date() };
        this.opts.log.info("database connection restored", { downMs: downFor });
        for (const fn of this.recovered) fn();
        return;
      } catch (e) {
        this.current.error = (e as Error).message;
        delay = Math.min(delay * 2, this.opts.maxDelayMs ?? 5000);
      } finally {
        await client.end().catch(() => {});
      }
    }
  }

  /** Listens on a pool: idle clients (the pool's own event) and checked-out ones between queries. */
  watchPool(pool: pg.Pool): pg.Pool {
    pool.on("error", this.report);
    pool.on("connect", (client) => client.on("error", this.report));
    return pool;
  }

  close(): void {
    this.closed = true;
    this.recovered.clear();
  }
}

/** A pool whose errors are reported to the monitor, never thrown at the process. */
export function createPool(monitor: DatabaseMonitor, url: string, max: number): pg.Pool {
  return monitor.watchPool(new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 10_000 }));
}
