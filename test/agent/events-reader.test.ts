import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AdapterError, MAX_LINE_BYTES, readEventsAfter, readEventsMapped, statEvents, type EventCursor, type EventsPage } from "../../agent";
import type { LoopRunEvent } from "../../src/contract";
import { LocalTransport } from "../../src/transports/local";
import { LOOP, cleanupTempDirs, copyRecording, eventLine, eventsPath, expectValidEnvelope, makeTempDir, readLines } from "./helpers";

afterAll(cleanupTempDirs);

const START: EventCursor = { line: 0, byteOffset: 0, lastLineHash: null };

function sha(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

function next(page: EventsPage): EventCursor {
  return { line: page.cursor.line, byteOffset: page.cursor.byteOffset, lastLineHash: page.cursor.lastLineHash };
}

async function expectAdapterError(promise: Promise<unknown>, code: string): Promise<AdapterError> {
  const error = await promise.then(
    () => new Error(`expected ${code}`),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AdapterError);
  expect((error as AdapterError).code).toBe(code);
  return error as AdapterError;
}

/** Reads the whole file page by page, following the returned cursor. */
async function drain(repo: string, limit: number, from: EventCursor = START): Promise<{ lines: string[]; sequences: number[]; cursor: EventCursor }> {
  const lines: string[] = [];
  const sequences: number[] = [];
  let cursor = from;
  for (let guard = 0; guard < 10_000; guard += 1) {
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor, limit });
    expect(page.error).toBeUndefined();
    lines.push(...page.lines);
    sequences.push(...page.envelopes.map((e) => e.sequence.value));
    cursor = next(page);
    if (!page.hasMore) break;
  }
  return { lines, sequences, cursor };
}

describe("readEventsAfter: paging", () => {
  it("pages through a recording with no duplicate and no gap, cursor fields exact", async () => {
    const repo = await copyRecording("rejected");
    const all = await readLines(eventsPath(repo));
    const first = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 5, traceId: "t-1" });
    expect(first.envelopes).toHaveLength(5);
    expect(first.hasMore).toBe(true);
    expect(first.eventsFileExists).toBe(true);
    expect(first.eventLineCount).toBe(all.length);
    expect(first.cursor.line).toBe(5);
    expect(first.cursor.byteOffset).toBe(Buffer.byteLength(all.slice(0, 5).join("\n") + "\n"));
    expect(first.cursor.lastLineHash).toBe(sha(all[4]));
    expect(first.cursor.pendingBytes).toBe(0);
    expect(first.cursor.fileSize).toBe((await fsp.stat(eventsPath(repo))).size);
    for (const [i, envelope] of first.envelopes.entries()) {
      await expectValidEnvelope(envelope);
      expect(envelope.traceId).toBe("t-1");
      expect(envelope.sequence).toEqual({ source: "cursor_event_line_offset", value: i + 1 });
      expect(envelope.cursor).toEqual({ eventLineOffset: i + 1, eventLineCount: all.length });
      const raw = JSON.parse(all[i]) as Record<string, unknown>;
      expect(envelope.event.raw).toEqual(raw);
      expect(envelope.event.name).toBe(raw["event"]);
      expect(envelope.event.payload).toEqual(raw["data"] ?? null);
      expect(envelope.run).toEqual({ runId: raw["run_id"], iteration: raw["iteration"] });
    }
    const rest = await drain(repo, 7, next(first));
    expect([...first.lines, ...rest.lines]).toEqual(all);
    expect(rest.sequences).toEqual(all.slice(5).map((_, i) => i + 6));
  });

  it("maps role/status/message and the approval_decision payload", async () => {
    const repo = await copyRecording("approved");
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: { line: 26 }, limit: 10 });
    expect(page.envelopes).toHaveLength(1);
    const decision = page.envelopes[0];
    expect(decision.event).toMatchObject({ name: "approval_decision", role: "human", status: "approved", message: null });
    expect(decision.event.payload).toMatchObject({ by: "operator", note: "looks good" });
    expect(decision.sequence.value).toBe(27);
  });

  it("a line-number-only cursor (old clients) finds the byte offset itself", async () => {
    const repo = await copyRecording("maxiter");
    const all = await readLines(eventsPath(repo));
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: { line: 48 }, limit: 100 });
    expect(page.lines).toEqual(all.slice(48));
    expect(page.envelopes.map((e) => e.sequence.value)).toEqual([49, 50]);
    expect(page.cursor.byteOffset).toBe(page.cursor.fileSize);
    const empty = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: { line: 50 }, limit: 100 });
    expect(empty.envelopes).toHaveLength(0);
    expect(empty.cursor).toMatchObject({ line: 50, lastLineHash: sha(all[49]) });
  });

  it("limit 0 only verifies the cursor", async () => {
    const repo = await copyRecording("complete");
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 0 });
    expect(page.envelopes).toHaveLength(0);
    expect(page.hasMore).toBe(true);
    expect(page.cursor.line).toBe(0);
  });

  it("statEvents is a cheap existence/size check", async () => {
    const repo = await copyRecording("complete");
    const stat = await statEvents({ repoPath: repo, loopId: LOOP });
    expect(stat.exists).toBe(true);
    expect(stat.size).toBe((await fsp.stat(eventsPath(repo))).size);
    expect(await statEvents({ repoPath: repo, loopId: "nope" })).toEqual({ exists: false, size: 0, mtimeMs: 0 });
  });
});

