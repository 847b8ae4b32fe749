// How an event's original events.jsonl line is stored: once, byte-exact, without repeating what the row's own
// columns already hold. Superloop writes every line as `{"timestamp":…,"event":…,"loop_id":…,"run_id":…,
// "iteration":…,"role":…,"data":{…}}`: the timestamp, name, run id, iteration and role are columns of the row,
// and the keys are the same on every line. Packing replaces each of those substrings with one control character
// (a byte valid JSON text never contains unescaped), so the stored text is the line minus its redundancy and
// unpacking with the same columns gives the line back exactly. Pure: no I/O, table-tested in
// test/events/line-codec.test.ts.
// The tables below are a stored format: rows written with them are read back with them. Never edit a token or a
// marker; a new format gets its own leading flag, like VERBATIM (the freeze test fails on any change).

import { isoTime } from "../util/iso-time";

/** The row columns a packed line refers to; unpacking needs exactly the values packing saw. */
export interface LineColumns {
  timestamp: Date;
  name: string;
  role: string | null;
  runtimeRunId: string | null;
  iteration: number | null;
}

/**
 * Marks a line stored as is (a line the codec does not apply to, or rows migrated from the jsonb column).
 * Chosen from the control characters, so it never starts a packed line: no token uses it.
 */
export const VERBATIM = "\u001f";

/** Lines longer than this (UTF-16 units) are stored verbatim. */
export const MAX_PACKED_LENGTH = 4096;

/** Substrings common to every Superloop line: the keys in the runtime's own order, and its usual paths. */
const STATIC_TOKENS: readonly string[] = [
  "/home/sprite/repo/.superloop/loops/",
  '{"timestamp":',
  ',"event":',
  ',"loop_id":',
  ',"run_id":',
  ',"iteration":',
  ',"role":',
  ',"data":{',
  '"last_message_file":"',
  '"prompt_file":"',
  '"log_file":"',
  ".superloop/loops/",
  '"duration_ms":',
  '"started_at":',
  '"generated_at":',
  '"status":',
  '"skipped"',
  '"enabled":',
  '"false"',
];

/**
 * Marker characters: U+0001–U+0006 for the row's own values (below), then one per static token from U+0007,
 * skipping tab, newline and carriage return (JSON allows them as whitespace); U+001F is VERBATIM.
 */
const NAME = 1;
const TIME_SHORT = 2;
const TIME_MS = 3;
const ROLE = 4;
const RUN_ID = 5;
const ITERATION = 6;
const STATIC_CODES = [7, 8, 0x0b, 0x0c, ...Array.from({ length: 0x1e - 0x0e + 1 }, (_, i) => 0x0e + i)];
if (STATIC_TOKENS.length > STATIC_CODES.length) throw new Error("line-codec: more static tokens than marker characters");
/** The marker characters (unpack tests them one by one, in the same set). */
// eslint-disable-next-line no-control-regex -- the marker characters are control characters by design
export const MARKER_PATTERN = /[\u0001-\u0008\u000b\u000c\u000e-\u001e]/;
/** Any character a marker could be confused with: a line holding one (never valid JSON) is stored verbatim. */
// eslint-disable-next-line no-control-regex -- the control characters CONTROL names are the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/** What each marker stands for, static part (the row's values come from dynamicTokens). */
const STATIC_TABLE: readonly string[] = (() => {
  const table = new Array<string>(0x1f).fill("");
  STATIC_TOKENS.forEach((t, i) => (table[STATIC_CODES[i]] = t));
  return table;
})();

/** JSON.stringify of the few names, roles and run ids a run's lines repeat, remembered (bounded). */
const QUOTED = new Map<string, string>();
function quoted(value: string): string {
  let q = QUOTED.get(value);
  if (q === undefined) {
    if (QUOTED.size >= 1024) QUOTED.clear();
    q = JSON.stringify(value);
    QUOTED.set(value, q);
  }
  return q;
}

/**
 * The row's values as they appear in its line, indexed by marker code ("" = none): JSON strings, the timestamp
 * as the runtime writes it (whole seconds without milliseconds; other writers keep ".000").
 */
function dynamicTokens(c: LineColumns): string[] {
  const out = ["", quoted(c.name), "", "", "", "", ""];
  const ms = c.timestamp.getTime();
  if (!Number.isNaN(ms)) {
    const iso = isoTime(ms);
    if (ms % 1000 === 0) out[TIME_SHORT] = `"${iso.slice(0, 19)}Z"`;
    out[TIME_MS] = `"${iso}"`;
  }
  if (c.role !== null) out[ROLE] = quoted(c.role);
  if (c.runtimeRunId !== null) out[RUN_ID] = quoted(c.runtimeRunId);
  if (c.iteration !== null) out[ITERATION] = `,"iteration":${c.iteration}`;
  return out;
}

