import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { Logger } from "../util/log";
import { alertAttemptSeconds, alertDeliveries, alertDispatcherLeader, alertQueueSeconds, alertRetries, alertsRaised } from "../observability/metrics";
import { EMPTY_ALERTS_CONFIG, type AlertsConfig, type SinkConfig } from "./config";
import { delivery, newTraceId, planIntake, type EpisodeRow, type RunInfo, type Signal, type SpriteInfo } from "./intake";
import { SingletonLease } from "./lease";
import { buildRequest, MissingSecretError, type AlertMessage } from "./messages";
import { backoffMs, classify } from "./retry";
import { route } from "./routing";
import { claimDue, insertDeliveries, insertEpisodes, readAlertsConfig, recordAttempts, updateEpisodes, type AttemptResult, type ClaimedDelivery } from "./store";

// The alert dispatcher: one per cluster (SingletonLease "alert-dispatcher"). It drains the outbox the triggers
// fill (AlertSignal) into episodes and deliveries, sends due deliveries with bounded concurrency and timeouts,
// records every attempt and retries with backoff until delivered or dead-lettered. It runs beside ingest and
// never inside it: ingest's only cost is the trigger's INSERT.

export interface DispatcherOptions {
  pool: pg.Pool;
  log: Logger;
  owner: string;
  leaseTtlMs: number;
  /** false in cluster mode: wait for another replica's lease to expire instead of taking it */
  takeover?: boolean;
  env?: NodeJS.ProcessEnv;
  /** idle poll period of the outbox and the due deliveries */
  tickMs?: number;
}

const BATCH = 2000;

export interface TestResult {
  deliveryId: string;
  delivered: boolean;
  status: string;
  httpStatus: number | null;
  error: string | null;
  latencyMs: number;
}

const sinkTimeoutMs = (config: AlertsConfig, sink: SinkConfig | undefined): number => Math.round((sink?.timeoutSeconds ?? config.delivery.defaultTimeoutSeconds) * 1000);

export class AlertDispatcher {
  private readonly lease: SingletonLease;
  private readonly env: NodeJS.ProcessEnv;
  private readonly tickMs: number;
  private config: AlertsConfig = EMPTY_ALERTS_CONFIG;
  private configReadAt = 0;
  private leaseCheckedAt = 0;
  private remindersAt = 0;
  private stopped = false;
  private loopDone: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private results: AttemptResult[] = [];

  constructor(private readonly opts: DispatcherOptions) {
    this.lease = new SingletonLease(opts.pool, "alert-dispatcher", opts.owner, opts.leaseTtlMs, opts.takeover ?? false);
    this.env = opts.env ?? process.env;
    this.tickMs = opts.tickMs ?? 100;
  }

  get isLeader(): boolean {
    return this.lease.held;
  }

  start(): void {
    this.loopDone ??= this.loop();
  }

  /** Look at the outbox now (a config change, a test message). */
  wake(): void {
    this.wakeUp?.();
  }

