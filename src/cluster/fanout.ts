import type pg from "pg";
import type { LifecycleState } from "../generated/prisma/enums";
import type { EventsAppended, IntentUpdated, RunChanged, Topics } from "../pubsub/topics";
import { OPEN_STAGES } from "../control/stages";
import { runChanged } from "../runs/changed";
import type { Logger } from "../util/log";
import type { ClusterBus, PublishRouter } from "./routed-bus";

// Cross-replica fan-out by cursor. A NOTIFY (or a local writer's publish) only says "run X changed"; what
// reaches subscribers is read from the database after the last seq this replica delivered for that run, in
// seq order. So a change committed by any replica is delivered once on every replica, in order, and a lost
// notification is healed by the next one for that run (or by the resync after a reconnect).
//
// Topic by topic:
// - `run`: one message per LifecycleTransition row with seq > last (lifecycleChanged unless it only annotates
//   the history: ANNOTATION_TRIGGERS of src/runs/changed.ts), then one lifecycleChanged=false message at the run's
//   current seq if it moved past them.
// - `events`: "lines up to cursorLine are stored" when the run's cursor moved. Local writers' events notices
//   pass straight through (readers re-read by line, so a repeat is harmless and the fast path stays fast).
// - `intent`: one message per intent whose stage/updatedAt changed since this replica last saw it.

export type Query = <R extends pg.QueryResultRow>(text: string, values: unknown[]) => Promise<pg.QueryResult<R>>;

export interface IntentRow {
  id: string;
  runId: string;
  stage: string;
  updatedAt: Date;
}

export interface FanoutOptions {
  bus: ClusterBus;
  query: Query;
  log: Logger;
  /** A run this replica had never seen (registered elsewhere, or while we were disconnected). */
  onNewRun?: (runId: string) => void;
  /** Every open or recently changed intent read in a round (the lease holder dispatches REQUESTED ones). */
  onIntents?: (rows: IntentRow[]) => void;
}

interface RunRow {
  id: string;
  spriteId: string;
  seq: number;
  state: LifecycleState;
  stateReason: string;
  cursorLine: number;
}

interface TransitionRow {
  runId: string;
  seq: number;
  from: LifecycleState | null;
  to: LifecycleState;
  reason: string;
  trigger: string;
  at: Date;
}

/** How far back intent changes are compared; covers clock skew between replicas (Prisma stamps updatedAt). */
const INTENT_WINDOW_S = 120;

export interface FanoutStats {
  runsTracked: number;
  rounds: number;
  delivered: number;
  lastRoundMs: number | null;
}

export class Fanout implements PublishRouter {
  /** Highest run seq whose `run` messages this replica delivered. */
  private readonly published = new Map<string, number>();
  /** The cursor line last announced on `events`. */
  private readonly lines = new Map<string, number>();
  private readonly intentKeys = new Map<string, { key: string; seenAt: number }>();
  private readonly dirty = new Set<string>();
  private draining = false;
  private scheduled = false;
  private initialized = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly stats: FanoutStats = { runsTracked: 0, rounds: 0, delivered: 0, lastRoundMs: null };

  constructor(private readonly opts: FanoutOptions) {}

  status(): FanoutStats {
    return { ...this.stats, runsTracked: this.published.size };
  }

  /** Writers on this replica publish as usual; run and intent messages become "read this run" hints. */
  intercept(topic: keyof Topics & string, _key: string, message: Topics[keyof Topics]): boolean {
    if (this.stopped) return false;
    if (topic === "events") {
      const m = message as EventsAppended;
      if (m.toLine > (this.lines.get(m.runId) ?? 0)) this.lines.set(m.runId, m.toLine);
      return false;
    }
    const m = message as RunChanged | IntentUpdated;
    this.markDirty(m.runId);
    return true;
  }

  /** A NOTIFY on the run-changed channel. */
  notified(runId: string, seq: number): void {
    if (this.initialized && seq <= (this.published.get(runId) ?? 0)) return;
    this.markDirty(runId);
  }

