import { parentPort } from "node:worker_threads";
import { post, PostTimeout } from "./http-post";
import type { PostJob, PostOutcome } from "./poster";

// The alert sender's thread (src/alerts/poster.ts): runs the HTTP POSTs of alert deliveries so their sockets,
// parsing and timers never take turns on the event loop that ingests events. Jobs and answers travel in
// batches (one message per event-loop turn each way, not one per alert).

const port = parentPort;
if (!port) throw new Error("post-worker runs as a worker thread");

let out: PostOutcome[] = [];
let scheduled = false;
const answer = (o: PostOutcome) => {
  out.push(o);
  if (scheduled) return;
  scheduled = true;
  setImmediate(() => {
    scheduled = false;
    const batch = out;
    out = [];
    port.postMessage(batch);
  });
};

port.on("message", (jobs: PostJob[]) => {
  for (const j of jobs) {
    post(j.url, j.headers, j.body, j.timeoutMs).then(
      (r) => answer({ id: j.id, ok: true, status: r.status, retryAfter: r.retryAfter }),
      (e: unknown) => {
        const err = e as Error & { code?: string };
        answer({ id: j.id, ok: false, timeout: err instanceof PostTimeout, code: err.code ?? null, name: err.name, message: err.message });
      },
    );
  }
});
