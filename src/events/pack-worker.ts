import { parentPort } from "node:worker_threads";
import { packJobLines, type PackJob, type PackerMessage } from "./line-packer";

// The line packer's thread (src/events/line-packer.ts): packs a catch-up page's lines, slice by slice, while the
// ingest's thread makes the page's next rows and the database inserts the page before.

const port = parentPort;
if (!port) throw new Error("pack-worker runs as a worker thread");

port.on("message", (job: PackJob) => port.postMessage({ id: job.id, packed: packJobLines(job) } satisfies PackerMessage));
port.postMessage({ ready: true } satisfies PackerMessage);
