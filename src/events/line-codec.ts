// How an event's original events.jsonl line is stored: once, byte-exact, without repeating what the row's own
// columns already hold. Superloop writes every line as `{"timestamp":…,"event":…,"loop_id":…,"run_id":…,
// "iteration":…,"role":…,"data":{…}}`: the timestamp, name, run id, iteration and role are columns of the row,
// and the keys are the same on every line. Packing replaces each of those substrings with one control character
// (a byte valid JSON text never contains unescaped), so the stored text is the line minus its redundancy and
// unpacking with the same columns gives the line back exactly. Pure: no I/O, table-tested in
// test/events/line-codec.test.ts.
// The tables below are a stored format: rows written with them are read back with them. Never edit a token or a
// marker; a new format gets its own leading flag, like VERBATIM (the freeze test fails on any change).

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
    const iso = c.timestamp.toISOString();
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

/** Where tokens were found in the line being packed (parallel arrays, reused: packing is synchronous). */
const found = { starts: [] as number[], ends: [] as number[], codes: [] as number[] };
/** Occurrences of static tokens in the line being packed, in position order (reused likewise). */
const occurrences = { tokens: [] as number[], positions: [] as number[] };

/** Takes the token at [at, end) unless it overlaps one taken before. */
function takeAt(at: number, end: number, code: number): void {
  const { starts, ends, codes } = found;
  for (let i = 0; i < starts.length; i++) if (at < ends[i] && starts[i] < end) return;
  starts.push(at);
  ends.push(end);
  codes.push(code);
}

/** Records every occurrence of `text` in `line` that overlaps no token taken before. */
function take(line: string, code: number, text: string): void {
  if (text.length < 2) return;
  for (let at = line.indexOf(text); at !== -1; at = line.indexOf(text, at + 1)) takeAt(at, at + text.length, code);
}

/** Every occurrence of every static token in `line` (overlapping ones included), each token's in line order. */
function findStatic(line: string): void {
  const { tokens, positions } = occurrences;
  tokens.length = positions.length = 0;
  const last = line.length - 1;
  for (let f = 0; f < STATIC_FIRST_CHARS.length; f++) {
    for (let i = line.indexOf(STATIC_FIRST_CHARS[f]); i !== -1 && i < last; i = line.indexOf(STATIC_FIRST_CHARS[f], i + 1)) {
      const c = line.charCodeAt(i + 1);
      const group = c < 128 ? PREFIX_GROUP[f * 128 + c] : -1;
      if (group === -1) continue;
      const list = PREFIX_TOKENS[group];
      for (let k = 0; k < list.length; k++) {
        if (line.startsWith(STATIC_TOKENS[list[k]], i)) {
          tokens.push(list[k]);
          positions.push(i);
        }
      }
    }
  }
}

/** The stored form of `line` (the line's text without its newline). `unpackLine(packLine(l, c), c) === l`. */
export function packLine(line: string, columns: LineColumns): string {
  // A long line gains little from a few dozen bytes (PostgreSQL compresses values over ~2 KB itself), and
  // scanning it for every token would cost milliseconds per line.
  if (line.length > MAX_PACKED_LENGTH || CONTROL.test(line)) return VERBATIM + line;
  // Every occurrence of every token, the row's own values first (a value may contain a static token, not the
  // other way round), then the static tokens in table order, each occurrence in line order, skipping any that
  // overlaps one already taken; then the line is assembled once.
  const { starts, ends, codes } = found;
  starts.length = ends.length = codes.length = 0;
  const dynamic = dynamicTokens(columns);
  for (let code = NAME; code <= ITERATION; code++) take(line, code, dynamic[code]);
  findStatic(line);
  const { tokens, positions } = occurrences;
  for (let t = 0; t < STATIC_TOKENS.length; t++) {
    for (let k = 0; k < tokens.length; k++) if (tokens[k] === t) takeAt(positions[k], positions[k] + STATIC_TOKENS[t].length, STATIC_CODES[t]);
  }
  const n = starts.length;
  if (n === 0) return line;
  // Insertion sort by start: a line has a few dozen tokens at most.
  const order: number[] = [0];
  for (let i = 1; i < n; i++) {
    let j = i;
    while (j > 0 && starts[order[j - 1]] > starts[i]) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
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