  /**
   * After (re)connecting: the first time, adopt every run's current position (subscribers only get what
   * happens from now on); after a reconnect, read every run that moved while notifications could be missed.
   */
  async resync(query: Query = this.opts.query): Promise<void> {
    const res = await query<{ id: string; seq: number; cursorLine: number }>(`SELECT id, seq, "cursorLine" FROM "Run"`, []);
    const seen = new Set<string>();
    for (const r of res.rows) {
      seen.add(r.id);
      if (!this.initialized) {
        this.published.set(r.id, r.seq);
        this.lines.set(r.id, r.cursorLine);
      } else if (r.seq > (this.published.get(r.id) ?? 0) || r.cursorLine !== (this.lines.get(r.id) ?? 0)) {
        this.markDirty(r.id);
      }
    }
    if (!this.initialized) {
      const intents = await query<IntentRow>(
        `SELECT id, "runId", stage::text AS stage, "updatedAt" FROM "ControlIntent" WHERE "updatedAt" > now() - make_interval(secs => $1) OR stage::text = ANY($2::text[])`,
        [INTENT_WINDOW_S, OPEN_STAGES],
      );
      const now = Date.now();
      for (const i of intents.rows) this.intentKeys.set(i.id, { key: intentKey(i), seenAt: now });
      this.initialized = true;
      this.opts.onIntents?.(intents.rows);
      this.kick();
    } else {
      for (const id of [...this.published.keys()]) if (!seen.has(id)) this.forget(id);
      const cutoff = Date.now() - 5 * INTENT_WINDOW_S * 1000;
      for (const [id, v] of this.intentKeys) if (v.seenAt < cutoff) this.intentKeys.delete(id);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private forget(runId: string): void {
    this.published.delete(runId);
    this.lines.delete(runId);
  }

  private markDirty(runId: string): void {
    this.dirty.add(runId);
    this.kick();
  }

  private kick(): void {
    // Before the first resync there is no position to read from; that resync adopts the current one.
    if (!this.initialized || !this.dirty.size || this.draining || this.scheduled || this.stopped || this.retryTimer) return;
    this.scheduled = true;
    // One round for everything that arrives in this turn (a commit publishes up to three messages at once).
    setImmediate(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.draining || this.stopped) return;
    this.draining = true;
    try {
      while (this.dirty.size && !this.stopped) {
        const ids = [...this.dirty];
        this.dirty.clear();
        const t0 = performance.now();
        try {
          await this.round(ids);
        } catch (e) {
          for (const id of ids) this.dirty.add(id);
          this.opts.log.warn("fan-out read failed; retrying", { error: (e as Error).message, runs: ids.length });
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            void this.drain();
          }, 250);
          this.retryTimer.unref();
          return;
        }
        this.stats.rounds++;
        this.stats.lastRoundMs = Math.round((performance.now() - t0) * 100) / 100;
      }
    } finally {
      this.draining = false;
    }
  }

  private async round(ids: string[]): Promise<void> {
    const q = this.opts.query;
    const runs = (await q<RunRow>(`SELECT id, "spriteId", seq, state::text AS state, "stateReason", "cursorLine" FROM "Run" WHERE id = ANY($1::text[])`, [ids])).rows;
    if (!runs.length) return;
    const behind = runs.filter((r) => r.seq > (this.published.get(r.id) ?? 0));
    let transitions: TransitionRow[] = [];
    if (behind.length) {
      // Rows with seq <= the run's seq read above were committed with it (same transaction), so they are visible.
      transitions = (
        await q<TransitionRow>(
          `SELECT t."runId", t.seq, t."from"::text AS "from", t."to"::text AS "to", t.reason, t.trigger, t.at
             FROM unnest($1::text[], $2::int[], $3::int[]) AS c(id, after, upto)
             JOIN "LifecycleTransition" t ON t."runId" = c.id AND t.seq > c.after AND t.seq <= c.upto
            ORDER BY t."runId", t.seq`,
          [behind.map((r) => r.id), behind.map((r) => this.published.get(r.id) ?? 0), behind.map((r) => r.seq)],
        )
      ).rows;
    }
    const intents = (
      await q<IntentRow>(
        `SELECT id, "runId", stage::text AS stage, "updatedAt" FROM "ControlIntent"
          WHERE "runId" = ANY($1::text[]) AND ("updatedAt" > now() - make_interval(secs => $2) OR stage::text = ANY($3::text[]))`,
        [runs.map((r) => r.id), INTENT_WINDOW_S, OPEN_STAGES],
      )
    ).rows;
    if (this.stopped) return;

    // Everything below is synchronous: no interleaving with local publishes, so the cursor checks hold.
    const byRun = new Map<string, TransitionRow[]>();
    for (const t of transitions) {
      let list = byRun.get(t.runId);
      if (!list) byRun.set(t.runId, (list = []));
      list.push(t);
    }
    const bus = this.opts.bus;
    const now = Date.now();
    for (const run of runs) {
      const isNew = !this.published.has(run.id);
      const lastLine = this.lines.get(run.id) ?? 0;
      if (run.cursorLine > lastLine) {
        const m: EventsAppended = { runId: run.id, seq: run.seq, fromLine: lastLine + 1, toLine: run.cursorLine };
        bus.deliver("events", run.id, m);
        this.stats.delivered++;
      }
      this.lines.set(run.id, run.cursorLine); // also follows a cursor reset downwards
      let last = this.published.get(run.id) ?? 0;
      for (const t of byRun.get(run.id) ?? []) {
        if (t.seq <= last) continue;
        // The same message the writer of that row published on its replica (src/runs/changed.ts).
        const m = runChanged({ ...run, seq: t.seq }, t);
        bus.deliver("run", run.id, m);
        this.stats.delivered++;
        last = t.seq;
      }
      if (run.seq > last) {
        const m = runChanged(run, null, new Date(now));
        bus.deliver("run", run.id, m);
        this.stats.delivered++;
        last = run.seq;
      }
      this.published.set(run.id, last);
      if (isNew) this.opts.onNewRun?.(run.id);
    }
    const seqOf = new Map(runs.map((r) => [r.id, r.seq]));
    for (const i of intents) {
      const key = intentKey(i);
      if (this.intentKeys.get(i.id)?.key === key) continue;
      this.intentKeys.set(i.id, { key, seenAt: now });
      const m: IntentUpdated = { intentId: i.id, runId: i.runId, seq: seqOf.get(i.runId) ?? 0 };
      bus.deliver("intent", i.runId, m);
      this.stats.delivered++;
    }
    if (intents.length) this.opts.onIntents?.(intents);
  }
}

const intentKey = (i: IntentRow) => `${i.stage}|${new Date(i.updatedAt).getTime()}`;
