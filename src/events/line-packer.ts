import type { Worker } from "node:worker_threads";
import type { EventRow } from "../ingest/rows";
import type { Logger } from "../util/log";
import { startTsWorker } from "../util/ts-worker";
import { packLine } from "./line-codec";
import { pageRows, type PageEnd, type PageRequest, type PageResult } from "./page-rows";
import { stringTable } from "./string-table";

// Packing a line (src/events/line-codec.ts) costs a few microseconds, about a quarter of what ingesting an event
// costs the manager's thread: a catch-up of a long history was bound by that thread while a core sat idle. So a
// batch of at least MIN_THREADED rows is packed on a thread of its own (src/events/pack-worker.ts), while the
// ingest's thread makes the page's next rows, and the database inserts the page before. The ingest hands over a
// catch-up page in slices of MIN_THREADED rows as it makes them (src/ingest/poll-read.ts), so the page is packed
// about when its last slice is made. Small batches (a live run's few new lines) are packed in place: a round
// trip would cost more. The thread starts on the first large batch (that batch and any before it is ready are
// packed in place), stops after IDLE_MS without work, and if it fails, everything it held and everything after
// is packed in place: slower, never lost.

/** Rows a batch needs to be packed on the thread; also the size of the slices a catch-up page is made in. */
export const MIN_THREADED = 500;
/** The thread stops after this long without a batch (a fleet of idle runs keeps no thread). */
export const IDLE_MS = 30_000;

/**
 * One batch's lines and the columns packing refers to, in few and cheap-to-copy pieces (a message is copied
 * string by string): the lines joined by newlines (a line has none), times as epoch ms, iterations (NaN for
 * none), and names, roles and runtime run ids as indexes into a table of their distinct values (-1 for none).
 */
export interface PackJob {
  id: number;
  lines: string;
  count: number;
  times: Float64Array;
  iterations: Float64Array;
  strings: string[];
  names: Int32Array;
  roles: Int32Array;
  runIds: Int32Array;
}

/** A page of a local run to read on the thread (src/events/page-rows.ts). */
export interface ReadJob {
  id: number;
  read: PageRequest;
}

export type ThreadJob = PackJob | ReadJob;

/**
 * The thread's answers: ready to pack, or a batch's packed lines joined by newlines (none holds one), or null;
 * or a page read.
 */
export type PackerMessage = { ready: true } | { id: number; packed: string | null } | { id: number; page: PageResult };

/** A batch of rows as a PackJob. */
export function packJob(id: number, rows: readonly EventRow[]): PackJob {
  const { strings, ref } = stringTable();
  const n = rows.length;
  const job: PackJob = {
    id,
    lines: rows.map((r) => r.text).join("\n"),
    count: n,
    times: new Float64Array(n),
    iterations: new Float64Array(n),
    strings,
    names: new Int32Array(n),
    roles: new Int32Array(n),
    runIds: new Int32Array(n),
  };
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    job.times[i] = r.timestamp.getTime();
    job.iterations[i] = r.iteration ?? NaN;
    job.names[i] = ref(r.name);
    job.roles[i] = ref(r.role);
    job.runIds[i] = ref(r.runtimeRunId);
  }
  return job;
}

/** A PackJob's packed lines, joined by newlines; null if the lines were not `count` (a line held a newline). */
export function packJobLines(job: PackJob): string | null {
  const lines = job.lines.split("\n");
  if (lines.length !== job.count) return null;
  const at = (i: number): string | null => (i === -1 ? null : job.strings[i]);
  const packed = new Array<string>(job.count);
  for (let i = 0; i < job.count; i++) {
    const iteration = job.iterations[i];
    packed[i] = packLine(lines[i], {
      timestamp: new Date(job.times[i]),
      name: job.strings[job.names[i]],
      role: at(job.roles[i]),
      runtimeRunId: at(job.runIds[i]),
      iteration: Number.isNaN(iteration) ? null : iteration,
    });
  }
  return packed.join("\n");
}

/** The rows' packed lines, computed here. */
export function packInPlace(rows: readonly EventRow[]): void {
  for (const r of rows) r.packed = packLine(r.text, r);
}

type Pending =
  | { rows: readonly EventRow[]; done: () => void }
  /** A page read on the thread: null when the thread went down first (the caller reads it in place). */
  | { read: (page: PageResult | null) => void };