describe("readEventsAfter: a live, growing file", () => {
  it("appends while reading: every line exactly once", async () => {
    const repo = await copyRecording("failure");
    const file = eventsPath(repo);
    let cursor = START;
    const seen: string[] = [];
    let appended = 0;
    const writer = (async () => {
      for (let i = 0; i < 300; i += 1) {
        await fsp.appendFile(file, `${eventLine({ event: "tick", data: { i } })}\n`);
        appended += 1;
        if (i % 25 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    let done = false;
    void writer.then(() => {
      done = true;
    });
    while (!done || seen.length < 3 + appended) {
      const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor, limit: 17 });
      expect(page.error).toBeUndefined();
      expect(page.envelopes.map((e) => e.sequence.value)).toEqual(page.envelopes.map((_, i) => cursor.line + i + 1));
      seen.push(...page.lines);
      cursor = next(page);
      if (done && !page.hasMore && seen.length === 3 + appended) break;
    }
    await writer;
    expect(seen).toEqual(await readLines(file));
    expect(seen).toHaveLength(303);
  });

  it("a partial last line is left for the next read and reported as pendingBytes", async () => {
    const repo = await copyRecording("failure");
    const file = eventsPath(repo);
    const line = eventLine({ event: "role_end", role: "planner" });
    const half = line.slice(0, 40);
    await fsp.appendFile(file, half);
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 100 });
    expect(page.envelopes).toHaveLength(3);
    expect(page.hasMore).toBe(false);
    expect(page.cursor.pendingBytes).toBe(Buffer.byteLength(half));
    expect(page.cursor.byteOffset).toBe(page.cursor.fileSize - Buffer.byteLength(half));

    const idle = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 100 });
    expect(idle.envelopes).toHaveLength(0);
    expect(idle.cursor.pendingBytes).toBe(Buffer.byteLength(half));

    await fsp.appendFile(file, `${line.slice(40)}\n`);
    const after = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 100 });
    expect(after.lines).toEqual([line]);
    expect(after.envelopes[0].sequence.value).toBe(4);
    expect(after.cursor.pendingBytes).toBe(0);
    expect(after.cursor.lastLineHash).toBe(sha(line));
  });

  it("pendingBytes is also reported when the page stops before the end", async () => {
    const repo = await copyRecording("complete");
    await fsp.appendFile(eventsPath(repo), '{"partial');
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 3 });
    expect(page.hasMore).toBe(true);
    expect(page.cursor.pendingBytes).toBe(9);
    expect(page.eventLineCount).toBe(26);
  });

  it("countLinesAhead: false (the manager's local transport) counts nothing past the page; the same lines and cursor", async () => {
    const repo = await copyRecording("complete");
    const counted = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 3 });
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 3, countLinesAhead: false });
    expect(counted).toMatchObject({ eventLineCount: 26, eventLineCountExact: true });
    expect(page).toMatchObject({ eventLineCount: 3, eventLineCountExact: false, hasMore: true });
    expect(page.envelopes.map((e) => e.cursor)).toEqual([1, 2, 3].map((n) => ({ eventLineOffset: n, eventLineCount: 3 })));
    expect({ lines: page.lines, cursor: page.cursor }).toEqual({ lines: counted.lines, cursor: counted.cursor });
    const rest = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 100, countLinesAhead: false });
    expect(rest).toMatchObject({ eventLineCount: 26, eventLineCountExact: true, hasMore: false });
    // The transport the manager reads local Sprites with asks for no count.
    const transport = new LocalTransport({ superloopBin: "superloop", logDir: await makeTempDir() });
    const viaTransport = await transport.readEvents({ runId: "r", spriteName: "s", repoPath: repo, loopId: LOOP }, START, 3);
    expect(viaTransport).toMatchObject({ eventLineCount: 3, eventLineCountExact: false });
  });

  it("CRLF and multi-byte UTF-8 lines: hash covers the exact bytes", async () => {
    const repo = await copyRecording("failure");
    const line = `${eventLine({ event: "role_end", message: "fertig ✓ — 完了" })}\r`;
    await fsp.appendFile(eventsPath(repo), `${line}\n`);
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: { line: 3 }, limit: 10 });
    expect(page.envelopes[0].event.message).toBe("fertig ✓ — 完了");
    expect(page.cursor.lastLineHash).toBe(sha(Buffer.from(line, "utf8")));
    const again = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 10 });
    expect(again.envelopes).toHaveLength(0);
  });
});

