import type { Worker } from "node:worker_threads";
import type { Logger } from "../util/log";
import { startTsWorker } from "../util/ts-worker";
import { post, PostTimeout } from "./http-post";

// Where alert POSTs run: a worker thread of their own (src/alerts/post-worker.ts), so thousands of webhook
// requests a second cost the ingest's event loop one small message per batch instead of every socket write,
// parse and timer. If the thread cannot start (or dies), POSTs run in-process as before: slower, never lost.

export interface PostJob {
  id: number;
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

export type PostOutcome = { id: number; ok: true; status: number; retryAfter: string | null } | { id: number; ok: false; timeout: boolean; code: string | null; name: string; message: string };

export type PostFn = (url: string, headers: Record<string, string>, body: string, timeoutMs: number) => Promise<{ status: number; retryAfter: string | null }>;

interface Pending {
  resolve: (r: { status: number; retryAfter: string | null }) => void;
  reject: (e: Error) => void;
  job: PostJob;
}

export class WorkerPoster {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private queued: PostJob[] = [];
  private scheduled = false;
  private failed = false;

  constructor(private readonly log: Logger) {}

  /** true while POSTs run on the sender thread (false before the first POST and after a fallback) */
  get threaded(): boolean {
    return this.worker !== null;
  }

  readonly post: PostFn = (url, headers, body, timeoutMs) => {
    const w = this.ensure();
    if (!w) return post(url, headers, body, timeoutMs);
    const job: PostJob = { id: this.nextId++, url, headers, body, timeoutMs };
    return new Promise((resolve, reject) => {
      this.pending.set(job.id, { resolve, reject, job });
      this.queued.push(job);
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        const batch = this.queued;
        this.queued = [];
        if (batch.length) this.worker?.postMessage(batch);
      });
    });
  };

  private ensure(): Worker | null {
    if (this.worker || this.failed) return this.worker;
    try {
      const w = startTsWorker(new URL("./post-worker.ts", import.meta.url), (w, e) => this.down(w, e));
      w.on("message", (batch: PostOutcome[]) => {
        for (const o of batch) {
          const p = this.pending.get(o.id);
          if (!p) continue;
          this.pending.delete(o.id);
          if (o.ok) p.resolve({ status: o.status, retryAfter: o.retryAfter });
          else {
            const e: Error & { code?: string } = o.timeout ? new PostTimeout(o.message) : new Error(o.message);
            if (!o.timeout) e.name = o.name;
            if (o.code) e.code = o.code;
            p.reject(e);
          }
        }
      });
      this.worker = w;
      return w;
    } catch (e) {
      this.failed = true;
      this.log.warn("alert sender thread unavailable; sending in-process", { error: (e as Error).message });
      return null;
    }
  }

  /** The thread failed or exited: unless it was closed here, send in-process from now on. */
  private down(w: Worker, e: Error): void {
    if (this.worker !== w) return;
    this.worker = null;
    this.failed = true;
    this.log.warn("alert sender thread stopped; sending in-process", { error: e.message });
    // Whatever it held is sent here instead (at least once: a POST it already made may be made again).
    const held = [...this.pending.values()];
    this.pending.clear();
    for (const p of held) post(p.job.url, p.job.headers, p.job.body, p.job.timeoutMs).then(p.resolve, p.reject);
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.failed = true;
    if (w) await w.terminate();
  }
}
