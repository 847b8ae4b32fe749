import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { z } from "zod";
import type { Logger } from "../util/log";
import { dispatchOnce, heldForRequester, type IntentDispatchDeps, type RunOwner } from "./dispatch-once";
import type { ClusterBus } from "./routed-bus";
import { Fanout, type FanoutStats, type IntentRow, type Query } from "./fanout";
import { LeaseManager, type LeaseStatus } from "./leases";
import { PgListener, type ListenerHealth } from "./listener";
import { RunNotPolledError } from "../errors";

// Scale-out: several manager replicas on one PostgreSQL. Composes the LISTEN session (listener.ts), the
// cursor-based fan-out to this replica's subscribers (fanout.ts), run leases (leases.ts) and intent dispatch
// (dispatch.ts), and forwards syncRun to whichever replica polls the run.

/** Sent by a trigger on "Run" whenever seq changes (migration 20261125000000_cluster): {"runId","seq"}. */
export const RUN_CHANGED_CHANNEL = "ops_run_changed";
/** Replica-to-replica coordination: lease hand-backs, forwarded syncs, intent nudges. */
export const CLUSTER_CHANNEL = "ops_cluster";
/** How soon a forwarded sync that found nobody polling the run asks again. */
const SYNC_RETRY_MS = 100;

const RunChangedPayload = z.object({ runId: z.string().min(1), seq: z.number().int() });
const ClusterMessage = z.discriminatedUnion("t", [
  z.object({ t: z.literal("joined"), from: z.string() }),
  z.object({ t: z.literal("released"), from: z.string() }),
  // `to`: the replica the requester found holding the run's lease; it answers whether it polled the run. Without
  // it (a requester of an earlier version) whichever replica holds the lease answers, as before.
  z.object({ t: z.literal("sync"), from: z.string(), runId: z.string(), req: z.string(), to: z.string().optional() }),
  z.object({ t: z.literal("synced"), req: z.string(), polled: z.boolean().default(true) }),
  z.object({ t: z.literal("intent"), runId: z.string() }),
  z.object({ t: z.literal("sprite"), from: z.string(), spriteId: z.string() }),
]);
type ClusterMessage = z.infer<typeof ClusterMessage>;

export interface ClusterOptions {
  replicaId: string;
  ttlMs: number;
  renewMs: number;
  slack: number;
  bus: ClusterBus;
  pool: pg.Pool;
  databaseUrl: string;
  log: Logger;
}

export interface ClusterStatus {
  replicaId: string;
  leases: LeaseStatus;
  listener: ListenerHealth;
  fanout: FanoutStats;
}

/** What the cluster drives on this replica: the poller, for the runs whose lease it holds. */
export interface RunPoller {
  add(runId: string): Promise<void>;
  /** Many at once (a lease round's batch), loaded in few queries rather than one each. */
  addMany?(runIds: readonly string[]): Promise<void>;
  remove(runId: string): void;
  /** Poll a run this replica polls, now (never forwarded: this is the holder's side of a forwarded sync). */
  syncRun(runId: string): Promise<void>;
  refreshSprite(spriteId: string): Promise<void>;
}

/** The work a replica does for the runs it holds, handed to start(). */
export interface ClusterWork {
  poller: RunPoller;
  /** Dispatch one REQUESTED intent (the control service), at most once through `dispatch` (src/cluster/dispatch-once.ts). */
  dispatchIntent: (intentId: string) => Promise<void>;
  dispatch: IntentDispatchDeps;
}

/** hostname-pid, short enough for PostgreSQL's application_name (63 bytes with our prefix). */
export const defaultReplicaId = (): string => `${hostname().slice(0, 40)}-${process.pid}`;

/** Period of the full re-read that catches a change whose notification never arrived. */
const RESYNC_MS = 30_000;

