// Over 350 lines: one class whose three loops (intake, claim and send, flush of attempts) share its queue, lease,
// config and wakers; split across files they would hand that state back and forth.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { Logger } from "../util/log";
import { alertDispatcherLeader, alertsRaised } from "../observability/metrics";
import { EMPTY_ALERTS_CONFIG, type AlertsConfig, type SecretNamePolicy } from "./config";
import { delivery, newTraceId, planIntake, type EpisodeRow } from "./intake";
import { SingletonLease } from "./lease";
import { WorkerPoster } from "./poster";
import { route } from "./routing";
import { sendDelivery, sinkTimeoutMs } from "./send";
import { Waker } from "../util/waker";
import { labelsOf, SignalListener } from "./waker";
import {
  beginIntakeBatch,
  claimDue,
  consumeSignalsAndCommit,
  insertDeliveries,
  insertEpisodes,
  readAlertsConfig,
  recordAttempts,
  updateEpisodes,
  type AttemptResult,
  type ClaimedDelivery,
} from "./store";

// The alert dispatcher: one per cluster (SingletonLease "alert-dispatcher"). It drains the outbox the triggers
// fill (AlertSignal) into episodes and deliveries, sends due deliveries with bounded concurrency and timeouts,
// records every attempt and retries with backoff until delivered or dead-lettered. It runs beside ingest and
// never inside it: ingest's only cost is the trigger's INSERT.

export interface DispatcherOptions {
  pool: pg.Pool;
  log: Logger;
  owner: string;
  leaseTtlMs: number;
  /** which env var names may be sent out (OPS_SECRET_ENV_PREFIXES): checked again at send time */
  secretPolicy?: SecretNamePolicy;
  /** false in cluster mode: wait for another replica's lease to expire instead of taking it */
  takeover?: boolean;
  env?: NodeJS.ProcessEnv;
  /** idle poll period of the outbox and the due deliveries */
  tickMs?: number;
  /** the time of day quiet hours are judged by (a fake clock in tests) */
  wallClock?: () => Date;
}

const BATCH = 2000;
/** After a round that took a partial batch, wait this long before the next (rounds at most 10 a second). */
const INTAKE_GATHER_MS = 100;
/** Fresh triggers claimed at insert: up to this many rounds of `concurrency` sends queued. */
const PRECLAIM_ROUNDS = 4;