export class LinePacker {
  private worker: Worker | null = null;
  private ready = false;
  private failed = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private idle: NodeJS.Timeout | null = null;
  /** Batches packed so far, on the thread and in place (tests, and what a profile of a catch-up should show). */
  readonly batches = { threaded: 0, inPlace: 0 };
  /** Pages read on the thread (src/events/page-rows.ts). */
  pagesRead = 0;

  constructor(
    private readonly log: Logger,
    private readonly limits: { minThreaded: number; idleMs: number } = { minThreaded: MIN_THREADED, idleMs: IDLE_MS },
  ) {}

  /** Whether the next large batch is packed on the thread. */
  get threaded(): boolean {
    return this.worker !== null && this.ready;
  }

  /** Fills in every row's `packed`. */
  pack(rows: readonly EventRow[]): Promise<void> {
    const w = rows.length < this.limits.minThreaded ? null : this.ensure();
    if (!w || !this.ready) {
      this.batches.inPlace++;
      packInPlace(rows);
      return Promise.resolve();
    }
    this.batches.threaded++;
    this.busy();
    const id = this.nextId++;
    const job = packJob(id, rows);
    return new Promise((done) => {
      this.pending.set(id, { rows, done });
      w.postMessage(job);
    });
  }

  /**
   * A local run's page read, made into rows and packed on the thread (src/events/page-rows.ts); null when the
   * thread is not ready (starting it), and the page resolves to null if the thread goes down before answering:
   * either way the caller reads the page in place. A failure to read it rejects with the error reading it in
   * place would have thrown.
   */
  readPage(req: PageRequest): Promise<{ end: PageEnd; rows: EventRow[] } | null> | null {
    const w = this.ensure();
    if (!w || !this.ready) return null;
    this.pagesRead++;
    this.busy();
    const id = this.nextId++;
    return new Promise<PageResult | null>((read) => {
      this.pending.set(id, { read });
      w.postMessage({ id, read: req } satisfies ReadJob);
    }).then((page) => (page ? pageRows(page) : null));
  }

  private busy(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
  }

  private ensure(): Worker | null {
    if (this.worker || this.failed) return this.worker;
    try {
      const w = startTsWorker(new URL("./pack-worker.ts", import.meta.url), (w, e) => this.down(w, e));
      w.on("message", (m: PackerMessage) => {
        if ("ready" in m) {
          this.ready = true;
          return;
        }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if ("read" in p) p.read("page" in m ? m.page : null);
        else {
          const packed = "packed" in m ? m.packed?.split("\n") : undefined;
          if (packed?.length === p.rows.length) p.rows.forEach((r, i) => (r.packed = packed[i]));
          else packInPlace(p.rows);
          p.done();
        }
        if (this.pending.size === 0) this.idle = setTimeout(() => void this.stopThread(), this.limits.idleMs).unref();
      });
      this.worker = w;
      return w;
    } catch (e) {
      this.failed = true;
      this.log.warn("line packing thread unavailable; packing in-process", { error: (e as Error).message });
      return null;
    }
  }

  /** The thread failed or exited: unless it was stopped here, pack in place from now on. */
  private down(w: Worker, e: Error): void {
    if (this.worker !== w) return;
    this.worker = null;
    this.ready = false;
    this.failed = true;
    this.log.warn("line packing thread stopped; packing in-process", { error: e.message });
    this.drainInPlace();
  }

  /** Batches the thread held, packed here instead; pages it held, left to their callers to read in place. */
  private drainInPlace(): void {
    const held = [...this.pending.values()];
    this.pending.clear();
    for (const p of held) {
      if ("read" in p) {
        p.read(null);
        continue;
      }
      packInPlace(p.rows);
      p.done();
    }
  }

  /** Stops the idle thread (it starts again on the next large batch); one given a batch meanwhile is kept. */
  private async stopThread(): Promise<void> {
    const w = this.worker;
    if (!w || this.pending.size > 0) return;
    this.worker = null;
    this.ready = false;
    await w.terminate();
  }

  /** Stops the thread now; a later large batch starts it again. */
  async close(): Promise<void> {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    const w = this.worker;
    this.worker = null;
    this.ready = false;
    this.drainInPlace();
    if (w) await w.terminate();
  }
}