/**
 * Static tokens grouped by their first character, then by their second (all are ASCII, at least 2 characters
 * long), each list in table order: a few indexOf jumps per line over the candidates' first characters find every
 * occurrence of every static token, instead of one scan of the line per token.
 */
const STATIC_FIRST_CHARS: string[] = [...new Set(STATIC_TOKENS.map((t) => t[0]))];
/** (first character's index in STATIC_FIRST_CHARS) * 128 + second character → index in PREFIX_TOKENS, or -1. */
const PREFIX_GROUP = new Int8Array(STATIC_FIRST_CHARS.length * 128).fill(-1);
const PREFIX_TOKENS: number[][] = [];
STATIC_TOKENS.forEach((t, i) => {
  const key = STATIC_FIRST_CHARS.indexOf(t[0]) * 128 + t.charCodeAt(1);
  if (PREFIX_GROUP[key] === -1) PREFIX_GROUP[key] = PREFIX_TOKENS.push([]) - 1;
  PREFIX_TOKENS[PREFIX_GROUP[key]].push(i);
});

/**
 * Token occurrences in the line being packed: start, end and marker code in parallel typed arrays with a count,
 * reused (packing is synchronous; resetting a count costs nothing, truncating an array is a runtime call).
 */
class Spans {
  count = 0;
  starts = new Int32Array(64);
  ends = new Int32Array(64);
  codes = new Uint8Array(64);
  push(start: number, end: number, code: number): void {
    if (this.count === this.starts.length) {
      const grow = <T extends Int32Array | Uint8Array>(a: T, b: T): T => (b.set(a), b);
      this.starts = grow(this.starts, new Int32Array(this.count * 2));
      this.ends = grow(this.ends, new Int32Array(this.count * 2));
      this.codes = grow(this.codes, new Uint8Array(this.count * 2));
    }
    this.starts[this.count] = start;
    this.ends[this.count] = end;
    this.codes[this.count++] = code;
  }
  overlaps(start: number, end: number, upTo = this.count): boolean {
    for (let i = 0; i < upTo; i++) if (start < this.ends[i] && this.starts[i] < end) return true;
    return false;
  }
}
/** The tokens the packed line replaces. */
const found = new Spans();
/** Every occurrence of a static token (code = its index in STATIC_TOKENS), overlapping ones included. */
const occurrences = new Spans();
/** `found`'s indexes in position order, for assembling the packed line (reused likewise). */
let order = new Int32Array(64);

/** Records every occurrence of `text` in `line` that overlaps no token taken before. */
function take(line: string, code: number, text: string): void {
  if (text.length < 2) return;
  for (let at = line.indexOf(text); at !== -1; at = line.indexOf(text, at + 1)) if (!found.overlaps(at, at + text.length)) found.push(at, at + text.length, code);
}

const QUOTE = 0x22;
const ITERATION_KEY = STATIC_TOKENS.indexOf(',"iteration":');
/** A character → its index in STATIC_FIRST_CHARS, or -1. */
const FIRST_GROUP = new Int8Array(128).fill(-1);
STATIC_FIRST_CHARS.forEach((c, f) => (FIRST_GROUP[c.charCodeAt(0)] = f));
/** The second character of each row value of the line being packed (-1: none, or shorter than two). */
const valueSecond = new Int32Array(ITERATION + 1);

/** Whether `token` occurs in `line` at `at`, its first two characters being known to match. */
function restMatches(line: string, at: number, token: string): boolean {
  if (at + token.length > line.length) return false;
  for (let j = 2; j < token.length; j++) if (line.charCodeAt(at + j) !== token.charCodeAt(j)) return false;
  return true;
}

/**
 * One walk over the line: every occurrence of every static token (into `occurrences`, each token's in line
 * order) and of every row value of at least two characters (into `found`). The row's values all start with `"`
 * but the iteration, which starts with the static `,"iteration":`, so the walk sees each of their occurrences
 * too. Characters compared one by one: V8 inlines charCodeAt, not indexOf or startsWith at a position.
 */
