import { afterAll, describe, expect, it } from "vitest";
import { readEventsAfter } from "../../agent";
import { packInPlace } from "../../src/events/line-packer";
import { rowFromEnvelope, rowsFromEnvelopes } from "../../src/ingest/rows";
import { LOOP, RECORDINGS, cleanupTempDirs, copyRecording } from "../agent/helpers";

afterAll(cleanupTempDirs);

// A row made from a line read holds the line only until it is packed, and parses its payload only when asked
// (src/ingest/rows.ts): what it gives back must be what the envelope said, for every line the runtime wrote.

describe("rows made from the lines read", () => {
  it.each(RECORDINGS)("%s: each row gives back its line and the envelope's payload, before and after packing", async (name) => {
    const repo = await copyRecording(name);
    const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: { line: 0, byteOffset: 0, lastLineHash: null }, limit: 1000 });
    expect(page.envelopes.length).toBeGreaterThan(0);
    const rows = page.envelopes.map((e, i) => rowFromEnvelope(e, page.lines[i], LOOP, i + 1));
    expect(rowsFromEnvelopes(page.envelopes, page.lines, LOOP, 0).map((r) => ({ ...r }))).toEqual(rows.map((r) => ({ ...r })));
    rows.forEach((r, i) => {
      expect(r.text).toBe(page.lines[i]);
      expect(r.payload).toEqual(page.envelopes[i].event.payload);
      // Held until packed: the row's own fields include the line's text.
      expect(JSON.stringify(r)).toContain(JSON.stringify(page.lines[i]).slice(1, -1));
    });
    packInPlace(rows);
    rows.forEach((r, i) => {
      expect(r.packed).not.toBe("");
      expect(JSON.stringify(r)).not.toContain(JSON.stringify(page.lines[i]).slice(1, -1));
      expect(r.text).toBe(page.lines[i]);
      expect(r.payload).toEqual(page.envelopes[i].event.payload);
      expect({ line: r.line, name: r.name, status: r.status, runtimeRunId: r.runtimeRunId }).toEqual({
        line: i + 1,
        name: page.envelopes[i].event.name,
        status: page.envelopes[i].event.status,
        runtimeRunId: page.envelopes[i].run.runId,
      });
    });
    if (name === "approved") expect(rows.find((r) => r.name === "approval_decision")?.payload).toMatchObject({ status: "approved" });
  });
});