describe("readEventsAfter: forks fail closed", () => {
  it("truncation below the cursor → cursor_fork with both positions", async () => {
    const repo = await copyRecording("maxiter");
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 1000 });
    const text = await fsp.readFile(eventsPath(repo), "utf8");
    await fsp.writeFile(eventsPath(repo), text.slice(0, 1000));
    const error = await expectAdapterError(readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 10 }), "cursor_fork");
    expect(error.details).toMatchObject({ expected: { line: 50, byteOffset: page.cursor.byteOffset }, actual: { fileSize: 1000 } });
    expect(error.message).toMatch(/shorter/);
  });

  it("a rewritten file of the same length → cursor_fork (hash mismatch)", async () => {
    const repo = await copyRecording("complete");
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 10 });
    const lines = await readLines(eventsPath(repo));
    // Same byte length, different content in the ingested line 10.
    lines[9] = lines[9].replace("2026-11-24T06:54", "2026-11-24T06:55");
    await fsp.writeFile(eventsPath(repo), `${lines.join("\n")}\n`);
    const error = await expectAdapterError(readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 10 }), "cursor_fork");
    expect(error.details).toMatchObject({
      expected: { line: 10, byteOffset: page.cursor.byteOffset, lastLineHash: page.cursor.lastLineHash },
      actual: { lastLineHash: sha(lines[9]) },
    });
    expect(error.message).toMatch(/changed/);
  });

  it("a rewrite that moves line boundaries → cursor_fork", async () => {
    const repo = await copyRecording("complete");
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 4 });
    const lines = await readLines(eventsPath(repo));
    await fsp.writeFile(eventsPath(repo), `${[eventLine({ event: "loop_start" }), ...lines.slice(1)].join("\n")}\n`);
    await expectAdapterError(readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 10 }), "cursor_fork");
  });

  it("replaced by a longer file (rotation) → cursor_fork even though the offset still fits", async () => {
    const repo = await copyRecording("approval");
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 1000 });
    // (Not "rejected": that one starts with the same 26 lines, so it is a legitimate append.)
    const other = await fsp.readFile(eventsPath(await copyRecording("maxiter")));
    expect(other.length).toBeGreaterThan(page.cursor.byteOffset);
    await fsp.writeFile(eventsPath(repo), other);
    await expectAdapterError(readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 10 }), "cursor_fork");
  });

  it("a recording that extends another (approval → rejected) is an append, not a fork", async () => {
    const repo = await copyRecording("approval");
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 1000 });
    await fsp.writeFile(eventsPath(repo), await fsp.readFile(eventsPath(await copyRecording("rejected"))));
    const more = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 1000 });
    expect(more.envelopes.map((e) => e.sequence.value)).toEqual(Array.from({ length: 28 }, (_, i) => 27 + i));
    expect(more.envelopes[0].event.name).toBe("approval_decision");
  });

  it("events.jsonl deleted after ingesting → cursor_fork; never-created → empty page", async () => {
    const repo = await copyRecording("complete");
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 5 });
    await fsp.rm(eventsPath(repo));
    await expectAdapterError(readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 5 }), "cursor_fork");
    const empty = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 5 });
    expect(empty).toMatchObject({ envelopes: [], lines: [], hasMore: false, eventsFileExists: false });
    expect(empty.cursor).toMatchObject({ line: 0, byteOffset: 0, lastLineHash: null, pendingBytes: 0 });
    const neverRan = await readEventsAfter({ repoPath: repo, loopId: "not-started", cursor: { line: 0 }, limit: 5 });
    expect(neverRan.eventsFileExists).toBe(false);
  });

  it("events.jsonl that is not a regular file → invalid_artifact (snapshot too)", async () => {
    const repo = await makeTempDir();
    await fsp.mkdir(eventsPath(repo), { recursive: true });
    await expectAdapterError(readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 5 }), "invalid_artifact");
    const { readSnapshot } = await import("../../agent");
    await expectAdapterError(readSnapshot({ repoPath: repo, loopId: LOOP }), "invalid_artifact");
  });

  it("a line-only cursor beyond the end → cursor_beyond_end", async () => {
    const repo = await copyRecording("failure");
    const error = await expectAdapterError(readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: { line: 7 }, limit: 5 }), "cursor_beyond_end");
    expect(error.message).toMatch(/line 7.*3 complete lines/);
  });

  it("missing repository → artifact_root_missing; bad loop id → invalid_loop_id; bad cursor → invalid_request", async () => {
    const dir = await makeTempDir();
    await expectAdapterError(readEventsAfter({ repoPath: path.join(dir, "nope"), loopId: LOOP, cursor: START, limit: 5 }), "artifact_root_missing");
    await expectAdapterError(readEventsAfter({ repoPath: dir, loopId: "../etc", cursor: START, limit: 5 }), "invalid_loop_id");
    await expectAdapterError(readEventsAfter({ repoPath: dir, loopId: LOOP, cursor: { line: -1 }, limit: 5 }), "invalid_request");
    await expectAdapterError(readEventsAfter({ repoPath: dir, loopId: LOOP, cursor: { line: 0, byteOffset: 10, lastLineHash: null }, limit: 5 }), "invalid_request");
    await expectAdapterError(readEventsAfter({ repoPath: dir, loopId: LOOP, cursor: { line: 1, byteOffset: 10, lastLineHash: "zz" }, limit: 5 }), "invalid_request");
  });
});

