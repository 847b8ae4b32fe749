import { readdirSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { Worker } from "node:worker_threads";
import { realisticLine } from "../../bench/lines";
import { packLine, unpackLine } from "../../src/events/line-codec";
import { LinePacker } from "../../src/events/line-packer";
import type { EventRow } from "../../src/ingest/rows";
import { createLogger } from "../../src/util/log";
import { BULK_THREAD_NICE } from "../../src/util/thread-priority";
import { waitFor } from "../support/runs";
import { columnsOf, packingThreadReady, recordedLines } from "./line-fixtures";

// A large page's lines are packed on a thread of their own (src/events/line-packer.ts): what comes back must be
// exactly what packing in place gives, whatever the thread does (start late, stop idle, die).

/** Rows as ingest makes them, not packed yet: the runtime's recorded lines, then realistic ones and odd ones. */
function rows(n: number): EventRow[] {
  const odd = [
    JSON.stringify({ timestamp: "2026-11-24T00:00:00.250Z", event: "ünïcode ✓ 😀", role: "status", data: { status: "status", tab: "a\tb", nl: "x\ny" } }),
    JSON.stringify({ timestamp: "2026-11-24T00:00:00Z", type: "loop_start", run_id: "2026-11-24T00:00:00Z", iteration: 3, data: { iteration: 3 } }),
    JSON.stringify({ timestamp: "2026-11-24T00:00:01Z", event: "long", data: { blob: "x".repeat(5000) } }),
  ];
  const recorded = recordedLines();
  const texts = Array.from({ length: n }, (_, i) => (i < recorded.length ? recorded[i] : i % 97 < odd.length ? odd[i % 97] : realisticLine(i, "2026-11-24T00:00:00Z")));
  return texts.map((text, i) => ({ ...columnsOf(text), line: i + 1, status: null, message: null, payload: null, text, packed: "" }));
}

const log = createLogger("silent");
let packer: LinePacker | null = null;
afterEach(async () => {
  await packer?.close();
  packer = null;
});

const expectPacked = (page: EventRow[]) => {
  for (const r of page) {
    expect(r.packed).toBe(packLine(r.text, r));
    expect(unpackLine(r.packed, r)).toBe(r.text);
  }
};

/** A packer whose thread has started and is ready (its first large page was packed in place meanwhile). */
async function readyPacker(limits = { minThreaded: 100, idleMs: 60_000 }): Promise<LinePacker> {
  const p = new LinePacker(log, limits);
  const first = rows(100);
  await p.pack(first);
  expectPacked(first);
  expect(p.batches).toEqual({ threaded: 0, inPlace: 1 });
  await packingThreadReady(p);
  return p;
}

describe("LinePacker", () => {
  it("packs a large page on its thread to exactly what packing in place gives", async () => {
    packer = await readyPacker();
    const page = rows(3000);
    await packer.pack(page);
    expect(packer.batches.threaded).toBe(1);
    expectPacked(page);
  });

  it("packs a small page in place, and never starts a thread for it", async () => {
    packer = new LinePacker(log, { minThreaded: 100, idleMs: 60_000 });
    const page = rows(99);
    await packer.pack(page);
    expect(packer.batches).toEqual({ threaded: 0, inPlace: 1 });
    expect(packer.threaded).toBe(false);
    expectPacked(page);
  });

  it("pages sent at once come back to their own rows", async () => {
    packer = await readyPacker();
    const pages = [rows(500), rows(1500).slice(700), rows(300)];
    await Promise.all(pages.map((p) => packer!.pack(p)));
    expect(packer.batches.threaded).toBe(3);
    pages.forEach(expectPacked);
  });

  it("a thread that dies with pages in flight: they are packed in place, and so is everything after", async () => {
    packer = await readyPacker();
    const page = rows(4000);
    const packing = packer.pack(page);
    await (packer as unknown as { worker: Worker }).worker.terminate();
    await packing;
    expectPacked(page);
    expect(packer.threaded).toBe(false);
    const after = rows(2000);
    await packer.pack(after);
    expect(packer.batches.inPlace).toBe(2);
    expectPacked(after);
  });

  it("the thread stops when idle and starts again on the next large page", async () => {
    packer = await readyPacker({ minThreaded: 100, idleMs: 50 });
    await packer.pack(rows(200));
    await waitFor(
      async () => packer!.threaded,
      (t) => !t,
      5000,
      "the idle thread stopped",
    );
    const again = rows(200);
    await packer.pack(again);
    expect(packer.batches).toEqual({ threaded: 1, inPlace: 2 });
    expectPacked(again);
    await waitFor(
      async () => packer!.threaded,
      (t) => t,
      20_000,
      "the thread ready again",
    );
  });

  it.runIf(process.platform === "linux")("the thread runs at the bulk priority; the thread that started it keeps its own", async () => {
    const niceOf = (stat: string) => Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    const tasks = () => readdirSync("/proc/self/task").map((tid) => ({ tid, nice: niceOf(readFileSync(`/proc/self/task/${tid}/stat`, "utf8")) }));
    const mine = () => niceOf(readFileSync("/proc/thread-self/stat", "utf8"));
    const before = mine();
    const lower = new Set(
      tasks()
        .filter((t) => t.nice === BULK_THREAD_NICE)
        .map((t) => t.tid),
    );
    expect(before).toBeLessThan(BULK_THREAD_NICE);
    packer = await readyPacker();
    expect(tasks().filter((t) => t.nice === BULK_THREAD_NICE && !lower.has(t.tid))).toHaveLength(1);
    expect(mine()).toBe(before);
  });

  it("close packs in place what the thread held", async () => {
    packer = await readyPacker();
    const page = rows(4000);
    const packing = packer.pack(page);
    await packer.close();
    await packing;
    expectPacked(page);
  });
});
