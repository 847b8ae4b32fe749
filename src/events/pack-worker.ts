import { parentPort } from "node:worker_threads";
import { packJobLines, type PackJob, type PackerMessage } from "./line-packer";

// The line packer's thread (src/events/line-packer.ts): packs a catch-up page's lines while the ingest's thread
// reads and parses the next page and the database inserts the one before.

const port = parentPort;
if (!port) throw new Error("pack-worker runs as a worker thread");

port.on("message", (job: PackJob) => port.postMessage({ id: job.id, packed: packJobLines(job) } satisfies PackerMessage));
port.postMessage({ ready: true } satisfies PackerMessage);