describe("readEventsAfter: bad lines stop the page at that line", () => {
  async function repoWithBadLine(bad: string | Buffer): Promise<string> {
    const repo = await copyRecording("failure");
    await fsp.appendFile(eventsPath(repo), bad);
    await fsp.appendFile(eventsPath(repo), `${eventLine({ event: "after_bad" })}\n`);
    return repo;
  }

  it.each([
    ["invalid_json", "{not json\n", /invalid JSON at line 4/],
    ["invalid_json", "\n", /line 4 .*empty/],
    ["invalid_event", `${JSON.stringify({ event: "x", loop_id: LOOP })}\n`, /line 4.*timestamp/],
    ["invalid_event", `${JSON.stringify({ timestamp: "2026-11-24T07:00:00Z", data: {} })}\n`, /line 4.*event name missing/],
    ["invalid_event", `${JSON.stringify({ timestamp: "", event: "x" })}\n`, /line 4.*timestamp/],
    ["invalid_event", "[1,2,3]\n", /line 4 .*not a JSON object/],
    ["invalid_utf8", Buffer.concat([Buffer.from('{"timestamp":"t","event":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]), /line 4 .*UTF-8/],
  ])("%s: good lines before it are returned, the cursor stops before it", async (code, bad, message) => {
    const repo = await repoWithBadLine(bad);
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 100 });
    expect(page.envelopes.map((e) => e.sequence.value)).toEqual([1, 2, 3]);
    expect(page.cursor.line).toBe(3);
    expect(page.error).toMatchObject({ code, line: 4 });
    expect(page.error!.message).toMatch(message);
    expect(page.hasMore).toBe(false);
    // Retrying from the good cursor fails at the same line, with nothing returned: fail closed, never skip.
    const retry = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 100 });
    expect(retry.envelopes).toHaveLength(0);
    expect(retry.error).toMatchObject({ code, line: 4 });
    expect(retry.cursor.line).toBe(3);
  });

  it("line_too_long above 1 MiB, complete or still being written", async () => {
    const repo = await copyRecording("failure");
    const huge = eventLine({ event: "big", data: { blob: "x".repeat(MAX_LINE_BYTES) } });
    await fsp.appendFile(eventsPath(repo), `${huge}\n`);
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: START, limit: 100 });
    expect(page.envelopes).toHaveLength(3);
    expect(page.error).toMatchObject({ code: "line_too_long", line: 4 });
    expect(page.error!.message).toMatch(/1048576-byte/);

    const repo2 = await copyRecording("failure");
    await fsp.appendFile(eventsPath(repo2), huge); // no newline yet
    const partial = await readEventsAfter({ repoPath: repo2, loopId: LOOP, cursor: START, limit: 100 });
    expect(partial.envelopes).toHaveLength(3);
    expect(partial.error).toMatchObject({ code: "line_too_long", line: 4 });
  });

  it("a line of exactly 1 MiB is accepted", async () => {
    const repo = await copyRecording("failure");
    const base = eventLine({ event: "big", data: { blob: "" } });
    const line = eventLine({ event: "big", data: { blob: "y".repeat(MAX_LINE_BYTES - Buffer.byteLength(base)) } });
    expect(Buffer.byteLength(line)).toBe(MAX_LINE_BYTES);
    await fsp.appendFile(eventsPath(repo), `${line}\n`);
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: { line: 3 }, limit: 10 });
    expect(page.error).toBeUndefined();
    expect(page.envelopes).toHaveLength(1);
    const again = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: next(page), limit: 10 });
    expect(again.envelopes).toHaveLength(0);
  });
});

