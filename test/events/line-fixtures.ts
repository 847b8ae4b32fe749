import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { LineColumns } from "../../src/events/line-codec";
import type { LinePacker } from "../../src/events/line-packer";
import { waitFor } from "../support/runs";

/** The columns ingest derives from a line (src/ingest/rows.ts via the v1 envelope). */
export function columnsOf(line: string): LineColumns {
  const o = JSON.parse(line) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" && v.length > 0 ? v : null);
  return {
    timestamp: new Date(String(o["timestamp"])),
    name: String(o["event"] ?? o["type"]),
    role: str(o["role"]),
    runtimeRunId: str(o["run_id"]),
    iteration: typeof o["iteration"] === "number" && Number.isInteger(o["iteration"]) ? o["iteration"] : null,
  };
}

/** Every line the real runtime wrote in the recorded scenarios. */
export function recordedLines(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name === "events.jsonl") out.push(...readFileSync(p, "utf8").split("\n").filter(Boolean));
    }
  };
  walk(path.resolve(__dirname, "../fixtures/runtime"));
  return out;
}

/** Waits until the packer's thread has started and is ready to take work. */
export async function packingThreadReady(packer: LinePacker, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => packer.threaded,
    (t) => t,
    timeoutMs,
    "the packing thread ready",
  );
}
