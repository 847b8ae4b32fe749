import type pg from "pg";
import type { EventCursor } from "../contract";
import type { Config } from "../config/config";
import type { Db } from "../db/client";
import type { Run, Sprite } from "../generated/prisma/client";
import type { RunWriter } from "../runs/writer";
import { pollErrors } from "../observability/metrics";
import { TransportError, type RunTarget, type Transport } from "../transports/transport";
import { sendNothing, statusOnly, type PollSituation } from "./cost-aware";
import { oneLine, type Entry, type Fence } from "./entry";
import { LinePacker } from "../events/line-packer";
import { POLL_FAILED } from "./evaluate";
import { PollCommitter } from "./poll-commit";
import { fileEnd, pollChanged, type ReadContext } from "./poll-read";
import { Scheduler } from "./scheduler";
import { SeenSprites } from "./seen-sprites";
import type { WatchedRuns } from "./watchers";
import type { Logger } from "../util/log";

export { CHECKPOINT_RESTORED } from "./poll-read";

// Observes every registered run: polls it through its Sprite's transport, stores new events exactly once,
// re-projects its lifecycle, advances control intents with the evidence, and publishes after each commit. This
// file keeps the runs and decides what each poll reads; poll-read.ts reads the files, poll-commit.ts commits.

export interface IngestorOptions {
  db: Db;
  /** Raw driver pool: the batched Sprite.lastSeenAt refreshes (src/ingest/seen-sprites.ts). */
  pool: pg.Pool;
  log: Logger;
  config: Pick<Config, "OPS_POLL_INTERVAL_MS" | "OPS_STALE_AFTER_MS" | "OPS_HEALTH_PROFILE">;
  batchSize?: number;
  transportFor: (sprite: Sprite) => Transport;
  /** Only poll runs this replica holds a lease for (scale-out); default: every run. */
  fenceFor?: (runId: string) => { owner: string; token: number } | null;
  /** Every commit goes through the run writer, which also publishes it (src/runs/writer.ts). */
  runs: RunWriter;
  /** Runs an operator watches (a runEvents subscription): their Sprites are kept awake like a live run's. */
  watched?: WatchedRuns;
}

/** Failed polls in a row before the run's ingest shows ERROR (a single failure may be a mid-write file). */
export const FAILED_POLLS_BEFORE_ERROR = 3;

/** Polls in flight at once (bench:fleet at 10,000 runs: more only queue on the connection pool and time out). */
const MAX_CONCURRENT_POLLS = 32;

/** Runs loaded per query when polling starts (see addMany). */
const ADD_BATCH = 500;

export class Ingestor {
  readonly scheduler: Scheduler;
  private entries = new Map<string, Entry>();
  private readonly batchSize: number;
  private readonly unwatchWatchers: (() => void) | null;
  private readonly commits: PollCommitter;
  private readonly reads: ReadContext;
  /** Packs the stored form of each new line, a large page on a thread of its own. */
  readonly packer: LinePacker;

  private readonly seenSprites: SeenSprites;

  constructor(private readonly opts: IngestorOptions) {
    this.batchSize = opts.batchSize ?? 5000;
    this.seenSprites = new SeenSprites(opts.pool, (e) => opts.log.warn("could not record when Sprites were last seen", { error: (e as Error).message }));
    this.commits = new PollCommitter({ ...opts, retry: (runId) => void this.scheduler.trigger(runId) });
    this.packer = new LinePacker(opts.log);
    this.reads = { commits: this.commits, packer: this.packer, batchSize: this.batchSize, log: opts.log };
    this.scheduler = new Scheduler({
      intervalMs: (runId) => this.entries.get(runId)?.sprite.pollIntervalMs ?? opts.config.OPS_POLL_INTERVAL_MS,
      maxConcurrent: MAX_CONCURRENT_POLLS,
      poll: async (runId) => {
        await this.poll(runId);
        const entry = this.entries.get(runId);
        if (entry) entry.pollFailures = 0;
      },
      onError: (runId, e) => {
        opts.log.warn("poll failed", { runId, error: (e as Error).message });
        void this.pollFailed(runId, e);
      },
    });
    // A first watcher: read the run now (and from then on every poll) rather than at the next idle recheck.
    this.unwatchWatchers =
      opts.watched?.onChange((runId, watched) => {
        if (watched && this.entries.has(runId)) void this.scheduler.trigger(runId);
      }) ?? null;
  }

