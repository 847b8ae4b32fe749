import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readEventsAfter, type EventCursor } from "../../agent";
import { LOOP, cleanupTempDirs, eventLine, makeTempDir } from "./helpers";

afterAll(cleanupTempDirs);

const GiB = 1024 * 1024 * 1024;

/**
 * Builds events.jsonl = <prefix of `prefixBytes`> "\n" <last ingested line> "\n" <100 new lines>.
 * The big prefix is a sparse hole (ftruncate), so a 1 GiB file costs no disk and no write time; the reader must
 * never touch it when it is given a byte offset.
 */
async function buildFile(prefixBytes: number): Promise<{ repo: string; cursor: EventCursor; newLines: string[] }> {
  const repo = await makeTempDir("large-");
  const dir = path.join(repo, ".superloop/loops", LOOP);
  await fsp.mkdir(dir, { recursive: true });
  const file = path.join(dir, "events.jsonl");
  await fsp.writeFile(file, "");
  await fsp.truncate(file, prefixBytes);
  const ingested = eventLine({ event: "iteration_start", data: { n: 0 } });
  const newLines = Array.from({ length: 100 }, (_, i) => eventLine({ event: "role_end", role: "tester", data: { n: i + 1, pad: "p".repeat(200) } }));
  await fsp.appendFile(file, `\n${ingested}\n${newLines.join("\n")}\n`);
  const byteOffset = prefixBytes + 1 + Buffer.byteLength(ingested) + 1;
  const cursor: EventCursor = { line: 1_000_000, byteOffset, lastLineHash: createHash("sha256").update(ingested).digest("hex") };
  return { repo, cursor, newLines };
}

async function timeRead(repo: string, cursor: EventCursor, expected: string[]): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    const started = process.hrtime.bigint();
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor, limit: 100 });
    runs.push(Number(process.hrtime.bigint() - started) / 1e6);
    expect(page.error).toBeUndefined();
    expect(page.lines).toEqual(expected);
    expect(page.envelopes[0].sequence.value).toBe(cursor.line + 1);
    expect(page.hasMore).toBe(false);
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(runs.length / 2)]; // median
}

describe("reading after a byte offset does not depend on the file's length", () => {
  it("100 new lines after a 1 GiB prefix ≈ after a 1 KiB prefix", async () => {
    const small = await buildFile(1024);
    const large = await buildFile(GiB);
    expect((await fsp.stat(path.join(large.repo, ".superloop/loops", LOOP, "events.jsonl"))).size).toBeGreaterThan(GiB);
    await timeRead(small.repo, small.cursor, small.newLines); // warm-up (JIT, module load)
    const smallMs = await timeRead(small.repo, small.cursor, small.newLines);
    const largeMs = await timeRead(large.repo, large.cursor, large.newLines);
    console.log(`events after byte offset: 1 KiB prefix ${smallMs.toFixed(2)} ms, 1 GiB prefix ${largeMs.toFixed(2)} ms (median of 5)`);
    expect(largeMs).toBeLessThan(smallMs * 10 + 50);
  });
});
