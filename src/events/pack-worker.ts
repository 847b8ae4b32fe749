import { parentPort } from "node:worker_threads";
import { packJobLines, type PackerMessage, type ThreadJob } from "./line-packer";
import { readPageColumns } from "./page-rows";
import { lowerThreadPriority } from "../util/thread-priority";

// The line packer's thread (src/events/line-packer.ts): packs a catch-up page's lines, slice by slice, while the
// ingest's thread makes the page's next rows and the database inserts the page before; or, for a run whose files
// are on this machine, reads the whole page and makes and packs its rows itself (src/events/page-rows.ts).

const port = parentPort;
if (!port) throw new Error("pack-worker runs as a worker thread");
// A catch-up's bulk work: the database inserting the page before, and the manager's requests, go first.
lowerThreadPriority();

port.on("message", (job: ThreadJob) => {
  if ("read" in job) {
    void readPageColumns(job.read).then((page) => port.postMessage({ id: job.id, page } satisfies PackerMessage));
    return;
  }
  port.postMessage({ id: job.id, packed: packJobLines(job) } satisfies PackerMessage);
});
port.postMessage({ ready: true } satisfies PackerMessage);