export class Cluster implements RunOwner {
  readonly leases: LeaseManager;
  readonly fanout: Fanout;
  readonly listener: PgListener;
  private work: ClusterWork | null = null;
  private readonly syncWaiters = new Map<string, (polled: boolean) => void>();
  private pickupTimer: NodeJS.Timeout | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private readonly applicationName: string;
  /**
   * The lease rounds' own connection: renewals queued on the shared pool behind a burst of ingest commits (a
   * replica that just took 10,000 runs reads them all) could wait past the lease TTL, and the leases were lost
   * and taken again in a loop (bench:fleet-cluster at 30,000 runs).
   */
  private readonly leasePool: pg.Pool;
  private stopped = false;

  constructor(private readonly opts: ClusterOptions) {
    const pool = opts.pool;
    this.applicationName = `superloop-ops ${opts.replicaId}`.slice(0, 63);
    // Reads go over the dedicated session (never queued behind ingest in the pool); the pool only while it reconnects.
    const query: Query = async <R extends pg.QueryResultRow>(text: string, values: unknown[]) => (await this.listener.query<R>(text, values)) ?? pool.query<R>(text, values);
    this.fanout = new Fanout({
      bus: opts.bus,
      query,
      log: opts.log,
      onNewRun: () => this.leases.requestRound(),
      onIntents: (rows) => this.pickUp(rows),
    });
    this.listener = new PgListener({
      url: opts.databaseUrl,
      channels: [RUN_CHANGED_CHANNEL, CLUSTER_CHANNEL],
      applicationName: this.applicationName,
      log: opts.log,
      onNotification: (channel, payload) => this.onNotification(channel, payload),
      onConnected: async () => {
        await this.fanout.resync(query);
      },
    });
    this.leasePool = new pg.Pool({ connectionString: opts.databaseUrl, max: 1, application_name: `${this.applicationName} leases`.slice(0, 63), connectionTimeoutMillis: 10_000 });
    this.leasePool.on("error", (e) => opts.log.warn("lease connection failed; it reconnects at the next round", { error: e.message }));
    this.leases = new LeaseManager({
      pool: this.leasePool,
      replicaId: opts.replicaId,
      ttlMs: opts.ttlMs,
      renewMs: opts.renewMs,
      slack: opts.slack,
      log: opts.log,
      onAcquired: (ids) => this.onAcquired(ids),
      onLost: (ids) => {
        for (const id of ids) this.work?.poller.remove(id);
      },
      announceReleased: () => this.send({ t: "released", from: opts.replicaId }),
    });
  }

  get replicaId(): string {
    return this.opts.replicaId;
  }

  isLeaseHolder(runId: string): boolean {
    return this.leases.isHolder(runId);
  }

  status(): ClusterStatus {
    return { replicaId: this.opts.replicaId, leases: this.leases.status(), listener: this.listener.health(), fanout: this.fanout.status() };
  }

