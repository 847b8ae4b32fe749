import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Gauge, Registry } from "prom-client";
import type { App } from "../app";
import { intentConfirmSeconds, processRegistry } from "./metrics";

// GET /metrics (Prometheus text format): the process-wide counters and histograms plus this server's gauges,
// read from the database and from the server's own state at scrape time. With OPS_METRICS_TOKEN set, a scrape
// must send `Authorization: Bearer <token>`.

export interface ScrapeSources {
  app: App;
  /** live GraphQL subscriptions (graphql-ws + SSE) on this replica */
  subscriptions: () => number;
  token: string | null;
}

interface Row {
  [k: string]: string | number | null;
}

export function createMetricsHandler(src: ScrapeSources): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { app } = src;
  const registry = new Registry();
  const registers = [registry];
  const q = async <R extends Row>(sql: string, values: unknown[] = []): Promise<R[]> => (await app.pool.query<R>(sql, values)).rows;
  let confirmedWatermark = new Date();

  new Gauge({
    name: "superloop_ops_runs",
    help: "Managed runs (not removed) by lifecycle state and health",
    labelNames: ["state", "health"] as const,
    registers,
    async collect() {
      this.reset();
      for (const r of await q<{ state: string; health: string; n: number }>(`SELECT state::text, health::text, count(*)::int AS n FROM "Run" WHERE "removedAt" IS NULL GROUP BY 1, 2`)) {
        this.set({ state: r.state, health: r.health }, r.n);
      }
    },
  });
  new Gauge({
    name: "superloop_ops_runs_needing_intervention",
    help: "Runs that need an operator",
    registers,
    async collect() {
      this.set((await q<{ n: number }>(`SELECT count(*)::int AS n FROM "Run" WHERE "removedAt" IS NULL AND "needsIntervention"`))[0]?.n ?? 0);
    },
  });
  new Gauge({
    name: "superloop_ops_ingest_lag_seconds",
    help: "Per run: seconds since its events file was last read and committed (how far behind the file the stored view can be)",
    labelNames: ["sprite", "loop", "run"] as const,
    registers,
    async collect() {
      this.reset();
      for (const r of await q<{ sprite: string; loop: string; run: string; lag: number | null }>(
        `SELECT s.name AS sprite, r."loopId" AS loop, r.id AS run, extract(epoch FROM now() - r."lastPolledAt")::float8 AS lag
           FROM "Run" r JOIN "Sprite" s ON s.id = r."spriteId" WHERE r."removedAt" IS NULL AND r."lastPolledAt" IS NOT NULL`,
      )) {
        this.set({ sprite: r.sprite, loop: r.loop, run: r.run }, Math.max(0, r.lag ?? 0));
      }
    },
  });
  new Gauge({
    name: "superloop_ops_intents",
    help: "Control intents by kind and stage",
    labelNames: ["kind", "stage"] as const,
    registers,
    async collect() {
      this.reset();
      for (const r of await q<{ kind: string; stage: string; n: number }>(`SELECT kind::text, stage::text, count(*)::int AS n FROM "ControlIntent" GROUP BY 1, 2`)) {
        this.set({ kind: r.kind, stage: r.stage }, r.n);
      }
      // Intents confirmed since the last scrape feed the dispatch-to-confirm histogram (each exactly once).
      const rows = await q<{ kind: string; secs: number; confirmedAt: string }>(
        `SELECT kind::text, extract(epoch FROM "confirmedAt" - "dispatchedAt")::float8 AS secs, "confirmedAt"::text AS "confirmedAt"
           FROM "ControlIntent" WHERE "confirmedAt" > $1 AND "dispatchedAt" IS NOT NULL ORDER BY "confirmedAt"`,
        [confirmedWatermark],
      );
      for (const r of rows) intentConfirmSeconds.observe({ kind: r.kind }, Math.max(0, r.secs));
      if (rows.length) confirmedWatermark = new Date(rows[rows.length - 1].confirmedAt);
    },
  });
  new Gauge({
    name: "superloop_ops_subscriptions",
    help: "Live GraphQL subscriptions on this replica",
    registers,
    collect() {
      this.set(src.subscriptions());
    },
  });
  new Gauge({
    name: "superloop_ops_alert_deliveries_pending",
    help: "Alert deliveries by status (PENDING = queued or retrying, DEAD = dead letters)",
    labelNames: ["status"] as const,
    registers,
    async collect() {
      this.reset();
      for (const r of await q<{ status: string; n: number }>(`SELECT status::text, count(*)::int AS n FROM "AlertDelivery" WHERE status <> 'DELIVERED' GROUP BY 1`)) {
        this.set({ status: r.status }, r.n);
      }
    },
  });
  new Gauge({
    name: "superloop_ops_alert_outbox_backlog",
    help: "Alert signals written by changes and not yet taken in by the dispatcher",
    registers,
    async collect() {
      this.set((await q<{ n: number }>(`SELECT count(*)::int AS n FROM "AlertSignal"`))[0]?.n ?? 0);
    },
  });
  new Gauge({
    name: "superloop_ops_alerts_open",
    help: "Open alert episodes by condition and severity",
    labelNames: ["condition", "severity"] as const,
    registers,
    async collect() {
      this.reset();
      for (const r of await q<{ condition: string; severity: string; n: number }>(`SELECT condition, severity, count(*)::int AS n FROM "AlertEpisode" WHERE "resolvedAt" IS NULL GROUP BY 1, 2`)) {
        this.set({ condition: r.condition, severity: r.severity }, r.n);
      }
    },
  });
  new Gauge({
    name: "superloop_ops_leases_held",
    help: "Run leases this replica holds (cluster mode; in single-process mode every run)",
    registers,
    async collect() {
      const c = app.cluster;
      this.set(c ? c.leases.status().held : ((await q<{ n: number }>(`SELECT count(*)::int AS n FROM "Run" WHERE "removedAt" IS NULL`))[0]?.n ?? 0));
    },
  });
  new Gauge({
    name: "superloop_ops_cluster_live_replicas",
    help: "Replicas seen by the last lease round (1 outside cluster mode)",
    registers,
    collect() {
      this.set(app.cluster ? app.cluster.leases.status().liveReplicas : 1);
    },
  });
  new Gauge({
    name: "superloop_ops_cluster_notify_age_seconds",
    help: "Seconds since this replica's LISTEN session last received a NOTIFY (cluster mode; -1 = none yet or not in cluster mode)",
    registers,
    collect() {
      const at = app.cluster?.status().listener.lastNotificationAt;
      this.set(at ? Math.max(0, (Date.now() - Date.parse(at)) / 1000) : -1);
    },
  });
  new Gauge({
    name: "superloop_ops_cluster_listener_connected",
    help: "1 while the LISTEN session is connected (cluster mode), 0 when down; absent meaning = 1 outside cluster mode",
    registers,
    collect() {
      this.set(app.cluster ? (app.cluster.status().listener.connected ? 1 : 0) : 1);
    },
  });

  const expected = src.token ? Buffer.from(`Bearer ${src.token}`) : null;
  return async (req, res) => {
    if (expected) {
      const got = Buffer.from(req.headers.authorization ?? "");
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
        res.writeHead(401, { "content-type": "text/plain", "www-authenticate": "Bearer" }).end("metrics need the OPS_METRICS_TOKEN bearer token\n");
        return;
      }
    }
    try {
      const body = (await processRegistry.metrics()) + (await registry.metrics());
      res.writeHead(200, { "content-type": processRegistry.contentType }).end(body);
    } catch (e) {
      app.log.warn("metrics scrape failed", { error: (e as Error).message });
      res.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n");
    }
  };
}
