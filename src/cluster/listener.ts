import pg from "pg";
import type { Logger } from "../util/log";

// The replica's one dedicated PostgreSQL session for LISTEN (a pooled connection would lose its LISTENs when
// handed back). It also serves the fan-out's cursor reads, so those never queue behind ingest work in the
// pool. On any failure it reconnects with backoff and tells its owner to resync, because notifications sent
// while it was away are gone for good.

export interface ListenerHealth {
  connected: boolean;
  /** ISO time of the last notification received on any channel, null = none yet */
  lastNotificationAt: string | null;
  connectedSince: string | null;
  reconnects: number;
  lastError: string | null;
}

export interface ListenerOptions {
  url: string;
  channels: readonly string[];
  /** application_name on the session, to find replicas in pg_stat_activity */
  applicationName: string;
  log: Logger;
  onNotification: (channel: string, payload: string) => void;
  /** After every (re)connect, once LISTEN is in place: read what may have been missed. */
  onConnected: () => Promise<void>;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class PgListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly state: ListenerHealth = { connected: false, lastNotificationAt: null, connectedSince: null, reconnects: 0, lastError: null };
  private lastNotificationMs = 0;
  /** Serialises reads on the session (a resync after reconnect may overlap a fan-out round). */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ListenerOptions) {}

  health(): ListenerHealth {
    return {
      ...this.state,
      lastNotificationAt: this.lastNotificationMs ? new Date(this.lastNotificationMs).toISOString() : null,
    };
  }

  get connected(): boolean {
    return this.state.connected;
  }

  /** Resolves after the first successful connect; rejects if that first attempt fails (start-up should fail loudly). */
  async start(): Promise<void> {
    await this.connect();
  }

  /** Runs a read on the dedicated session, one at a time; null when it is down (the caller falls back or retries). */
  query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R> | null> {
    const run = async () => {
      const c = this.client;
      if (!c || !this.state.connected) return null;
      return c.query<R>(text, values);
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => null);
    return result;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const c = this.client;
    this.client = null;
    this.state.connected = false;
    await c?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.opts.url,
      application_name: this.opts.applicationName,
      connectionTimeoutMillis: 5000,
      // A half-open TCP connection (peer vanished) must not look healthy forever.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    client.on("notification", (n) => {
      this.lastNotificationMs = Date.now();
      this.opts.onNotification(n.channel, n.payload ?? "");
    });
    const lost = (why: string) => {
      if (this.client !== client) return;
      this.client = null;
      this.state.connected = false;
      this.state.connectedSince = null;
      this.state.lastError = why;
      client.end().catch(() => {});
      if (this.stopped) return;
      this.opts.log.warn("LISTEN connection lost; reconnecting", { error: why });
      this.scheduleReconnect();
    };
    client.on("error", (e) => lost(e.message));
    client.on("end", () => lost("connection ended"));
    try {
      await client.connect();
      for (const ch of this.opts.channels) await client.query(`LISTEN ${pg.escapeIdentifier(ch)}`);
    } catch (e) {
      client.removeAllListeners("end");
      await client.end().catch(() => {});
      this.state.lastError = (e as Error).message;
      throw e;
    }
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.state.connected = true;
    this.state.connectedSince = new Date().toISOString();
    this.failures = 0;
    try {
      await this.opts.onConnected();
    } catch (e) {
      // The session works but the resync read failed: treat it like a lost connection and start over.
      lost(`resync failed: ${(e as Error).message}`);
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    const min = this.opts.minBackoffMs ?? 100;
    const max = this.opts.maxBackoffMs ?? 5000;
    const delay = Math.min(max, min * 2 ** Math.min(this.failures, 16)) * (0.5 + Math.random() / 2);
    this.failures++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.state.reconnects++;
      this.connect().catch((e: unknown) => {
        this.opts.log.warn("LISTEN reconnect failed", { error: (e as Error).message, attempt: this.failures });
        this.scheduleReconnect();
      });
    }, delay);
    this.retryTimer.unref();
  }
}