  /** Connects LISTEN, adopts the current position of every run, then takes a share of the leases. */
  async start(work: ClusterWork): Promise<void> {
    this.work = work;
    // Two live processes with one id would both believe they hold the same leases: refuse to be the second.
    const twin = await this.opts.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, [this.applicationName]);
    if ((twin.rows[0]?.n ?? 0) > 0) throw new Error(`OPS_REPLICA_ID ${this.opts.replicaId} is in use by a live replica; give each replica its own`);
    this.opts.bus.setRouter(this.fanout);
    await this.listener.start();
    await this.leases.start();
    await this.send({ t: "joined", from: this.opts.replicaId });
    this.pickupTimer = setInterval(() => void this.pickUpRequested().catch(() => {}), this.opts.renewMs);
    this.pickupTimer.unref();
    // A safety net under the notifications: every run whose seq moved without one is read anyway.
    this.resyncTimer = setInterval(() => {
      if (this.listener.connected) void this.fanout.resync().catch((e: unknown) => this.opts.log.warn("periodic resync failed", { error: (e as Error).message }));
    }, RESYNC_MS);
    this.resyncTimer.unref();
  }

  /** A run was registered on this replica: poll it here if that keeps us within our share. */
  async onRunRegistered(runId: string): Promise<void> {
    if (await this.leases.tryAcquire(runId)) await this.work?.poller.add(runId);
  }

  /**
   * syncRun for a run this replica does not poll: poll it where its lease is held, or here when nobody holds it and
   * our share allows, within timeoutMs. A lease is taken in rounds and its holder adds the run to its poller a
   * moment after taking it, so until one replica has polled the run the sync asks again. Resolving without a poll
   * would hand the caller the run as stored before, as if it were fresh: RunNotPolledError instead.
   */
  async forwardSync(runId: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.stopped) throw new RunNotPolledError(timeoutMs, "this replica is stopping");
      const notPolled = await this.syncWhereHeld(runId, deadline);
      if (notPolled === null) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new RunNotPolledError(timeoutMs, notPolled);
      if (!this.stopped) await new Promise((r) => setTimeout(r, Math.min(SYNC_RETRY_MS, left)));
    }
  }

  /** One attempt of forwardSync: null once the run was polled, or why it was not. */
  private async syncWhereHeld(runId: string, deadline: number): Promise<string | null> {
    const holder = await this.opts.pool.query<{ owner: string }>(`SELECT owner FROM "RunLease" WHERE "runId" = $1 AND "expiresAt" > now()`, [runId]);
    const owner = holder.rows[0]?.owner;
    if (!owner) this.leases.requestRound();
    // Ours (just taken: polling has not started), or nobody's (every replica at its share, or its holder just
    // died) and ours now: poll it here.
    if (owner === this.opts.replicaId || (!owner && (await this.leases.tryAcquire(runId)))) {
      if (!this.isLeaseHolder(runId)) return "this replica is taking its lease";
      await this.pollHere(runId);
      return null;
    }
    if (!owner) return "no replica holds its lease, and this one is at its share";
    const req = randomUUID();
    const answered = new Promise<boolean | null>((resolve) => {
      const t = setTimeout(
        () => {
          this.syncWaiters.delete(req);
          resolve(null);
        },
        Math.max(0, deadline - Date.now()),
      );
      this.syncWaiters.set(req, (polled) => {
        clearTimeout(t);
        this.syncWaiters.delete(req);
        resolve(polled);
      });
    });
    await this.send({ t: "sync", from: this.opts.replicaId, runId, req, to: owner });
    const polled = await answered;
    if (polled) return null;
    return polled === null ? `its lease holder ${owner} did not answer` : `its lease holder ${owner} is not polling it yet`;
  }

  /**
   * Poll a run whose lease this replica holds, now. The lease is taken a moment before the poller has the run
   * (ingestor.add is async), and a trigger of a run the poller does not have polls nothing: added first.
   */
  private async pollHere(runId: string): Promise<void> {
    await this.work?.poller.add(runId);
    await this.work?.poller.syncRun(runId);
  }

  /** A sprite's settings changed here: replicas polling its runs must re-read it. */
  broadcastSpriteRefresh(spriteId: string): void {
    void this.send({ t: "sprite", from: this.opts.replicaId, spriteId }).catch(() => {});
  }

  /** Ask the lease holder of the run to look for REQUESTED intents now. */
  nudge(runId: string): void {
    void this.send({ t: "intent", runId }).catch(() => {});
  }

  /** Stop taking work; the caller stops the ingestor, then calls release(). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pickupTimer) clearInterval(this.pickupTimer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.leases.stop();
  }

  /** Start-up failed: stop without touching leases or the replica table (they may be another process's). */
  async abort(): Promise<void> {
    await this.stop();
    this.fanout.stop();
    this.opts.bus.setRouter(null);
    await this.listener.stop();
    await this.leasePool.end().catch(() => {});
  }

  /** After polling stopped: hand every lease back, leave the replica table, close LISTEN. */
  async release(): Promise<number> {
    let released = 0;
    try {
      released = await this.leases.releaseAll();
    } catch (e) {
      this.opts.log.warn("could not release leases on shutdown; they expire on their own", { error: (e as Error).message });
    }
    this.fanout.stop();
    this.opts.bus.setRouter(null);
    await this.listener.stop();
    await this.leasePool.end().catch(() => {});
    for (const w of [...this.syncWaiters.values()]) w(false);
    return released;
  }

  private async send(m: ClusterMessage): Promise<void> {
    await this.opts.pool.query(`SELECT pg_notify($1, $2)`, [CLUSTER_CHANNEL, JSON.stringify(m)]);
  }

  private onNotification(channel: string, payload: string): void {
    let json: unknown;
    try {
      json = JSON.parse(payload);
    } catch {
      this.opts.log.warn("ignoring a malformed notification", { channel });
      return;
    }
    if (channel === RUN_CHANGED_CHANNEL) {
      const p = RunChangedPayload.safeParse(json);
      if (p.success) this.fanout.notified(p.data.runId, p.data.seq);
      return;
    }
    if (channel !== CLUSTER_CHANNEL) return;
    const p = ClusterMessage.safeParse(json);
    if (!p.success) return;
    const m = p.data;
    switch (m.t) {
      case "joined":
      case "released":
        if (m.from !== this.opts.replicaId) this.leases.requestRound(m.t === "joined" ? 20 : 5);
        return;
      case "sync": {
        if (m.to !== undefined && m.to !== this.opts.replicaId) return;
        if (!this.work || !this.isLeaseHolder(m.runId)) {
          // Addressed here, but the lease is not (or not yet) ours: say so, and the requester looks again.
          if (m.to !== undefined) void this.send({ t: "synced", req: m.req, polled: false }).catch(() => {});
          return;
        }
        void this.pollHere(m.runId)
          .then(
            () => true,
            () => false,
          )
          .then((polled) => this.send({ t: "synced", req: m.req, polled }))
          .catch(() => {});
        return;
      }
      case "synced":
        this.syncWaiters.get(m.req)?.(m.polled);
        return;
      case "intent":
        if (this.isLeaseHolder(m.runId)) void this.pickUpRequested([m.runId]).catch(() => {});
        return;
      case "sprite":
        if (m.from !== this.opts.replicaId) void this.work?.poller.refreshSprite(m.spriteId).catch(() => {});
        return;
    }
  }

  private onAcquired(ids: string[]): void {
    const work = this.work;
    if (!work) return;
    const failed = (e: unknown) => this.opts.log.warn("could not start polling leased runs", { runs: ids.length, error: (e as Error).message });
    if (work.poller.addMany) work.poller.addMany(ids).catch(failed);
    else for (const id of ids) work.poller.add(id).catch(failed);
    void this.pickUpRequested(ids).catch(() => {});
  }

  /** Intents read by the fan-out: dispatch the REQUESTED ones of runs this replica holds. */
  private pickUp(rows: IntentRow[]): void {
    for (const r of rows) if (r.stage === "REQUESTED") this.dispatch(r.id, r.runId);
  }

  private async pickUpRequested(runIds: string[] = this.leases.heldRunIds()): Promise<void> {
    if (!runIds.length || !this.work) return;
    const res = await this.opts.pool.query<{ id: string; runId: string }>(`SELECT id, "runId" FROM "ControlIntent" WHERE stage = 'REQUESTED' AND "runId" = ANY($1::text[])`, [runIds]);
    for (const r of res.rows) this.dispatch(r.id, r.runId);
  }

  private dispatch(intentId: string, runId: string): void {
    const work = this.work;
    if (!work || this.stopped || !this.isLeaseHolder(runId) || heldForRequester(work.dispatch, intentId)) return;
    dispatchOnce(work.dispatch, intentId, () => work.dispatchIntent(intentId)).catch((e: unknown) =>
      this.opts.log.warn("dispatch of a forwarded intent failed", { intentId, runId, error: (e as Error).message }),
    );
  }
}