describe("readEventsMapped: each line handed over as it is read", () => {
  const mapAll = (envelope: LoopRunEvent, text: string) => ({ envelope, text });

  it("gives what readEventsAfter gives, page by page, bad line and missing file included", async () => {
    const repo = await copyRecording("complete");
    await fsp.appendFile(eventsPath(repo), "{not json\n");
    for (const [cursor, limit] of [
      [START, 10],
      [START, 100],
      [{ line: 10 }, 7],
    ] as const) {
      const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor, limit, countLinesAhead: false, now: new Date(0) });
      const { items, ...frame } = await readEventsMapped({ repoPath: repo, loopId: LOOP, cursor, limit, countLinesAhead: false, now: new Date(0) }, mapAll);
      const { envelopes, lines, ...pageFrame } = page;
      expect(frame).toEqual(pageFrame);
      expect(items.map((i) => i.text)).toEqual(lines);
      // Each envelope counts the lines as far as read (the page's count is known only at its end).
      expect(items.map((i) => i.envelope)).toEqual(envelopes.map((e) => ({ ...e, cursor: { ...e.cursor, eventLineCount: e.sequence.value } })));
    }
    const bad = await readEventsMapped({ repoPath: repo, loopId: LOOP, cursor: START, limit: 100 }, mapAll);
    expect(bad).toMatchObject({ error: { code: "invalid_json", line: 27 }, cursor: { line: 26 } });
    const none = await readEventsMapped({ repoPath: await makeTempDir(), loopId: LOOP, cursor: START, limit: 10 }, mapAll);
    expect(none).toMatchObject({ items: [], eventsFileExists: false, cursor: { line: 0 } });
  });

  it("keeps only what the map returns, and an error the map throws ends the read and is the caller's", async () => {
    const repo = await copyRecording("complete");
    const page = await readEventsMapped({ repoPath: repo, loopId: LOOP, cursor: START, limit: 100 }, (e) => e.sequence.value);
    expect(page.items).toEqual(Array.from({ length: 26 }, (_, i) => i + 1));
    const seen: number[] = [];
    const refused = readEventsMapped({ repoPath: repo, loopId: LOOP, cursor: START, limit: 100 }, (e) => {
      seen.push(e.sequence.value);
      if (e.sequence.value === 5) throw new Error("line 5 refused");
      return e;
    });
    await expect(refused).rejects.toThrow("line 5 refused");
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    // Nothing of the refused read is left in the way of the next one.
    expect((await readEventsMapped({ repoPath: repo, loopId: LOOP, cursor: START, limit: 3 }, (e) => e.sequence.value)).items).toEqual([1, 2, 3]);
    // The manager's local transport has it; it asks for no count past the page either.
    const transport = new LocalTransport({ superloopBin: "superloop", logDir: await makeTempDir() });
    const viaTransport = await transport.readEventsMapped({ runId: "r", spriteName: "s", repoPath: repo, loopId: LOOP }, START, 3, (e) => e.sequence.value);
    expect(viaTransport).toMatchObject({ items: [1, 2, 3], eventLineCount: 3, eventLineCountExact: false });
  });
});