  /** Whether the manager keeps this run's Sprite awake: a live run, or one an operator watches. */
  private keepAwake(entry: Entry): boolean {
    return entry.live || (this.opts.watched?.isWatched(entry.runId) ?? false);
  }

  async start(): Promise<void> {
    const runs = await this.opts.db.run.findMany({ where: { removedAt: null }, select: { id: true } });
    await this.addMany(runs.map((r) => r.id));
  }

  async add(runId: string): Promise<void> {
    await this.addMany([runId]);
  }

  /**
   * Starts polling runs, loaded ADD_BATCH at a time: a replica that takes 10,000 leases at once would otherwise
   * queue 10,000 single-row reads on its connection pool, and its lease renewal would time out behind them.
   */
  async addMany(runIds: readonly string[]): Promise<void> {
    const fresh = [...new Set(runIds)].filter((id) => !this.entries.has(id));
    for (let i = 0; i < fresh.length; i += ADD_BATCH) {
      const runs = await this.opts.db.run.findMany({ where: { id: { in: fresh.slice(i, i + ADD_BATCH) }, removedAt: null }, include: { sprite: true } });
      for (const run of runs) if (!this.entries.has(run.id)) this.register(run);
    }
  }

  private register(run: Run & { sprite: Sprite }): void {
    const runId = run.id;
    const transport = this.opts.transportFor(run.sprite);
    const target: RunTarget = { runId, spriteName: run.sprite.name, repoPath: run.repoPath, loopId: run.loopId };
    const entry: Entry = {
      runId,
      target,
      transport,
      sprite: run.sprite,
      lastFingerprint: null,
      dirty: true,
      transportFailures: 0,
      pollFailures: 0,
      lastTransportError: null,
      spriteChange: null,
      timeSensitive: true,
      live: true,
      lastReadAt: 0,
      unwatch: null,
    };
    // The transport's own change feed (SPRITE_SERVICE: a long poll, which keeps the Sprite awake) only while
    // the manager means to keep the Sprite awake.
    entry.unwatch = transport.watch?.(target, () => void this.scheduler.trigger(runId), { active: () => this.keepAwake(entry) }) ?? null;
    this.entries.set(runId, entry);
    this.scheduler.add(runId);
  }

  remove(runId: string): void {
    const e = this.entries.get(runId);
    e?.unwatch?.();
    this.entries.delete(runId);
    this.scheduler.remove(runId);
  }

  /** Whether this process polls the run (in a cluster: this replica holds its lease and has started polling it). */
  observes(runId: string): boolean {
    return this.entries.has(runId);
  }

  /** Something outside the poller changed the run (intent, reset, sprite update): re-read it fully, now. */
  syncRun(runId: string): Promise<void> {
    const e = this.entries.get(runId);
    if (e) e.dirty = true;
    return this.scheduler.trigger(runId);
  }

  /** The database is back after an outage: re-read every run now rather than after each one's error backoff. */
  resumeAll(): void {
    for (const [runId, e] of this.entries) {
      e.dirty = true;
      void this.scheduler.trigger(runId);
    }
  }

  /** Where events.jsonl ends now (complete lines), read through the run's transport without storing anything. */
  async currentEnd(runId: string): Promise<EventCursor> {
    const entry = this.entries.get(runId) ?? (this.opts.fenceFor ? await this.reader(runId) : undefined);
    if (!entry) throw new Error(`run ${runId} is not being observed`);
    return fileEnd(entry, this.batchSize);
  }

  /** Scale-out: another replica polls the run, but reading its files needs no lease. */
  private async reader(runId: string): Promise<Pick<Entry, "transport" | "target"> | undefined> {
    const run = await this.opts.db.run.findUnique({ where: { id: runId }, include: { sprite: true } });
    if (!run || run.removedAt) return undefined;
    return { transport: this.opts.transportFor(run.sprite), target: { runId, spriteName: run.sprite.name, repoPath: run.repoPath, loopId: run.loopId } };
  }

  /** A sprite's settings changed: the runs of it polled here re-read it (and its transport). */
  async refreshSprite(spriteId: string): Promise<void> {
    for (const e of this.entries.values()) {
      if (e.sprite.id !== spriteId) continue;
      const sprite = await this.opts.db.sprite.findUnique({ where: { id: spriteId } });
      if (!sprite) continue;
      e.sprite = sprite;
      e.transport = this.opts.transportFor(sprite);
      e.dirty = true;
    }
  }

