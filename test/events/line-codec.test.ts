import { describe, expect, it } from "vitest";
import { columnsOf, recordedLines } from "./line-fixtures";
import { MAX_PACKED_LENGTH, packLine, unpackLine, VERBATIM } from "../../src/events/line-codec";
import { originalJsonl, payloadOf, rawObject } from "../../src/events/stored-event";

// The stored form of a line must give the exact bytes back (forensics, fork checks, the JSONL export), and be
// smaller than the line for what Superloop writes.

describe("packLine / unpackLine", () => {
  const cases: [string, string][] = [
    [
      "runtime shape",
      '{"timestamp":"2026-11-24T06:54:18Z","event":"role_start","loop_id":"demo-loop","run_id":"2026-11-24T06:54:18Z","iteration":1,"role":"planner","data":{"prompt_file":"/home/sprite/repo/.superloop/loops/demo-loop/prompts/planner.md"}}',
    ],
    ["milliseconds", '{"timestamp":"2026-11-24T00:00:01.250Z","event":"iteration_start","loop_id":"demo-loop","run_id":"x","iteration":1,"data":{"duration_ms":1005}}'],
    ["zero milliseconds written out", '{"timestamp":"2026-11-24T00:00:01.000Z","event":"e","iteration":2}'],
    ["offset timestamp (not the column's rendering)", '{"timestamp":"2026-11-24T01:00:00+01:00","event":"e"}'],
    ["other key order and spacing", '{ "event" : "e", "timestamp" : "2026-11-24T00:00:00Z" , "iteration": 3 }'],
    ["older `type` name", '{"type":"loop_start","timestamp":"2026-11-24T00:00:00Z"}'],
    ["unicode and escapes", '{"timestamp":"2026-11-24T00:00:00Z","event":"ünïcode ✓","message":"tab\\there \\"quoted\\" \\u0000 nul escape","data":{"emoji":"😀"}}'],
    ["role named like a key", '{"timestamp":"2026-11-24T00:00:00Z","event":"status","role":"status","status":"status","data":{"status":"status"}}'],
    ["name repeated in data", '{"timestamp":"2026-11-24T00:00:00Z","event":"x","data":{"a":"x","b":["x","x"]}}'],
    ["iteration also elsewhere", '{"timestamp":"2026-11-24T00:00:00Z","event":"e","iteration":7,"data":{"iteration":7,"n":7}}'],
  ];
  it.each(cases)("%s: round-trips byte-exact", (_label, line) => {
    const cols = columnsOf(line);
    const packed = packLine(line, cols);
    expect(unpackLine(packed, cols)).toBe(line);
  });

  it("the stored format is frozen: a known line packs to the same text as when rows were first written", () => {
    // Rows already stored are unpacked with these tables: changing a token or a marker would silently corrupt
    // them. A new format needs a new leading flag (like VERBATIM), never an edit of this one.
    const line =
      '{"timestamp":"2026-11-24T06:54:18Z","event":"role_start","loop_id":"demo-loop","run_id":"2026-11-24T06:54:18Z","iteration":1,"role":"planner","data":{"prompt_file":"/home/sprite/repo/.superloop/loops/demo-loop/prompts/planner.md","duration_ms":5,"status":"skipped","enabled":"false"}}';
    const cols = columnsOf(line);
    expect(packLine(line, cols)).toBe('\b\u0002\u000b\u0001\f"demo-loop"\u000e\u0002\u0006\u0010\u0004\u0011\u0013\u0007demo-loop/prompts/planner.md",\u00165,\u0019\u001a,\u001b\u001c}}');
    expect(unpackLine('\b\u0002\u000b\u0001\f"demo-loop"\u000e\u0002\u0006\u0010\u0004\u0011\u0013\u0007demo-loop/prompts/planner.md",\u00165,\u0019\u001a,\u001b\u001c}}', cols)).toBe(line);
  });

  it("stores a line holding a marker character verbatim (never valid JSON, but never corrupted either)", () => {
    const line = '{"timestamp":"2026-11-24T00:00:00Z","event":"e\u0001"}';
    const cols = columnsOf('{"timestamp":"2026-11-24T00:00:00Z","event":"e"}');
    const packed = packLine(line, cols);
    expect(packed).toBe(VERBATIM + line);
    expect(unpackLine(packed, cols)).toBe(line);
  });

  it("stores a long line verbatim (PostgreSQL compresses it; scanning it for tokens would only cost time)", () => {
    const line = JSON.stringify({ timestamp: "2026-11-24T00:00:00Z", event: "e", data: { blob: "x".repeat(MAX_PACKED_LENGTH) } });
    const cols = columnsOf(line);
    expect(packLine(line, cols)).toBe(VERBATIM + line);
    expect(unpackLine(packLine(line, cols), cols)).toBe(line);
  });

  it("a verbatim row (migrated from jsonb) unpacks to its text whatever the columns say", () => {
    const cols = columnsOf('{"timestamp":"2026-11-24T00:00:00Z","event":"e"}');
    expect(unpackLine(`${VERBATIM}{"event": "e", "timestamp": "2026-11-24T00:00:00Z"}`, cols)).toBe('{"event": "e", "timestamp": "2026-11-24T00:00:00Z"}');
  });

  it("every recorded runtime line round-trips, and packs to under half its size", () => {
    const lines = recordedLines();
    expect(lines.length).toBeGreaterThan(200);
    let bytes = 0;
    let packedBytes = 0;
    for (const line of lines) {
      const cols = columnsOf(line);
      const packed = packLine(line, cols);
      expect(unpackLine(packed, cols)).toBe(line);
      bytes += Buffer.byteLength(line);
      packedBytes += Buffer.byteLength(packed);
    }
    expect(packedBytes / bytes).toBeLessThan(0.5);
  });

  it("rawObject, payloadOf and originalJsonl read the stored form", () => {
    const line = '{"timestamp":"2026-11-24T00:00:00Z","event":"e","data":{"z":1,"a":2}}';
    const row = { ...columnsOf(line), packed: packLine(line, columnsOf(line)) };
    expect(Object.keys(rawObject(row))).toEqual(["timestamp", "event", "data"]);
    expect(payloadOf(row)).toEqual({ z: 1, a: 2 });
    expect(
      payloadOf({
        ...columnsOf('{"timestamp":"2026-11-24T00:00:00Z","event":"e","data":[1]}'),
        packed: packLine('{"timestamp":"2026-11-24T00:00:00Z","event":"e","data":[1]}', columnsOf('{"timestamp":"2026-11-24T00:00:00Z","event":"e","data":[1]}')),
      }),
    ).toBeNull();
    expect(originalJsonl([row, row])).toBe(`${line}\n${line}\n`);
  });
});
