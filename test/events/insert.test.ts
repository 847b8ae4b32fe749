import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inTransaction } from "../../src/db/transaction";
import { copyText, insertEvents, isDuplicateLine } from "../../src/events/insert";
import { packLine } from "../../src/events/line-codec";
import { originalLine } from "../../src/events/stored-event";
import type { EventRow } from "../../src/ingest/rows";
import type { RunningServer } from "../../src/server";
import { register } from "../support/runs";
import { startTestServer } from "../support/server";

// The COPY that stores a page of events (src/events/insert.ts), against the real database: every value comes
// back exactly as written, and a COPY the server refuses leaves nothing stored and the connection usable.

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "3600000" });
});
afterAll(() => server?.close());

async function newRun(name: string): Promise<string> {
  return (await register(server, name, mkdtempSync(path.join(tmpdir(), "ops-insert-")), "none")).raw;
}

function row(line: number, text: string, extra: Partial<EventRow> = {}): EventRow {
  const o = JSON.parse(text) as Record<string, unknown>;
  const r: EventRow = {
    line,
    timestamp: new Date(String(o["timestamp"])),
    name: String(o["event"]),
    role: typeof o["role"] === "string" ? o["role"] : null,
    status: typeof o["status"] === "string" ? o["status"] : null,
    message: typeof o["message"] === "string" ? o["message"] : null,
    runtimeRunId: typeof o["run_id"] === "string" ? o["run_id"] : null,
    iteration: typeof o["iteration"] === "number" ? o["iteration"] : null,
    payload: null,
    text,
    packed: "",
    ...extra,
  };
  r.packed = packLine(text, r);
  return r;
}

const line = (i: number, fields: Record<string, unknown> = {}) =>
  JSON.stringify({ timestamp: new Date(Date.UTC(2026, 10, 24) + i * 1000).toISOString().replace(".000", ""), event: "role_end", loop_id: "demo-loop", run_id: "r1", iteration: 1, ...fields });

async function storedRows(runId: string) {
  const res = await server.app.pool.query<{
    line: number;
    timestamp: Date;
    name: string;
    role: string | null;
    status: string | null;
    message: string | null;
    runtimeRunId: string | null;
    iteration: number | null;
    packed: string;
  }>(`SELECT line, "timestamp", name, role, status, message, "runtimeRunId", iteration, packed FROM "Event" WHERE "runId" = $1 ORDER BY line`, [runId]);
  return res.rows;
}

describe("copyText", () => {
  it.each([
    ["plain", "plain"],
    ["tab\there", "tab\\there"],
    ["new\nline\r", "new\\nline\\r"],
    ["back\\slash \\N \\.", "back\\\\slash \\\\N \\\\."],
    ["ünïcode ✓ 😀", "ünïcode ✓ 😀"],
  ])("%j is written as %j", (value, field) => expect(copyText(value)).toBe(field));
});

describe("insertEvents (COPY into the Event table)", () => {
  it("stores every column exactly, whatever characters the values hold", async () => {
    const runId = await newRun("insert-exact");
    const rows = [
      row(1, line(1)),
      row(2, line(2, { event: "tab\there", role: "new\nline", status: "back\\slash", message: "\\N", data: { x: "\\.", y: "\t" } })),
      row(3, line(3, { event: "ünïcode ✓ 😀", role: undefined, run_id: undefined, iteration: undefined, message: "carriage\rreturn" })),
      row(4, '{ "timestamp" : "2026-11-24T00:00:04.250Z",\t"event":"spaced" }'),
      row(5, line(5, { data: { blob: "z".repeat(5000) } })),
      // Escapes before a non-ASCII character (the value is written again from its start), iterations at both ends.
      row(6, line(6, { role: "esc\\aped\tthen ü", message: "ü first\nthen escapes\\", iteration: 0 })),
      row(7, line(7, { event: "\t\r\n\\", iteration: 2147483647 })),
    ];
    expect(await inTransaction(server.app.pool, (c) => insertEvents(c, runId, rows))).toBe(rows.length);
    const stored = await storedRows(runId);
    expect(stored.map((s) => ({ ...s, timestamp: s.timestamp.getTime() }))).toEqual(
      rows.map((r) => ({
        line: r.line,
        timestamp: r.timestamp.getTime(),
        name: r.name,
        role: r.role,
        status: r.status,
        message: r.message,
        runtimeRunId: r.runtimeRunId,
        iteration: r.iteration,
        packed: r.packed,
      })),
    );
    expect(stored.map((s) => originalLine(s))).toEqual(rows.map((r) => r.text));
  });

  it("a page of thousands of rows (many COPY messages) is stored in order", async () => {
    const runId = await newRun("insert-many");
    const rows = Array.from({ length: 3000 }, (_, i) => row(i + 1, line(i + 1, { data: { n: i } })));
    expect(await inTransaction(server.app.pool, (c) => insertEvents(c, runId, rows))).toBe(3000);
    const stored = await storedRows(runId);
    expect(stored.map((s) => s.line)).toEqual(rows.map((r) => r.line));
    expect(stored.map((s) => originalLine(s))).toEqual(rows.map((r) => r.text));
  });

  it("a line already stored fails the whole COPY (isDuplicateLine), nothing of it is stored, the connection serves on", async () => {
    const runId = await newRun("insert-dup");
    await inTransaction(server.app.pool, (c) => insertEvents(c, runId, [row(2, line(2))]));
    // The duplicate comes first and thousands of rows follow it, so the server refuses the COPY while data is
    // still on its way: what follows the error must not break the connection.
    const rows = Array.from({ length: 6000 }, (_, i) => row(i + 1, line(i + 1, { data: { pad: "p".repeat(200) } })));
    const client = await server.app.pool.connect();
    try {
      await client.query("BEGIN");
      const failure = await insertEvents(client, runId, rows).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isDuplicateLine(failure)).toBe(true);
      await client.query("ROLLBACK");
      expect((await client.query("SELECT 41 + 1 AS n")).rows[0]).toEqual({ n: 42 });
    } finally {
      client.release();
    }
    expect((await storedRows(runId)).map((s) => s.line)).toEqual([2]);
    expect(isDuplicateLine(new Error("other"))).toBe(false);
  });

  it("a row that cannot be written as COPY text fails the COPY with the reason; nothing is stored", async () => {
    const runId = await newRun("insert-bad");
    const rows = [row(1, line(1)), { ...row(2, line(2)), timestamp: new Date(NaN) }];
    await expect(inTransaction(server.app.pool, (c) => insertEvents(c, runId, rows))).rejects.toThrow(/cannot write the rows/);
    expect(await storedRows(runId)).toEqual([]);
    expect((await server.app.pool.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
  });

  it("no rows: no statement", async () => {
    const runId = await newRun("insert-none");
    expect(await inTransaction(server.app.pool, (c) => insertEvents(c, runId, []))).toBe(0);
  });
});
