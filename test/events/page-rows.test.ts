import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Worker } from "node:worker_threads";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { readEventsMapped, type EventCursor } from "../../agent";
import { realisticLine } from "../../bench/lines";
import { AdapterError } from "../../src/contract";
import { LinePacker } from "../../src/events/line-packer";
import { pageRows, readPageColumns, type PageRequest } from "../../src/events/page-rows";
import { EnvelopeRejected, rowFromEnvelope, type EventRow } from "../../src/ingest/rows";
import { packInPlace } from "../../src/events/line-packer";
import { createLogger } from "../../src/util/log";
import { cleanupTempDirs, makeTempDir } from "../agent/helpers";
import { packingThreadReady, recordedLines } from "./line-fixtures";

// A local catch-up's page read, made into rows and packed on the packing thread (src/events/page-rows.ts) must be
// exactly the page read in place: the same rows, the same packed lines, the same end, the same errors.

afterAll(cleanupTempDirs);
const LOOP = "demo-loop";
const START: EventCursor = { line: 0, byteOffset: 0, lastLineHash: null };

/** A repo whose events.jsonl holds `lines` (the recorded ones renumbered into one loop's file are still lines). */
async function repoOf(lines: string[], tail = ""): Promise<string> {
  const repo = await makeTempDir("page-rows-");
  const dir = path.join(repo, ".superloop", "loops", LOOP);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "events.jsonl"), lines.map((l) => `${l}\n`).join("") + tail);
  return repo;
}

const odd = [
  JSON.stringify({ timestamp: "2026-11-24T00:00:00.250Z", event: "ünïcode ✓ 😀", role: "status", status: "ok", message: "a\tb", data: { nl: "x\ny" } }),
  JSON.stringify({ timestamp: "2026-11-24T00:00:00Z", type: "loop_start", run_id: 17, iteration: "3", data: [1, 2] }),
  JSON.stringify({ timestamp: "2026-11-24T00:00:01Z", event: "long", data: { blob: "x".repeat(5000) } }),
];
const mixed = () => [...recordedLines().slice(0, 200), ...odd, ...Array.from({ length: 300 }, (_, i) => realisticLine(i + 1, "2026-11-24T00:00:00Z"))];

/** The page read in place, as poll-read does it: each line's row made as it is read, then packed. */
async function inPlace(req: PageRequest): Promise<{ end: unknown; rows: EventRow[] }> {
  let made = 0;
  const page = await readEventsMapped({ ...req, countLinesAhead: false }, (e, text) => rowFromEnvelope(e, text, req.loopId, req.cursor.line + 1 + made++));
  packInPlace(page.items);
  return { end: { cursor: page.cursor, hasMore: page.hasMore, error: page.error }, rows: page.items };
}

const view = (r: EventRow) => ({
  line: r.line,
  timestamp: r.timestamp.toISOString(),
  name: r.name,
  role: r.role,
  status: r.status,
  message: r.message,
  runtimeRunId: r.runtimeRunId,
  iteration: r.iteration,
  packed: r.packed,
  text: r.text,
  payload: r.payload,
});

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => new Error("expected a failure"),
    (e: unknown) => e,
  );
}

describe("a page read on the packing thread", () => {
  it("gives the rows, packed lines and end reading it in place gives, page after page, to a bad line", async () => {
    const lines = mixed();
    const repo = await repoOf(lines, "{not json\n");
    let cursor = START;
    for (let pages = 0; ; pages++) {
      const req = { repoPath: repo, loopId: LOOP, cursor, limit: 150 };
      const here = await inPlace(req);
      const there = pageRows(await readPageColumns(req));
      expect(there.end).toEqual(here.end);
      expect(there.rows.map(view)).toEqual(here.rows.map(view));
      const end = there.end;
      cursor = { line: end.cursor.line, byteOffset: end.cursor.byteOffset, lastLineHash: end.cursor.lastLineHash };
      if (!end.hasMore) {
        expect(end.error).toMatchObject({ code: "invalid_json", line: lines.length + 1 });
        expect(cursor.line).toBe(lines.length);
        expect(pages).toBeGreaterThan(2);
        break;
      }
    }
  });

  it("fails as reading in place fails: a line the database cannot store, a fork, a missing repository", async () => {
    const good = Array.from({ length: 5 }, (_, i) => realisticLine(i + 1, "r"));
    const nul = JSON.stringify({ timestamp: "2026-11-24T00:00:00Z", event: "x", data: { s: "a\u0000b" } });
    const cases: PageRequest[] = [
      { repoPath: await repoOf([...good, nul]), loopId: LOOP, cursor: START, limit: 100 },
      { repoPath: await repoOf(good), loopId: LOOP, cursor: { line: 9, byteOffset: 99_999, lastLineHash: null }, limit: 100 },
      { repoPath: path.join(await makeTempDir(), "gone"), loopId: LOOP, cursor: START, limit: 100 },
    ];
    const kinds = [EnvelopeRejected, AdapterError, AdapterError];
    for (const [i, req] of cases.entries()) {
      const here = await failureOf(inPlace(req));
      const there = await failureOf(readPageColumns(req).then(pageRows));
      expect(there).toBeInstanceOf(kinds[i]);
      expect(there).toEqual(here);
      expect({ ...(there as object) }).toEqual({ ...(here as object) });
    }
  });
});

describe("LinePacker.readPage", () => {
  const log = createLogger("silent");
  let packer: LinePacker | null = null;
  afterEach(async () => {
    await packer?.close();
    packer = null;
  });

  async function readyPacker(): Promise<LinePacker> {
    const p = new LinePacker(log, { minThreaded: 100, idleMs: 60_000 });
    const repo = await repoOf(mixed());
    // Not ready yet: the caller reads in place (and the thread starts).
    expect(p.readPage({ repoPath: repo, loopId: LOOP, cursor: START, limit: 10 })).toBeNull();
    await packingThreadReady(p);
    return p;
  }

  it("reads on the thread what reading in place gives", async () => {
    packer = await readyPacker();
    const req = { repoPath: await repoOf(mixed()), loopId: LOOP, cursor: START, limit: 5000 };
    const there = await packer.readPage(req);
    const here = await inPlace(req);
    expect(there!.end).toEqual(here.end);
    expect(there!.rows.map(view)).toEqual(here.rows.map(view));
    expect(packer.pagesRead).toBe(1);
    const failed = await failureOf(packer.readPage({ ...req, repoPath: path.join(req.repoPath, "nope") })!);
    expect(failed).toBeInstanceOf(AdapterError);
    expect((failed as AdapterError).code).toBe("artifact_root_missing");
  });

  it("a thread that dies with a page in flight: the page comes back null (read in place), and so does every page after", async () => {
    packer = await readyPacker();
    const req = { repoPath: await repoOf(mixed()), loopId: LOOP, cursor: START, limit: 5000 };
    const reading = packer.readPage(req);
    await (packer as unknown as { worker: Worker }).worker.terminate();
    expect(await reading).toBeNull();
    expect(packer.threaded).toBe(false);
    expect(packer.readPage(req)).toBeNull();
  });
});