  async stop(): Promise<void> {
    this.unwatchWatchers?.();
    for (const e of this.entries.values()) e.unwatch?.();
    await this.scheduler.stop();
    await this.seenSprites.stop().catch(() => {});
    await this.packer.close();
    await Promise.all([...new Set([...this.entries.values()].map((e) => e.transport))].map((t) => t.close?.() ?? Promise.resolve()));
    this.entries.clear();
  }

  /** One poll of one run. Exposed for tests and benches; the scheduler calls it. */
  async poll(runId: string): Promise<void> {
    try {
      await this.pollOnce(runId);
    } finally {
      await this.recordAwakeTime(runId);
    }
  }

  /** Adds the awake time this manager's requests caused (since the last poll, control included) to the Sprite. */
  private async recordAwakeTime(runId: string): Promise<void> {
    const entry = this.entries.get(runId);
    const ms = entry?.transport.takeAwakeMs?.() ?? 0;
    if (!entry || ms <= 0) return;
    entry.sprite = await this.opts.db.sprite.update({ where: { id: entry.sprite.id }, data: { awakeByManagerSeconds: { increment: ms / 1000 } } });
  }

  private async pollOnce(runId: string): Promise<void> {
    const entry = this.entries.get(runId);
    if (!entry) return;
    const fence = this.opts.fenceFor ? this.opts.fenceFor(runId) : null;
    if (this.opts.fenceFor && !fence) return; // another replica polls this run

    if (sendNothing(this.situation(entry), entry.sprite.status)) {
      // Not even the status request: over SPRITE_SERVICE it reaches the Sprite and would keep it awake.
      if (entry.spriteChange || entry.timeSensitive) await this.commits.evaluateAndCommit(entry, null, [], null, {}, fence);
      return;
    }
    let fingerprint: string | null;
    let spriteObservation;
    try {
      try {
        spriteObservation = await entry.transport.spriteStatus(entry.target);
      } catch (e) {
        // The status source itself failed (agent down, Sprites API 5xx, token refused): the Sprite is unreachable.
        await this.recordSpriteStatus(entry, "UNREACHABLE", (e as Error).message);
        throw e;
      }
      await this.recordSpriteStatus(entry, spriteObservation.status, spriteObservation.detail ?? null, spriteObservation.labels);
      if (spriteObservation.incompatible) {
        // The agent answers in a protocol this manager does not speak: read nothing, say so on the run.
        entry.dirty = true;
        await this.commits.evaluateAndCommit(entry, null, [], null, { agentIncompatible: spriteObservation.incompatible }, fence);
        return;
      }
      if (spriteObservation.status === "UNREACHABLE") {
        throw new TransportError("unreachable", spriteObservation.detail ?? "the Sprite does not answer", true);
      }
      if (statusOnly(this.situation(entry), spriteObservation.status)) {
        // Status only: the files are as last read; a status change (or the clock) may still change the projection.
        if (entry.spriteChange || entry.timeSensitive) await this.commits.evaluateAndCommit(entry, null, [], null, {}, fence);
        return;
      }
      entry.lastReadAt = Date.now();
      fingerprint = spriteObservation.status === "MISSING" ? null : await entry.transport.fingerprint(entry.target);
    } catch (e) {
      if (await this.transportProblem(entry, e, fence)) return;
      throw e;
    }

    // The idle path: nothing changed on disk and nothing depends on the clock — no file read, no query.
    if (entry.transportFailures === 0 && fingerprint !== null && fingerprint === entry.lastFingerprint && !entry.dirty && !entry.timeSensitive) {
      // Nothing to read, but a Sprite status change (e.g. it hibernated) is still recorded on the run.
      if (entry.spriteChange) await this.commits.evaluateAndCommit(entry, null, [], null, {}, fence);
      return;
    }
    try {
      await pollChanged(this.reads, entry, fingerprint, spriteObservation, fence);
    } catch (e) {
      if (await this.transportProblem(entry, e, fence)) return;
      throw e;
    }
  }

