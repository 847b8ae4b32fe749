import { describe, expect, it } from "vitest";
import { MARKER_PATTERN, packLine, unpackLine } from "../../src/events/line-codec";
import { MAX_EVENT_DEPTH, storable, unstorable } from "../../src/ingest/rows";
import { realisticLine } from "../../bench/support";
import { mulberry32 } from "../support/random";
import { referencePackLine, referenceUnpackLine } from "./line-codec-reference";
import { columnsOf, recordedLines } from "./line-fixtures";

// The ingest's fast paths must decide exactly what the plain versions decide: the packer (one pass over the
// line for the static tokens) packs every line to the same text as the reference packer, and the allocation-
// free storability check accepts exactly the values the path-naming check accepts. Seeded: a failure replays.

/** Pieces that make tokens overlap, repeat, nest in values or almost match. */
const PIECES = [
  "/home/sprite/repo/.superloop/loops/",
  ".superloop/loops/",
  "/home/sprite/repo/",
  '"status":',
  '"status"',
  '"skipped"',
  '"false"',
  '"enabled":',
  ',"data":{',
  ',"iteration":',
  ',"iteration":1',
  ',"role":',
  '"prompt_file":"',
  '"log_file":"',
  '"last_message_file":"',
  '"duration_ms":',
  '"started_at":',
  '"generated_at":',
  "planner",
  "x",
  '"',
  ",",
  "{",
  "/",
  ".",
  "é",
  "😀",
];

function randomLine(rand: () => number): string {
  const pick = <T>(a: readonly T[]) => a[Math.floor(rand() * a.length)];
  const text = () => Array.from({ length: Math.floor(rand() * 6) }, () => pick(PIECES)).join("");
  const name = rand() < 0.3 ? pick(["status", "x", "role_start", '"skipped"', ".superloop/loops/"]) : `e${Math.floor(rand() * 5)}`;
  const role = rand() < 0.5 ? pick(["planner", "status", "x", "/home/sprite/repo/"]) : undefined;
  const seconds = Math.floor(rand() * 100_000);
  const ms = rand() < 0.3 ? Math.floor(rand() * 1000) : 0;
  const iso = new Date(Date.UTC(2026, 10, 24) + seconds * 1000 + ms).toISOString();
  const timestamp = rand() < 0.7 && ms === 0 ? iso.replace(".000", "") : iso;
  const data: Record<string, unknown> = {};
  for (let i = 0, n = Math.floor(rand() * 5); i < n; i++) data[rand() < 0.5 ? pick(["status", "enabled", "prompt_file", "log_file", "x"]) : text()] = rand() < 0.5 ? text() : Math.floor(rand() * 20);
  const o: Record<string, unknown> = { timestamp, event: name, loop_id: rand() < 0.8 ? "demo-loop" : text(), run_id: rand() < 0.8 ? "2026-11-24T06:54:18Z" : text() };
  if (rand() < 0.8) o["iteration"] = Math.floor(rand() * 15);
  if (role !== undefined) o["role"] = role;
  if (rand() < 0.3) o["status"] = pick(["skipped", "false", "status", text()]);
  if (rand() < 0.9) o["data"] = data;
  const keys = Object.keys(o);
  if (rand() < 0.2) keys.reverse();
  const json = `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(o[k])}`).join(rand() < 0.1 ? " , " : ",")}}`;
  return json;
}

describe("the packer agrees with the reference packer", () => {
  it("on every recorded runtime line and every bench line shape", () => {
    const lines = [...recordedLines(), ...Array.from({ length: 2000 }, (_, i) => realisticLine(i + 1, "2026-11-24T00:00:00Z"))];
    for (const line of lines) {
      const cols = columnsOf(line);
      expect(packLine(line, cols)).toBe(referencePackLine(line, cols));
    }
  });

  it("on 5,000 random lines built to make tokens overlap, repeat and hide in values (seeded)", () => {
    const rand = mulberry32(18);
    for (let i = 0; i < 5_000; i++) {
      const line = randomLine(rand);
      const cols = columnsOf(line);
      const packed = packLine(line, cols);
      expect(packed).toBe(referencePackLine(line, cols));
      expect(unpackLine(packed, cols)).toBe(line);
    }
  });

  it("unpacks every character, and random packed text, as the reference unpacker does", () => {
    const cols = columnsOf('{"timestamp":"2026-11-24T00:00:01.500Z","event":"e","role":"planner","iteration":3}');
    for (let c = 0; c < 0x80; c++) {
      const packed = `a${String.fromCharCode(c)}b`;
      expect(unpackLine(packed, cols)).toBe(referenceUnpackLine(packed, cols));
      expect(unpackLine(packed, cols) !== packed).toBe(MARKER_PATTERN.test(packed));
    }
    const rand = mulberry32(7);
    for (let i = 0; i < 2000; i++) {
      const packed = Array.from({ length: Math.floor(rand() * 30) }, () => String.fromCharCode(Math.floor(rand() * 0x40))).join("");
      if (packed.startsWith("\u001f")) continue;
      expect(unpackLine(packed, cols)).toBe(referenceUnpackLine(packed, cols));
    }
  });
});

describe("the storability fast path agrees with the path-naming check", () => {
  const values: [string, unknown][] = [
    ["plain object", { a: 1, b: "x", c: [1, "y", null, { d: true }] }],
    ["NUL in a string", { a: { b: "x\u0000y" } }],
    ["NUL in a key", { "k\u0000": 1 }],
    ["NUL deep in an array", [[["a", "\u0000"]]]],
    ["NUL as a top-level string", "\u0000"],
    ["null", null],
    ["number", 5],
  ];
  const nest = (depth: number, leaf: unknown): unknown => (depth === 0 ? leaf : depth % 2 ? { k: nest(depth - 1, leaf) } : [nest(depth - 1, leaf)]);
  for (const d of [MAX_EVENT_DEPTH - 2, MAX_EVENT_DEPTH - 1, MAX_EVENT_DEPTH, MAX_EVENT_DEPTH + 1, MAX_EVENT_DEPTH + 5]) {
    values.push([`nesting ${d} around a string`, nest(d, "s")]);
    values.push([`nesting ${d} around an empty object`, nest(d, {})]);
    values.push([`nesting ${d} around a NUL`, nest(d, "\u0000")]);
  }
  it.each(values)("%s", (_label, value) => {
    expect(storable(value, 0)).toBe(unstorable(value) === null);
  });

  it("on 2,000 random JSON values (seeded)", () => {
    const rand = mulberry32(1818);
    const gen = (depth: number): unknown => {
      const r = rand();
      if (depth > 70 || r < 0.25) return rand() < 0.05 ? "a\u0000" : rand() < 0.5 ? "text" : Math.floor(rand() * 9);
      if (r < 0.3) return null;
      if (r < 0.65) return Array.from({ length: 1 + Math.floor(rand() * 2) }, () => gen(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = 0, n = 1 + Math.floor(rand() * 2); i < n; i++) o[rand() < 0.02 ? "k\u0000" : `k${i}`] = gen(depth + 1);
      return o;
    };
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      const value = JSON.parse(JSON.stringify(gen(rand() < 0.3 ? 55 : 0))) as unknown;
      const ok = storable(value, 0);
      expect(ok).toBe(unstorable(value) === null);
      if (!ok) rejected++;
    }
    // Both outcomes are exercised.
    expect(rejected).toBeGreaterThan(40);
    expect(rejected).toBeLessThan(1960);
  });
});