  invalidateConfig(): void {
    this.configReadAt = 0;
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loopDone;
    // Sends in flight finish (each is bounded by its timeout) and are recorded; anything else is retried later.
    await Promise.allSettled([...this.inFlight]);
    await this.flush().catch(() => {});
    await this.lease.release().catch(() => {});
    alertDispatcherLeader.set(0);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let busy = false;
      try {
        busy = await this.step();
      } catch (e) {
        this.opts.log.warn("alert dispatcher step failed", { error: (e as Error).message });
      }
      if (!busy && !this.stopped) await this.sleep(this.tickMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      t.unref();
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private async step(): Promise<boolean> {
    const now = performance.now();
    if (now - this.leaseCheckedAt > Math.min(2000, this.opts.leaseTtlMs / 3) || !this.lease.held) {
      this.leaseCheckedAt = now;
      await this.lease.refresh();
      alertDispatcherLeader.set(this.lease.held ? 1 : 0);
    }
    if (!this.lease.held) return false;
    if (now - this.configReadAt > 1000) {
      this.config = (await readAlertsConfig(this.opts.pool)).config;
      this.configReadAt = now;
    }
    const flushed = await this.flush();
    const taken = await this.intake();
    const sent = await this.claimAndSend();
    if (now - this.remindersAt > 1000) {
      this.remindersAt = now;
      await this.reminders();
    }
    return flushed + taken + sent > 0;
  }

  /** Outbox → episodes and deliveries, in one transaction with the removal of the signals it consumed. */
  private async intake(): Promise<number> {
    const client = await this.opts.pool.connect();
    try {
      await client.query("BEGIN");
      const sig = await client.query<{ id: string; subject: Signal["subject"]; runId: string | null; spriteId: string | null; snapshot: unknown; at: Date }>(
        `SELECT id::text AS id, subject, "runId", "spriteId", snapshot, at FROM "AlertSignal" ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [BATCH],
      );
      if (!sig.rows.length) {
        await client.query("COMMIT");
        return 0;
      }
      const runIds = [...new Set(sig.rows.map((s) => s.runId).filter((x): x is string => x !== null))];
      const spriteIds = [...new Set(sig.rows.filter((s) => s.subject === "sprite").map((s) => s.spriteId).filter((x): x is string => x !== null))];
      const runs = await client.query<RunInfo & { labels: unknown }>(
        `SELECT r.id, r."loopId", r."repoPath", s.id AS "spriteId", s.name AS "spriteName", to_jsonb(s) -> 'labels' AS labels
           FROM "Run" r JOIN "Sprite" s ON s.id = r."spriteId" WHERE r.id = ANY($1::text[])`,
        [runIds],
      );
      const sprites = await client.query<SpriteInfo & { labels: unknown }>(`SELECT s.id, s.name, to_jsonb(s) -> 'labels' AS labels FROM "Sprite" s WHERE s.id = ANY($1::text[])`, [spriteIds]);
      const open = await client.query<EpisodeRow>(
        `SELECT id, key, condition, severity, "runId", "spriteId", subject, sinks, "traceId", "openedAt", "resolvedAt" FROM "AlertEpisode"
          WHERE "resolvedAt" IS NULL AND ((key LIKE 'run:%' AND "runId" = ANY($1::text[])) OR (key LIKE 'sprite:%' AND "spriteId" = ANY($2::text[])))`,
        [runIds, spriteIds],
      );
      const plan = planIntake(
        this.config,
        sig.rows,
        open.rows,
        new Map(runs.rows.map((r) => [r.id, { ...r, labels: labelsOf(r.labels) }])),
        new Map(sprites.rows.map((s) => [s.id, { ...s, labels: labelsOf(s.labels) }])),
        new Date(),
      );
      for (const bad of plan.invalid) this.opts.log.error("alert signal unreadable (dropped)", { signal: bad.id, error: bad.error });
      await insertEpisodes(client, plan.episodes.filter((e) => e.isNew));
      await updateEpisodes(client, plan.episodes.filter((e) => !e.isNew && e.changed));
      const raisedAt = new Map(plan.episodes.map((e) => [e.id, e.openedAt]));
      await insertDeliveries(
        client,
        plan.deliveries.map((d) => ({ ...d, raisedAt: d.event === "trigger" && d.episodeId ? raisedAt.get(d.episodeId) : undefined })),
      );
      await client.query(`DELETE FROM "AlertSignal" WHERE id = ANY($1::bigint[])`, [sig.rows.map((s) => s.id)]);
      await client.query("COMMIT");
      for (const e of plan.episodes) if (e.isNew) alertsRaised.inc({ condition: e.condition, severity: e.severity });
      if (plan.deliveries.length) this.opts.log.debug("alerts queued", { deliveries: plan.deliveries.length, signals: sig.rows.length });
      return sig.rows.length;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  private claimMs(): number {
    const timeouts = Object.values(this.config.sinks).map((s) => sinkTimeoutMs(this.config, s));
    return Math.max(sinkTimeoutMs(this.config, undefined), ...timeouts) + 2000;
  }

  private async claimAndSend(): Promise<number> {
    const free = this.config.delivery.concurrency - this.inFlight.size;
    if (free <= 0) return 0;
    const rows = await claimDue(this.opts.pool, free, this.claimMs());
    for (const row of rows) this.launch(row);
    return rows.length;
  }

  private launch(row: ClaimedDelivery): Promise<void> {
    const p: Promise<void> = this.send(row)
      .then((r) => {
        this.results.push(r);
      })
      .finally(() => {
        this.inFlight.delete(p);
        this.wake();
      });
    this.inFlight.add(p);
    return p;
  }

  private async send(row: ClaimedDelivery): Promise<AttemptResult> {
    const config = this.config;
    const startedAt = new Date();
    if (row.firstAttempt) alertQueueSeconds.observe(Math.max(0, startedAt.getTime() - new Date(row.createdAt).getTime()) / 1000);
    const t0 = performance.now();
    const base = { id: row.id, n: row.attempts, startedAt };
    const finish = (outcome: AttemptResult["outcome"], httpStatus: number | null, error: string | null, retryAfterMs: number | null = null): AttemptResult => {
      const latencyMs = Math.round(performance.now() - t0);
      alertAttemptSeconds.observe({ sink: row.sink }, latencyMs / 1000);
      let next: Date | null = null;
      if (outcome === "retry") {
        const wait = backoffMs(row.attempts, config.delivery.baseBackoffMs, config.delivery.maxBackoffMs, retryAfterMs);
        next = new Date(Date.now() + wait);
        if (next.getTime() - new Date(row.createdAt).getTime() > config.delivery.deadLetterAfterSeconds * 1000) {
          outcome = "dead";
          error = `dead-lettered after ${row.attempts} attempts (older than ${config.delivery.deadLetterAfterSeconds} s): ${error ?? `HTTP ${httpStatus}`}`;
          next = null;
        } else alertRetries.inc({ sink: row.sink });
      }
      alertDeliveries.inc({ sink: row.sink, outcome });
      if (outcome === "dead") this.opts.log.error("alert dead-lettered", { deliveryId: row.id, sink: row.sink, error, traceId: (row.payload as AlertMessage).traceId });
      return { ...base, latencyMs, httpStatus, error, outcome, nextAttemptAt: next };
    };
    const sink = config.sinks[row.sink];
    if (!sink) return finish("dead", null, `sink ${row.sink} is no longer configured`);
    if (!sink.enabled) return finish("dead", null, `sink ${row.sink} is disabled`);
    let req;
    try {
      req = buildRequest(sink, row.payload as AlertMessage, this.env, Math.floor(Date.now() / 1000));
    } catch (e) {
      if (e instanceof MissingSecretError) return finish("dead", null, `sink ${row.sink}: ${e.message}`);
      throw e;
    }
    try {
      const res = await fetch(req.url, { method: "POST", headers: req.headers, body: req.body, signal: AbortSignal.timeout(sinkTimeoutMs(config, sink)), redirect: "manual" });
      await res.arrayBuffer().catch(() => {});
      const c = classify(res.status, res.headers.get("retry-after"));
      if (c.kind === "delivered") return finish("delivered", res.status, null);
      if (c.kind === "retry") return finish("retry", res.status, `HTTP ${res.status}`, c.retryAfterMs);
      return finish("dead", res.status, `HTTP ${res.status} (not retried)`);
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      const msg = err.name === "TimeoutError" ? `timed out after ${sinkTimeoutMs(config, sink)} ms` : `${err.cause?.code ?? err.name}: ${err.message}`;
      return finish("retry", null, msg);
    }
  }

  private async flush(): Promise<number> {
    if (!this.results.length) return 0;
    const batch = this.results;
    this.results = [];
    try {
      await recordAttempts(this.opts.pool, batch);
    } catch (e) {
      // Not recorded = still PENDING under its claim: it is sent again when the claim passes (at least once).
      this.opts.log.warn("recording alert attempts failed", { error: (e as Error).message, attempts: batch.length });
    }
    return batch.length;
  }

  /** Open episodes past their reminder interval get a "reminder" to the sinks whose routes ask for one. */
  private async reminders(): Promise<void> {
    const intervals = [this.config.routing.reminderMinutes, ...this.config.routing.routes.map((r) => r.reminderMinutes ?? 0)].filter((m) => m > 0);
    if (!intervals.length) return;
    const minMs = Math.min(...intervals) * 60_000;
    const eps = await this.opts.pool.query<EpisodeRow & { lastNotifiedAt: Date; labels: unknown }>(
      `SELECT e.id, e.key, e.condition, e.severity, e."runId", e."spriteId", e.subject, e.sinks, e."traceId", e."openedAt", e."resolvedAt", e."lastNotifiedAt",
              to_jsonb(s) -> 'labels' AS labels
         FROM "AlertEpisode" e LEFT JOIN "Sprite" s ON s.id = e."spriteId"
        WHERE e."resolvedAt" IS NULL AND e."lastNotifiedAt" <= now() - make_interval(secs => $1::double precision / 1000) LIMIT 1000`,
      [minMs],
    );
    if (!eps.rows.length) return;
    const now = new Date();
    const rows = [];
    const notified: string[] = [];
    for (const ep of eps.rows) {
      const routed = route(this.config, { condition: ep.condition as never, severity: ep.severity, spriteName: ep.subject.sprite?.name ?? null, labels: labelsOf(ep.labels) }, now);
      const due = routed.filter((r) => r.reminderMs > 0 && now.getTime() - new Date(ep.lastNotifiedAt).getTime() >= r.reminderMs);
      if (!due.length) continue;
      notified.push(ep.id);
      for (const r of due) rows.push(delivery({ ...ep, openedAt: new Date(ep.openedAt) }, r.sink, "reminder", now, r.notBefore));
    }
    if (!rows.length) return;
    await insertDeliveries(this.opts.pool, rows);
    await this.opts.pool.query(`UPDATE "AlertEpisode" SET "lastNotifiedAt" = now() WHERE id = ANY($1::text[])`, [notified]);
  }

  /** testAlertSink: a durable "test" delivery sent right away from this replica; retried like any other if it fails. */
  async test(sinkName: string): Promise<TestResult> {
    this.config = (await readAlertsConfig(this.opts.pool)).config;
    this.configReadAt = performance.now();
    const sink = this.config.sinks[sinkName];
    if (!sink) throw new Error(`no alert sink named ${sinkName}`);
    const now = new Date();
    const ep: EpisodeRow = {
      id: randomUUID(),
      key: `test:${sinkName}:${randomUUID()}`,
      condition: "test",
      severity: "info",
      runId: null,
      spriteId: null,
      subject: { summary: `Test alert from superloop-ops to sink ${sinkName}`, details: {}, run: null, sprite: null },
      sinks: [sinkName],
      traceId: newTraceId(),
      openedAt: now,
      resolvedAt: now,
    };
    // Far in the future so the loop leaves it to us; claimed by id below.
    const row = { ...delivery(ep, sinkName, "test", now, new Date(now.getTime() + 3_600_000)), episodeId: null };
    await insertDeliveries(this.opts.pool, [row]);
    const [claimed] = await claimDue(this.opts.pool, 1, this.claimMs(), [row.id]);
    if (!claimed) throw new Error("test delivery could not be claimed");
    const r = await this.send(claimed);
    await recordAttempts(this.opts.pool, [r]);
    return {
      deliveryId: row.id,
      delivered: r.outcome === "delivered",
      status: r.outcome === "delivered" ? "DELIVERED" : r.outcome === "dead" ? "DEAD" : "PENDING",
      httpStatus: r.httpStatus,
      error: r.error,
      latencyMs: r.latencyMs,
    };
  }
}

/** Sprite labels, if the Sprite row carries any (an object, or ["k=v", ...]). */
export function labelsOf(raw: unknown): Record<string, string> {
  if (Array.isArray(raw)) {
    return Object.fromEntries(raw.filter((x): x is string => typeof x === "string").map((x) => [x.split("=")[0]!, x.includes("=") ? x.slice(x.indexOf("=") + 1) : ""]));
  }
  if (raw && typeof raw === "object") return Object.fromEntries(Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === "string"));
  return {};
}
