// The live run's Superloop runtime for bench:query: appends `rate` realistic events a second to `file`, in a worker
// thread, so the manager's event loop (the process being measured) does not also pay for the runtime's writes.
// Posted "stop": stops and answers with how many lines it wrote.
import { appendFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { realisticLine } from "./lines";

const { file, rate } = workerData as { file: string; rate: number };
let written = 0;
const timer = setInterval(() => {
  const chunk: string[] = [];
  for (let i = 0; i < rate / 10; i++) chunk.push(realisticLine(++written, "2026-11-30T00:00:00Z"));
  appendFileSync(file, chunk.join("\n") + "\n");
}, 100);
parentPort?.on("message", (m: unknown) => {
  if (m !== "stop") return;
  clearInterval(timer);
  parentPort?.postMessage(written);
  parentPort?.close();
});
