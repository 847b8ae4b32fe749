import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

/**
 * A worker thread running a TypeScript module of the manager, with tsx's require hook registered in the thread
 * first: a worker does not inherit the parent's loader, and on Node 20 loader hooks registered inside a worker
 * do not apply to it. Unref'd: a thread never keeps the process alive. `down` hears of its failure or its exit
 * (also an exit the caller asked for: it tells them apart).
 */
export function startTsWorker(entry: URL, down: (w: Worker, e: Error) => void): Worker {
  const tsx = createRequire(import.meta.url).resolve("tsx/cjs/api");
  const boot = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(fileURLToPath(entry))});`;
  const w = new Worker(boot, { eval: true });
  w.unref();
  w.on("error", (e) => down(w, e));
  w.on("exit", (code) => down(w, new Error(`exited with code ${code}`)));
  return w;
}