function scan(line: string, dynamic: readonly string[]): void {
  found.count = 0;
  occurrences.count = 0;
  for (let code = NAME; code < ITERATION; code++) valueSecond[code] = dynamic[code].length >= 2 ? dynamic[code].charCodeAt(1) : -1;
  const last = line.length - 1;
  for (let i = 0; i < last; i++) {
    const a = line.charCodeAt(i);
    const f = a < 128 ? FIRST_GROUP[a] : -1;
    if (f === -1) continue;
    const c = line.charCodeAt(i + 1);
    if (a === QUOTE) {
      for (let code = NAME; code < ITERATION; code++) {
        if (valueSecond[code] === c && restMatches(line, i, dynamic[code])) found.push(i, i + dynamic[code].length, code);
      }
    }
    const group = c < 128 ? PREFIX_GROUP[f * 128 + c] : -1;
    if (group === -1) continue;
    const list = PREFIX_TOKENS[group];
    for (let k = 0; k < list.length; k++) {
      const token = STATIC_TOKENS[list[k]];
      if (!restMatches(line, i, token)) continue;
      occurrences.push(i, i + token.length, list[k]);
      if (list[k] === ITERATION_KEY && dynamic[ITERATION] !== "" && line.startsWith(dynamic[ITERATION], i)) found.push(i, i + dynamic[ITERATION].length, ITERATION);
    }
  }
}

/** Sorts `order` (the first n indexes of `found`) by start: a line has a few dozen tokens at most. */
function sortByStart(n: number): void {
  const { starts } = found;
  if (order.length < n) order = new Int32Array(n * 2);
  for (let i = 0; i < n; i++) {
    let j = i;
    while (j > 0 && starts[order[j - 1]] > starts[i]) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
}

/**
 * The usual line: the scan's static occurrences, less those overlapping a row value, join the values in `found`.
 * True when nothing left overlaps: then every order of taking them takes them all, so `found` (sorted by
 * `order`) is exactly what resolveOverlaps would take. False when values overlap each other or static tokens
 * overlap each other: the rule must decide.
 */
function noOverlaps(): boolean {
  const values = found.count;
  for (let k = 0; k < occurrences.count; k++) {
    const at = occurrences.starts[k];
    const end = occurrences.ends[k];
    if (!found.overlaps(at, end, values)) found.push(at, end, STATIC_CODES[occurrences.codes[k]]);
  }
  const n = found.count;
  sortByStart(n);
  for (let k = 1; k < n; k++) if (found.starts[order[k]] < found.ends[order[k - 1]]) return false;
  return true;
}

/**
 * The rule when tokens overlap: the row's own values first (a value may contain a static token, not the other
 * way round), each in code order and each occurrence in line order, then the static tokens in table order,
 * skipping any occurrence that overlaps one already taken. Leaves `found` and `order` as taken.
 */
function resolveOverlaps(line: string, dynamic: readonly string[]): void {
  found.count = 0;
  for (let code = NAME; code <= ITERATION; code++) take(line, code, dynamic[code]);
  for (let t = 0; t < STATIC_TOKENS.length; t++) {
    for (let k = 0; k < occurrences.count; k++) {
      if (occurrences.codes[k] !== t) continue;
      const at = occurrences.starts[k];
      const end = occurrences.ends[k];
      if (!found.overlaps(at, end)) found.push(at, end, STATIC_CODES[t]);
    }
  }
  sortByStart(found.count);
}

/** The stored form of `line` (the line's text without its newline). `unpackLine(packLine(l, c), c) === l`. */
export function packLine(line: string, columns: LineColumns): string {
  // A long line gains little from a few dozen bytes (PostgreSQL compresses values over ~2 KB itself), and
  // scanning it for every token would cost milliseconds per line.
  if (line.length > MAX_PACKED_LENGTH || CONTROL.test(line)) return VERBATIM + line;
  const dynamic = dynamicTokens(columns);
  scan(line, dynamic);
  if (!noOverlaps()) resolveOverlaps(line, dynamic);
  const n = found.count;
  if (n === 0) return line;
  const { starts, ends, codes } = found;
  let packed = "";
  let pos = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    packed += line.slice(pos, starts[i]) + String.fromCharCode(codes[i]);
    pos = ends[i];
  }
  packed += line.slice(pos);
  // Markers never occur in a line (CONTROL), and each one stands for the text it replaced, so this holds by
  // construction; it is checked anyway because a wrong packed line would be a silently corrupted original.
  return unpack(packed, dynamic) === line ? packed : VERBATIM + line;
}

/** `packed` with each marker replaced by what it stands for: a static token or one of the row's `dynamic` values. */
function unpack(packed: string, dynamic: readonly string[]): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < packed.length; i++) {
    const c = packed.charCodeAt(i);
    // The markers: U+0001–U+001E but tab, newline and carriage return (MARKER_PATTERN).
    if (c > 0x1e || c === 0 || c === 9 || c === 10 || c === 13) continue;
    out += packed.slice(from, i) + (c <= ITERATION ? dynamic[c] : STATIC_TABLE[c]);
    from = i + 1;
  }
  return from === 0 ? packed : out + packed.slice(from);
}

/** The original line from its stored form and the same row's columns. */
export function unpackLine(packed: string, columns: LineColumns): string {
  if (packed.startsWith(VERBATIM)) return packed.slice(1);
  return unpack(packed, dynamicTokens(columns));
}