export interface TestResult {
  deliveryId: string;
  delivered: boolean;
  status: string;
  httpStatus: number | null;
  error: string | null;
  latencyMs: number;
}

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
  private readonly intakeWaker = new Waker();
  private readonly claimWaker = new Waker();
  private readonly flushWaker = new Waker();
  private readonly inFlight = new Set<Promise<void>>();
  /** claimed, waiting for a free send slot */
  private queue: ClaimedDelivery[] = [];
  /**
   * Due deliveries may be waiting unclaimed (intake could not claim all it wrote, or the last claim was full):
   * a freed send slot claims at once. Otherwise the claim loop's tick finds retries and expired claims, and
   * a send completing does not cost a claim query that finds nothing.
   */
  private moreDue = true;
  private results: AttemptResult[] = [];
  /** LISTEN ops_alert_signal: the outbox triggers NOTIFY, so intake starts at once instead of at the next poll */
  private readonly listener: SignalListener;
  /** the HTTP requests run on a thread of their own, off the event loop ingest uses */
  private readonly poster: WorkerPoster;

  constructor(private readonly opts: DispatcherOptions) {
    this.lease = new SingletonLease(opts.pool, "alert-dispatcher", opts.owner, opts.leaseTtlMs, opts.takeover ?? false);
    this.env = opts.env ?? process.env;
    this.tickMs = opts.tickMs ?? 250;
    this.listener = new SignalListener(opts.pool, "ops_alert_signal", () => this.intakeWaker.wake(), opts.log);
    this.poster = new WorkerPoster(opts.log);
  }

  get isLeader(): boolean {
    return this.lease.held;
  }

  start(): void {
    this.loopDone ??= this.loop();
  }

  /** Look at the outbox now (a config change, a test message). */
  wake(): void {
    this.intakeWaker.wake();
    this.claimWaker.wake();
  }

  invalidateConfig(): void {
    this.configReadAt = 0;
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    this.flushWaker.wake();
    await this.loopDone;
    // Claimed but not started: hand back at once (not sent, so not an attempt).
    const unsent = this.queue.map((q) => q.id);
    this.queue = [];
    if (unsent.length) {
      await this.opts.pool.query(`UPDATE "AlertDelivery" SET attempts = attempts - 1, "nextAttemptAt" = clock_timestamp() WHERE id = ANY($1::text[]) AND status = 'PENDING'`, [unsent]).catch(() => {});
    }
    // Sends in flight finish (each is bounded by its timeout) and are recorded; anything else is retried later.
    await Promise.allSettled([...this.inFlight]);
    await this.flush().catch(() => {});
    await this.poster.close().catch(() => {});
    await this.lease.release().catch(() => {});
    await this.listener.stop();
    alertDispatcherLeader.set(0);
  }

  /**
   * Three loops, so a slow one never holds up the others: intake (outbox → deliveries, and the lease), claim
   * (due deliveries → the send queue) and flush (attempt results → the database).
   */
  private async loop(): Promise<void> {
    await Promise.all([this.intakeLoop(), this.claimLoop(), this.flushLoop()]);
  }

  private async intakeLoop(): Promise<void> {
    while (!this.stopped) {
      let taken = 0;
      try {
        taken = await this.step();
      } catch (e) {
        this.opts.log.warn("alert dispatcher step failed", { error: (e as Error).message });
      }
      if (this.stopped) break;
      if (taken === 0) await this.intakeWaker.sleep(this.tickMs);
      // A partial batch: what the next few commits raise is taken in one round a little later instead of a round
      // each (a round costs about as much as the signals in it); a lone alert still goes at once.
      else if (taken < BATCH) await new Promise((r) => setTimeout(r, INTAKE_GATHER_MS));
    }
  }

  private async claimLoop(): Promise<void> {
    while (!this.stopped) {
      let claimed = 0;
      try {
        if (this.lease.held) claimed = await this.claim();
      } catch (e) {
        this.opts.log.warn("claiming alert deliveries failed", { error: (e as Error).message });
      }
      if (!this.stopped && claimed === 0) await this.claimWaker.sleep(this.tickMs);
    }
  }

  private async flushLoop(): Promise<void> {
    while (!this.stopped) {
      await this.flush();
      await this.flushWaker.sleep(50);
    }
  }

  /** One round: the lease, the config, the outbox; how many signals it took. */
  private async step(): Promise<number> {
    const now = performance.now();
    if (now - this.leaseCheckedAt > Math.min(2000, this.opts.leaseTtlMs / 3) || !this.lease.held) {
      this.leaseCheckedAt = now;
      const was = this.lease.held;
      await this.lease.refresh();
      alertDispatcherLeader.set(this.lease.held ? 1 : 0);
      if (this.lease.held && !was) this.claimWaker.wake();
    }
    if (!this.lease.held) {
      await this.listener.stop();
      return 0;
    }
    await this.listener.ensure();
    if (now - this.configReadAt > 1000) {
      this.config = (await readAlertsConfig(this.opts.pool)).config;
      this.configReadAt = now;
    }
    const taken = await this.intake();
    if (taken && this.moreDue) this.claimWaker.wake();
    if (now - this.remindersAt > 1000) {
      this.remindersAt = now;
      await this.reminders();
    }
    return taken;
  }

  /** Outbox → episodes and deliveries, in one transaction with the removal of the signals it consumed. */
  private async intake(): Promise<number> {
    const client = await this.opts.pool.connect();
    try {
      const batch = await beginIntakeBatch(client, BATCH);
      if (!batch.signals.length) {
        await client.query("COMMIT");
        return 0;
      }
      const plan = planIntake(
        this.config,
        batch.signals,
        batch.open,
        new Map(batch.runs.map((r) => [r.id, { ...r, labels: labelsOf(r.labels) }])),
        new Map(batch.sprites.map((s) => [s.id, { ...s, labels: labelsOf(s.labels) }])),
        new Date(),
        this.opts.wallClock?.(),
      );
      for (const bad of plan.invalid) this.opts.log.error("alert signal unreadable (dropped)", { signal: bad.id, error: bad.error });
      await insertEpisodes(
        client,
        plan.episodes.filter((e) => e.isNew),
      );
      await updateEpisodes(
        client,
        plan.episodes.filter((e) => !e.isNew && e.changed),
      );
      const raisedAt = new Map(plan.episodes.map((e) => [e.id, e.openedAt]));
      // Fresh triggers due now are claimed in this same transaction and queued for sending right after the
      // commit (no claim round trip, no second row version per alert): only the first of a dedup key and sink in
      // the batch, and only when nothing older for them is pending (order per key and sink). Their claim window
      // covers the wait behind everything already queued; the queue is bounded (a few rounds of sends) so a
      // process that dies holding claims delays them by a few timeouts at most. Beyond it, claimDue takes them.
      const seen = new Set<string>();
      const nowMs = Date.now();
      let room = PRECLAIM_ROUNDS * this.config.delivery.concurrency - this.inFlight.size - this.queue.length;
      let preclaims = 0;
      const rows = plan.deliveries.map((d) => {
        const k = `${d.dedupKey}\n${d.sink}`;
        const first = !seen.has(k);
        seen.add(k);
        const preclaim = first && room > 0 && d.event === "trigger" && d.nextAttemptAt.getTime() <= nowMs;
        if (preclaim) {
          room--;
          preclaims++;
        }
        return { ...d, preclaim, raisedAt: d.event === "trigger" && d.episodeId ? raisedAt.get(d.episodeId) : undefined };
      });
      const claimed = await insertDeliveries(client, rows, this.claimMs(preclaims));
      if (rows.some((r) => !r.preclaim && r.nextAttemptAt.getTime() <= nowMs) || claimed.length < preclaims) this.moreDue = true;
      await consumeSignalsAndCommit(
        client,
        batch.signals.map((s) => s.id),
      );
      if (claimed.length && !this.stopped) {
        this.queue.push(...claimed);
        this.pump();
      }
      for (const e of plan.episodes) if (e.isNew) alertsRaised.inc({ condition: e.condition, severity: e.severity });
      if (plan.deliveries.length) this.opts.log.debug("alerts queued", { deliveries: plan.deliveries.length, signals: batch.signals.length });
      return batch.signals.length;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  /** Longest send timeout of any sink. */
  private maxTimeoutMs(): number {
    return Math.max(sinkTimeoutMs(this.config, undefined), ...Object.values(this.config.sinks).map((s) => sinkTimeoutMs(this.config, s)));
  }

  /**
   * How long a claimed delivery is invisible to other claims: its wait in the send queue (one round of sends
   * per `concurrency` ahead of it, each bounded by the longest timeout), its own send, and slack. A process that
   * dies holding claims delays those by this much.
   */
  private claimMs(adding = 0): number {
    const ahead = this.inFlight.size + this.queue.length + adding;
    const rounds = Math.max(2, Math.ceil(ahead / Math.max(1, this.config.delivery.concurrency)) + 1);
    return rounds * this.maxTimeoutMs() + 2000;
  }

  /** Fills the send queue (twice the concurrency) with due deliveries. */
  private async claim(): Promise<number> {
    const capacity = 2 * this.config.delivery.concurrency - this.inFlight.size - this.queue.length;
    if (capacity <= 0) return 0;
    const rows = await claimDue(this.opts.pool, capacity, this.claimMs(capacity));
    this.moreDue = rows.length === capacity;
    this.queue.push(...rows);
    this.pump();
    return rows.length;
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < this.config.delivery.concurrency && this.queue.length) void this.launch(this.queue.shift()!);
  }

  private launch(row: ClaimedDelivery): Promise<void> {
    const p: Promise<void> = this.send(row)
      .then((r) => {
        this.results.push(r);
        if (this.results.length >= 200) this.flushWaker.wake();
      })
      .finally(() => {
        this.inFlight.delete(p);
        this.pump();
        if (this.moreDue && this.queue.length < this.config.delivery.concurrency) this.claimWaker.wake();
      });
    this.inFlight.add(p);
    return p;
  }

  private send(row: ClaimedDelivery): Promise<AttemptResult> {
    return sendDelivery(row, {
      config: this.config,
      env: this.env,
      log: this.opts.log,
      post: this.poster.post,
      ...(this.opts.secretPolicy ? { secretPolicy: this.opts.secretPolicy } : {}),
    });
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
              to_jsonb(s.labels) AS labels
         FROM "AlertEpisode" e LEFT JOIN "Sprite" s ON s.id = e."spriteId"
        WHERE e."resolvedAt" IS NULL AND e."lastNotifiedAt" <= now() - make_interval(secs => $1::double precision / 1000) LIMIT 1000`,
      [minMs],
    );
    if (!eps.rows.length) return;
    const now = new Date();
    const rows = [];
    const notified: string[] = [];
    for (const ep of eps.rows) {
      const routed = route(
        this.config,
        { condition: ep.condition as never, severity: ep.severity, spriteName: ep.subject.sprite?.name ?? null, labels: labelsOf(ep.labels) },
        now,
        this.opts.wallClock?.(),
      );
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
