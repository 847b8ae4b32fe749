import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { eventsPath } from "../support/fixtures";
import { getRun, register, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";
import { mulberry32 } from "../support/random";
import { LINE_SQL_COLUMNS, originalLine, type StoredEventLine } from "../../src/events/stored-event";

// Seeded fuzzing of a live run (issue 13): valid lines, half-lines completed later, random bytes, NULs, huge
// lines and odd JSON appended to events.jsonl. Checks: no crash, bounded RSS, every stored event exactly once
// and equal to its line, every rejection named (then the operator cuts the bad line and resets with ADOPT_CURRENT).
const SEED = Number(process.env.FUZZ_SEED ?? 13);
const STEPS = Number(process.env.FUZZ_STEPS ?? 60);
const NAMED = /^(invalid_json|invalid_utf8|invalid_event|line_too_long|timestamp_out_of_range|nul_character|too_deep|unsupported_schema_version|wrong_loop_id)\b/;

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "50" });
});
afterAll(async () => {
  await server?.close();
});

it(`a live run survives seeded hostile appends (seed ${SEED}, ${STEPS} steps)`, { timeout: 240_000 }, async () => {
  const rand = mulberry32(SEED);
  const int = (n: number) => Math.floor(rand() * n);
  const repo = mkdtempSync(path.join(tmpdir(), "ops-fuzz-"));
  mkdirSync(path.join(repo, ".superloop", "loops", "demo-loop"), { recursive: true });
  const file = eventsPath(repo);
  writeFileSync(file, "");
  const { id, raw } = await register(server, "fuzz", repo);
  let n = 0;
  const valid = () =>
    JSON.stringify({ timestamp: new Date(Date.UTC(2026, 0, 1) + ++n * 1000).toISOString(), event: "role_end", loop_id: "demo-loop", run_id: "f", iteration: 1, data: { n, s: "é✓".repeat(int(4)) } });
  const hostile: (() => Buffer)[] = [
    () => Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256)).filter((b) => b !== 0x0a)),
    () => Buffer.from(`${valid().slice(0, -1)},"x":"a\\u0000b"}`),
    () => Buffer.from(`{"timestamp":"2026-01-01T00:00:00Z","event":"x","loop_id":"demo-loop","bad":"\u0000"}`),
    () => Buffer.from(`${valid().slice(0, -1)},"deep":${"[".repeat(200)}${"]".repeat(200)}}`),
    () => Buffer.from(valid().replace(/"timestamp":"[^"]+"/, `"timestamp":"+099999-01-01T00:00:00Z"`)),
    () => Buffer.from(["[]", "42", "null", '"str"', "{", '{"event":5}', "{}"][int(7)]),
    () => Buffer.concat([Buffer.from('{"timestamp":"2026-01-01T00:00:00Z","event":"x","pad":"'), Buffer.alloc(1_100_000, 0x61), Buffer.from('"}')]),
    () => Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
  ];
  const rssStart = process.memoryUsage().rss;
  let rssMax = rssStart;
  const rejections: string[] = [];
  const lineCount = () => readFileSync(file).toString("latin1").split("\n").length - 1;

  for (let step = 0; step < STEPS; step++) {
    const r = rand();
    if (r < 0.55) {
      appendFileSync(file, Array.from({ length: 1 + int(20) }, valid).join("\n") + "\n");
    } else if (r < 0.75) {
      const l = valid() + "\n";
      const cut = 1 + int(l.length - 2);
      appendFileSync(file, l.slice(0, cut));
      await new Promise((res) => setTimeout(res, 20 + int(100)));
      appendFileSync(file, l.slice(cut));
    } else {
      appendFileSync(file, Buffer.concat([hostile[int(hostile.length)](), Buffer.from("\n")]));
    }
    const lines = lineCount();
    const run = await waitFor(
      () => getRun(server, id),
      (x) => x.ingest.status !== "OK" || x.ingest.cursorLine === lines,
      30_000,
      `step ${step}: ingest to line ${lines} or a rejection`,
    );
    if (run.ingest.status !== "OK") {
      const code = String(run.ingest.lastError).replace(/^.*?\b(?=[a-z_]+(:| at line))/, "");
      expect(code, String(run.ingest.lastError)).toMatch(NAMED);
      rejections.push(code.split(/[: ]/)[0]);
      // the operator removes the bad line (and what follows it), then resumes from what the file now holds
      const bytes = readFileSync(file);
      let end = 0;
      for (let seen = 0; seen < run.ingest.cursorLine; seen++) end = bytes.indexOf(0x0a, end) + 1;
      writeFileSync(file, bytes.subarray(0, end));
      const reset = await gql(server.url, `mutation($id: ID!) { resetRunCursor(runId: $id, mode: ADOPT_CURRENT) { __typename } }`, { id });
      expect(reset.data?.resetRunCursor.__typename).toBe("CursorReset");
      await waitFor(
        () => getRun(server, id),
        (x) => x.ingest.status === "OK" && x.ingest.cursorLine === lineCount(),
        30_000,
        `step ${step}: adopted`,
      );
    }
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
  }

  // every stored event exactly once, each equal to its line in the file
  const fileLines = readFileSync(file, "utf8").split("\n");
  const rows = await server.app.pool.query<StoredEventLine & { line: number }>(`SELECT line, ${LINE_SQL_COLUMNS} FROM "Event" WHERE "runId" = $1 ORDER BY line`, [raw]);
  const lines = rows.rows.map((x) => x.line);
  expect(new Set(lines).size).toBe(lines.length);
  for (const row of rows.rows) expect(originalLine(row), `line ${row.line}`).toBe(fileLines[row.line - 1]);
  expect(lines).toEqual(Array.from({ length: fileLines.length - 1 }, (_, i) => i + 1)); // every line of the file, once
  expect(rows.rows.length).toBeGreaterThan(STEPS);
  expect(rejections.length).toBeGreaterThan(3);
  expect(rssMax - rssStart).toBeLessThan(400 * 1024 * 1024);
  expect((await fetch(server.url.replace("/graphql", "/health"))).status).toBe(200);
});
