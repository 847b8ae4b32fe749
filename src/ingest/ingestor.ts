import type pg from "pg";
import { AdapterError, type EventCursor, type EventsPage } from "../contract";
import type { Config } from "../config/config";
import { isTerminalStage } from "../control/stages";
import type { Db } from "../db/client";
import type { Run, Sprite } from "../generated/prisma/client";
import { foldEventFacts } from "../lifecycle/event-facts";
import type { RunWriter } from "../runs/writer";
import { pollErrors } from "../observability/metrics";
import { withTrace } from "../observability/trace";
import { TransportError, type RunTarget, type Transport } from "../transports/transport";
import { commitPoll, CursorConflict, type CommitInput } from "./commit";
import { evaluateRun, POLL_FAILED, type Evaluation } from "./evaluate";
import { originalLine, payloadOf } from "../events/stored-event";
import { EnvelopeRejected, rowsFromEnvelopes, type EventRow } from "./rows";
import type { RunWithIntents } from "./run-row";
import { Scheduler } from "./scheduler";
import { SeenSprites } from "./seen-sprites";
import { sendNothing, statusOnly, type PollSituation } from "./cost-aware";
import type { WatchedRuns } from "./watchers";
import { parseStoredFacts, toRuntimeFacts, type StoredFacts } from "./stored-facts";
import type { RuntimeFacts } from "../lifecycle/types";
import type { Logger } from "../util/log";

// Observes every registered run: polls it through its Sprite's transport, stores new events exactly once,
// re-projects its lifecycle, advances control intents with the evidence, and publishes after each commit.

export interface IngestorOptions {
  db: Db;
  /** Raw driver pool: the commit's multi-row inserts. */
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

interface Entry {
  runId: string;
  target: RunTarget;
  transport: Transport;
  sprite: Sprite;
  lastFingerprint: string | null;
  dirty: boolean;
  transportFailures: number;
  /** Polls in a row that failed with something else than a transport problem (see pollFailed). */
  pollFailures: number;
  /** The last transport failure's message, shown in the transport_unreachable health reason. */
  lastTransportError?: string | null;
  /** A Sprite status change not yet recorded as a transition of this run. */
  spriteChange?: { from: Sprite["status"]; to: Sprite["status"]; detail: string | null } | null;
  /** Whether the last evaluation depends on the clock (running, open intents, unhealthy): then even an
   * unchanged fingerprint needs a re-evaluation (staleness, deadlines). */
  timeSensitive: boolean;
  /** A run the manager keeps its Sprite awake for: RUNNING or PAUSED, or an open intent. */
  live: boolean;
  /** When this poller last read the run's files (fingerprint or facts). */
  lastReadAt: number;
  unwatch: (() => void) | null;
}

/** The fork reason when a checkpoint restore rewound the Sprite's files (see src/transports/sprite-checkpoints.ts). */
export const CHECKPOINT_RESTORED = "checkpoint_restored";

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Failed polls in a row before the run's ingest shows ERROR (a single failure may be a mid-write file). */
export const FAILED_POLLS_BEFORE_ERROR = 3;

/** An error as one short line for a viewer-readable field: first line, no control characters, bounded. */
function oneLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const first =
    text
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l && !/^Invalid `.*` invocation/.test(l)) ?? text;
  // eslint-disable-next-line no-control-regex -- a database error shown to operators: control characters become spaces
  return first.replace(/[\u0000-\u001f\u007f]/g, " ").slice(0, 300);
}

/** Polls in flight at once (bench:fleet at 10,000 runs: more only queue on the connection pool and time out). */
const MAX_CONCURRENT_POLLS = 32;

/** Runs loaded per query when polling starts (see addMany). */
const ADD_BATCH = 500;

/** A page read after a cursor and its rows, or why not (a prefetch never rejects: see pollChanged). */
type PreparedPage = { page: EventsPage; rows: EventRow[] } | { error: unknown };

export class Ingestor {
  readonly scheduler: Scheduler;
  private entries = new Map<string, Entry>();
  private readonly batchSize: number;
  private readonly unwatchWatchers: (() => void) | null;
  private readonly seenSprites: SeenSprites;