  /**
   * A poll that failed with anything but a handled transport problem (a commit PostgreSQL refused, an artifact
   * that cannot be read, a bug): after FAILED_POLLS_BEFORE_ERROR in a row the run's ingest is ERROR with the
   * reason, so health and interventions say so instead of only the log. Cleared by the next poll that succeeds.
   */
  private async pollFailed(runId: string, e: unknown): Promise<void> {
    const entry = this.entries.get(runId);
    // A transport failure is already on the run as transport_unreachable with its raw reason (transportProblem).
    if (!entry || e instanceof TransportError) return;
    entry.pollFailures++;
    if (entry.pollFailures < FAILED_POLLS_BEFORE_ERROR) return;
    const fence = this.opts.fenceFor ? this.opts.fenceFor(runId) : null;
    if (this.opts.fenceFor && !fence) return;
    const reason = `${POLL_FAILED}${entry.pollFailures} polls in a row failed: ${oneLine(e)}`;
    try {
      const run = await this.commits.loadRun(runId);
      // the same streak already shown: nothing to write (the count in the message would churn every poll)
      if (!run || run.ingestError?.startsWith(POLL_FAILED) || run.ingestStatus !== "OK") return;
      await this.commits.evaluateAndCommit(entry, null, [], null, { ingestError: reason }, fence, run);
    } catch (err) {
      this.opts.log.warn("cannot record the failing polls on the run", { runId, error: oneLine(err) });
    }
  }

  /**
   * A failure of the transport rather than of the run's files. Returns true when handled as data (an untrusted
   * answer: fail closed like a bad line), false when the caller rethrows it so the scheduler backs off; either
   * way the run's health shows the raw reason. Anything that is not a TransportError is not ours to handle.
   */
  private async transportProblem(entry: Entry, e: unknown, fence: Fence): Promise<boolean> {
    if (!(e instanceof TransportError)) return false;
    pollErrors.inc({ transport: entry.sprite.transport, code: e.code });
    entry.dirty = true; // whatever happens next, re-read everything once the transport works again
    if (e.code === "invalid_payload") {
      await this.commits.evaluateAndCommit(entry, null, [], null, { ingestError: `invalid_payload: ${e.message}` }, fence);
      return true;
    }
    entry.transportFailures++;
    entry.lastTransportError = `${e.code}: ${e.message}`;
    await this.commits.evaluateAndCommit(entry, null, [], null, { transportError: entry.lastTransportError }, fence);
    return false;
  }

  /** What cost-aware polling (src/ingest/cost-aware.ts) needs to know about this run now. */
  private situation(entry: Entry): PollSituation {
    return { transport: entry.transport.kind, keepAwake: this.keepAwake(entry), dirty: entry.dirty, transportFailures: entry.transportFailures, lastReadAt: entry.lastReadAt, now: Date.now() };
  }

  /** Stores the Sprite's status (and when it was last seen answering); a change becomes a transition of the run. */
  private async recordSpriteStatus(entry: Entry, status: Sprite["status"], detail: string | null, labels?: string[]): Promise<void> {
    const seen = status !== "MISSING" && status !== "UNREACHABLE";
    const lastSeen = entry.sprite.lastSeenAt?.getTime() ?? 0;
    const labelsChanged = labels !== undefined && JSON.stringify(labels) !== JSON.stringify(entry.sprite.labels);
    if (status === entry.sprite.status && !labelsChanged && (!seen || Date.now() - lastSeen < 60_000)) return;
    if (status === entry.sprite.status && !labelsChanged) {
      // Only "still seen": written in batches (src/ingest/seen-sprites.ts), not one UPDATE per Sprite per minute.
      const at = new Date();
      entry.sprite = { ...entry.sprite, lastSeenAt: at };
      this.seenSprites.mark(entry.sprite.id, at);
      return;
    }
    const from = entry.sprite.status;
    entry.sprite = await this.opts.db.sprite.update({
      where: { id: entry.sprite.id },
      data: { status, ...(seen ? { lastSeenAt: new Date() } : {}), ...(labelsChanged ? { labels } : {}) },
    });
    // The first observation of a Sprite (UNKNOWN → anything) is not a change worth a transition.
    if (from !== status && from !== "UNKNOWN") {
      entry.spriteChange = { from, to: status, detail };
      // Re-read on any change but hibernation: reading a COLD or WARM Sprite's files would only wake it for
      // nothing. A wake (→ RUNNING) is read once: whoever woke it may have changed the files.
      if (status !== "COLD" && status !== "WARM") entry.dirty = true;
    }
  }
}