  constructor(private readonly opts: IngestorOptions) {
    this.batchSize = opts.batchSize ?? 5000;
    this.seenSprites = new SeenSprites(opts.pool, (e) => opts.log.warn("could not record when Sprites were last seen", { error: (e as Error).message }));
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
    let cursor: EventCursor = { line: 0, byteOffset: 0, lastLineHash: null };
    for (;;) {
      const page = await entry.transport.readEvents(entry.target, cursor, this.batchSize);
      if (page.envelopes.length === 0) return cursor;
      cursor = { line: page.cursor.line, byteOffset: page.cursor.byteOffset, lastLineHash: page.cursor.lastLineHash };
      if (!page.hasMore || page.error) return cursor;
    }
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
      if (entry.spriteChange || entry.timeSensitive) await this.evaluateAndCommit(entry, null, [], null, {}, fence);
      return;
    }
    let fingerprint: string | null = null;
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
        await this.evaluateAndCommit(entry, null, [], null, { agentIncompatible: spriteObservation.incompatible }, fence);
        return;
      }
      if (spriteObservation.status === "UNREACHABLE") {
        throw new TransportError("unreachable", spriteObservation.detail ?? "the Sprite does not answer", true);
      }
      if (statusOnly(this.situation(entry), spriteObservation.status)) {
        // Status only: the files are as last read; a status change (or the clock) may still change the projection.
        if (entry.spriteChange || entry.timeSensitive) await this.evaluateAndCommit(entry, null, [], null, {}, fence);
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
      if (entry.spriteChange) await this.evaluateAndCommit(entry, null, [], null, {}, fence);
      return;
    }
    try {
      await this.pollChanged(entry, runId, fingerprint, spriteObservation, fence);
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
      const run = await this.loadRun(runId);
      // the same streak already shown: nothing to write (the count in the message would churn every poll)
      if (!run || run.ingestError?.startsWith(POLL_FAILED) || run.ingestStatus !== "OK") return;
      await this.evaluateAndCommit(entry, null, [], null, { ingestError: reason }, fence, run);
    } catch (err) {
      this.opts.log.warn("cannot record the failing polls on the run", { runId, error: oneLine(err) });
    }
  }

  /**
   * A failure of the transport rather than of the run's files. Returns true when handled as data (an untrusted
   * answer: fail closed like a bad line), false when the caller rethrows it so the scheduler backs off; either
   * way the run's health shows the raw reason. Anything that is not a TransportError is not ours to handle.
   */
  private async transportProblem(entry: Entry, e: unknown, fence: { owner: string; token: number } | null): Promise<boolean> {
    if (!(e instanceof TransportError)) return false;
    pollErrors.inc({ transport: entry.sprite.transport, code: e.code });
    entry.dirty = true; // whatever happens next, re-read everything once the transport works again
    if (e.code === "invalid_payload") {
      await this.evaluateAndCommit(entry, null, [], null, { ingestError: `invalid_payload: ${e.message}` }, fence);
      return true;
    }
    entry.transportFailures++;
    entry.lastTransportError = `${e.code}: ${e.message}`;
    await this.evaluateAndCommit(entry, null, [], null, { transportError: entry.lastTransportError }, fence);
    return false;
  }

  private async pollChanged(entry: Entry, runId: string, fingerprint: string | null, spriteObservation: { status: Sprite["status"] }, fence: { owner: string; token: number } | null): Promise<void> {
    const run = await this.loadRun(runId);
    if (!run) return;

    const facts = spriteObservation.status === "MISSING" ? null : await this.readSettledFacts(entry, parseStoredFacts(run.facts).runtime);
    // Reads work again: the failure streak ends here, and this poll's commit clears the health reason.
    entry.transportFailures = 0;
    entry.lastTransportError = null;
    entry.dirty = false;
    let cursor: EventCursor = { line: run.cursorLine, byteOffset: Number(run.cursorByteOffset), lastLineHash: run.cursorLineHash };
    let stored = parseStoredFacts(run.facts);
    let current: RunWithIntents = run;

    const failingPolls = run.ingestStatus === "ERROR" && !!run.ingestError?.startsWith(POLL_FAILED);
    if ((run.ingestStatus === "OK" || failingPolls) && facts) {
      // Each page is read and turned into rows while the previous one commits, so the file read, the parsing and
      // the packing overlap the database's insert instead of adding to it (bench:ingest). A prefetched page is
      // only used if the commit before it succeeded, from the cursor that commit stored.
      const prepare = (from: EventCursor): Promise<PreparedPage> =>
        entry.transport.readEvents(entry.target, from, this.batchSize).then(
          async (page) => {
            // Between the synchronous steps of a page (read, rows, evaluation): a long catch-up (a replay after a
            // cursor reset) must leave the event loop to requests between them.
            await yieldToLoop();
            try {
              return { page, rows: rowsFromEnvelopes(page.envelopes, page.lines, entry.target.loopId, from.line) };
            } catch (error) {
              return { error };
            }
          },
          (error: unknown) => ({ error }),
        );
      let next = prepare(cursor);
      for (;;) {
        const prepared = await next;
        if ("error" in prepared) {
          const e = prepared.error;
          if (e instanceof AdapterError && e.code === "cursor_fork") {
            // Still fail-closed; a checkpoint restore the Sprites API knows of becomes the fork's reason.
            const restore = await this.restoreBehind(entry, current);
            const fork = restore
              ? {
                  fork: `${CHECKPOINT_RESTORED}: the Sprite was restored to checkpoint ${restore.checkpointId} at ${restore.restoredAt}; ${e.message}`,
                  forkDetails: { ...e.details, reason: CHECKPOINT_RESTORED, checkpoint: restore },
                }
              : { fork: e.message, forkDetails: e.details };
            await this.evaluateAndCommit(entry, facts, [], null, fork, fence, current);
            return;
          }
          if (e instanceof AdapterError || e instanceof EnvelopeRejected) {
            await this.evaluateAndCommit(entry, facts, [], null, { ingestError: `${e.code}: ${e.message}` }, fence, current);
            return;
          }
          throw e;
        }
        const { page, rows } = prepared;
        const nextCursor = rows.length ? { line: page.cursor.line, byteOffset: page.cursor.byteOffset, lastLineHash: page.cursor.lastLineHash } : null;
        const pageError = page.error ? `${page.error.code} at line ${page.error.line}: ${page.error.message}` : null;
        const more = page.hasMore && !pageError && nextCursor !== null;
        if (more) next = prepare(nextCursor);
        const committed = await this.evaluateAndCommit(entry, facts, rows, nextCursor, pageError ? { ingestError: pageError } : { pollSucceeded: true }, fence, current, stored);
        if (!committed) return;
        current = committed.run;
        stored = committed.stored;
        if (nextCursor) cursor = nextCursor;
        if (!more) break;
      }
    } else {
      const committed = await this.evaluateAndCommit(entry, facts, [], null, { pollSucceeded: true }, fence, current, stored);
      if (!committed) return;
      current = committed.run;
    }
    entry.lastFingerprint = fingerprint;
    // `current` is the run as committed by this poll (or as read, when nothing changed): no need to re-read it.
    const openIntent = current.intents.some((i) => !isTerminalStage(i.stage));
    entry.timeSensitive = current.state === "RUNNING" || current.health !== "HEALTHY" || openIntent;
    entry.live = current.state === "RUNNING" || current.state === "PAUSED" || openIntent;
  }

  /** The checkpoint restore behind a fork, when the transport can tell and it happened since the last good poll. */
  private async restoreBehind(entry: Entry, run: RunWithIntents): Promise<{ checkpointId: string; restoredAt: string } | null> {
    if (!entry.transport.restoredSince) return null;
    try {
      return await entry.transport.restoredSince(entry.target, run.lastPolledAt ?? run.createdAt);
    } catch (e) {
      this.opts.log.warn("cannot ask the Sprites API about checkpoint restores", { runId: run.id, error: oneLine(e) });
      return null;
    }
  }

  /**
   * A run that ends normally removes active-run.json in its exit trap before its process dies, so a read that
   * saw the file and then found the pid dead may only have raced that exit: read again, once. Only a file still
   * naming the same dead pid after the pid was seen dead is a killed run; otherwise the second read (state.json
   * written by the exit, the file gone) is the truth. Without this a poll landing in that window reported
   * FAILED/killed for a completed run, and cost-aware polling then never read the Sprite again to correct it.
   */
  private async readSettledFacts(entry: Entry, stored: RuntimeFacts | null): Promise<RuntimeFacts> {
    const first = toRuntimeFacts(await entry.transport.readFacts(entry.target));
    if (first.activeRun === null || first.activeRunAlive !== false) return first;
    // Already settled by an earlier poll (stored facts are a settled read): no second read on every poll after.
    if (stored?.activeRunAlive === false && stored.activeRun?.pid === first.activeRun.pid) return first;
    return toRuntimeFacts(await entry.transport.readFacts(entry.target));
  }

  /** What cost-aware polling (src/ingest/cost-aware.ts) needs to know about this run now. */
  private situation(entry: Entry): PollSituation {
    return { transport: entry.transport.kind, keepAwake: this.keepAwake(entry), dirty: entry.dirty, transportFailures: entry.transportFailures, lastReadAt: entry.lastReadAt, now: Date.now() };
  }

  private async loadRun(runId: string): Promise<RunWithIntents | null> {
    return this.opts.db.run.findUnique({
      where: { id: runId },
      include: { sprite: true, intents: { orderBy: { requestedAt: "desc" }, take: 20 } },
    });
  }

  /** Stores the Sprite's status (and when it was last seen answering); a change becomes a transition of the run. */
  /** Stored events an open intent has not been offered yet (dispatch still in flight when they were ingested). */
  private async intentBacklog(run: RunWithIntents): Promise<EventRow[]> {
    const marks = run.intents.filter((i) => (i.stage === "DISPATCHED" || i.stage === "ACCEPTED") && i.observedLine !== null && i.observedLine < run.cursorLine).map((i) => i.observedLine!);
    if (!marks.length) return [];
    const rows = await this.opts.db.event.findMany({
      where: { runId: run.id, line: { gt: Math.min(...marks), lte: run.cursorLine } },
      orderBy: { line: "asc" },
      take: 5000,
    });
    return rows.map((e) => ({
      line: e.line,
      timestamp: e.timestamp,
      name: e.name,
      role: e.role,
      status: e.status,
      message: e.message,
      runtimeRunId: e.runtimeRunId,
      iteration: e.iteration,
      payload: payloadOf(e),
      text: originalLine(e),
      packed: e.packed,
    }));
  }

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

  /**
   * Evaluates the run against what this poll saw and commits it if anything changed. Returns the committed
   * run (for the next batch) or null when the commit lost a race (the next poll starts over from the database).
   */
  private async evaluateAndCommit(
    entry: Entry,
    runtime: ReturnType<typeof toRuntimeFacts> | null,
    rows: EventRow[],
    cursor: { line: number; byteOffset: number; lastLineHash: string | null } | null,
    problem: { fork?: string; forkDetails?: Record<string, unknown>; ingestError?: string; transportError?: string; pollSucceeded?: boolean; agentIncompatible?: string },
    fence: { owner: string; token: number } | null,
    loaded?: RunWithIntents,
    storedIn?: StoredFacts,
  ): Promise<{ run: RunWithIntents; stored: StoredFacts } | null> {
    const run = loaded ?? (await this.loadRun(entry.runId));
    if (!run) return null;
    const stored = storedIn ?? parseStoredFacts(run.facts);
    const events = rows.length
      ? foldEventFacts(
          stored.events,
          rows.map((r) => ({ name: r.name, status: r.status, timestamp: r.timestamp.toISOString(), runId: r.runtimeRunId, iteration: r.iteration, data: r.payload })),
        )
      : stored.events;
    const nextStored: StoredFacts = { events, runtime: runtime ?? stored.runtime };
    const evaluation: Evaluation = evaluateRun({
      run,
      sprite: entry.sprite,
      stored: nextStored,
      newRows: rows,
      backlog: await this.intentBacklog(run),
      throughLine: cursor?.line ?? run.cursorLine,
      problem,
      transportFailures: entry.transportFailures,
      now: new Date(),
      config: this.opts.config,
    });
    const spriteChange = entry.spriteChange ?? null;
    if (!evaluation.changed && rows.length === 0 && !cursor && !spriteChange) return { run, stored: nextStored };
    if (rows.length > 0) await yieldToLoop(); // a page: the fold and the evaluation above, the commit's serialization next
    const transition =
      evaluation.transition ??
      (spriteChange
        ? {
            from: run.state,
            to: evaluation.columns.state,
            reason: `sprite_${spriteChange.to.toLowerCase()}`,
            trigger: "sprite",
            actor: null,
            evidence: { sprite: spriteChange },
          }
        : null);

    const input: CommitInput = {
      runId: run.id,
      expectedLine: run.cursorLine,
      expectedSeq: run.seq,
      events: rows,
      cursor: cursor ?? { line: run.cursorLine, byteOffset: Number(run.cursorByteOffset), lastLineHash: run.cursorLineHash },
      projection: evaluation.columns,
      stateChanged: evaluation.transition !== null,
      transition,
      intents: evaluation.intents,
      fence,
    };
    try {
      await commitPoll(this.opts.runs, input);
    } catch (e) {
      if (e instanceof CursorConflict) {
        // Another writer (a reset, an intent, a lease change) moved the run since this poll read it: nothing of
        // this poll is stored; poll again at once from what is committed.
        this.opts.log.debug("ingest commit lost a race; re-reading", { runId: run.id, error: e.message });
        entry.dirty = true;
        void this.scheduler.trigger(run.id);
        return null;
      }
      throw e;
    }
    if (spriteChange === entry.spriteChange) entry.spriteChange = null;
    this.logIntents(run, evaluation);
    const after = await this.loadRun(run.id);
    return after ? { run: after, stored: nextStored } : null;
  }

  /** An intent's later stages are part of the traced work that created it: logged under its trace id. */
  private logIntents(run: RunWithIntents, evaluation: Evaluation): void {
    for (const i of evaluation.intents) {
      const before = run.intents.find((x) => x.id === i.id);
      if (before && before.stage !== i.stage) {
        withTrace(before.traceId, () =>
          this.opts.log.info("control intent advanced", { intentId: i.id, runId: run.id, kind: before.kind, from: before.stage, to: i.stage, ...(i.error ? { error: i.error } : {}) }),
        );
      }
    }
  }
}
