// The packer as first written (commit 372 bytes/event), kept verbatim as the reference the faster packer in
// src/events/line-codec.ts must agree with on every line (test/events/line-codec-equivalence.test.ts). Test-only.
/** The row columns a packed line refers to; unpacking needs exactly the values packing saw. */
interface LineColumns {
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
const VERBATIM = "\u001f";

/** Lines longer than this (UTF-16 units) are stored verbatim. */
const MAX_PACKED_LENGTH = 4096;

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
// eslint-disable-next-line no-control-regex -- the marker characters are control characters by design
const MARKER_PATTERN = /[\u0001-\u0008\u000b\u000c\u000e-\u001e]/g;
/** Any character a marker could be confused with: a line holding one (never valid JSON) is stored verbatim. */
// eslint-disable-next-line no-control-regex -- the control characters CONTROL names are the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/** What each marker stands for, static part (the row's values are filled in per row by tableOf). */
const STATIC_TABLE: readonly string[] = (() => {
  const table = new Array<string>(0x1f).fill("");
  STATIC_TOKENS.forEach((t, i) => (table[STATIC_CODES[i]] = t));
  return table;
})();

/** What each marker stands for in one row: the static tokens, then the row's values. */
function tableOf(dynamic: readonly string[]): string[] {
  const table = STATIC_TABLE.slice();
  for (let code = NAME; code <= ITERATION; code++) table[code] = dynamic[code]!;
  return table;
}

/**
 * The row's values as they appear in its line, indexed by marker code ("" = none): JSON strings, the timestamp
 * as the runtime writes it (whole seconds without milliseconds; other writers keep ".000").
 */
function dynamicTokens(c: LineColumns): string[] {
  const out = ["", JSON.stringify(c.name), "", "", "", "", ""];
  const ms = c.timestamp.getTime();
  if (!Number.isNaN(ms)) {
    const iso = c.timestamp.toISOString();
    if (ms % 1000 === 0) out[TIME_SHORT] = `"${iso.slice(0, 19)}Z"`;
    out[TIME_MS] = `"${iso}"`;
  }
  if (c.role !== null) out[ROLE] = JSON.stringify(c.role);
  if (c.runtimeRunId !== null) out[RUN_ID] = JSON.stringify(c.runtimeRunId);
  if (c.iteration !== null) out[ITERATION] = `,"iteration":${c.iteration}`;
  return out;
}

/** Where tokens were found in the line being packed (parallel arrays, reused: packing is synchronous). */
const found = { starts: [] as number[], ends: [] as number[], codes: [] as number[] };

/** Records every occurrence of `text` in `line` that overlaps no token taken before. */
function take(line: string, code: number, text: string): void {
  if (text.length < 2) return;
  const { starts, ends, codes } = found;
  for (let at = line.indexOf(text); at !== -1; at = line.indexOf(text, at + 1)) {
    const end = at + text.length;
    let free = true;
    for (let i = 0; i < starts.length && free; i++) free = at >= ends[i] || starts[i] >= end;
    if (free) {
      starts.push(at);
      ends.push(end);
      codes.push(code);
    }
  }
}

/** The stored form of `line` (the line's text without its newline). `unpackLine(packLine(l, c), c) === l`. */
export function referencePackLine(line: string, columns: LineColumns): string {
  // A long line gains little from a few dozen bytes (PostgreSQL compresses values over ~2 KB itself), and
  // scanning it for every token would cost milliseconds per line.
  if (line.length > MAX_PACKED_LENGTH || CONTROL.test(line)) return VERBATIM + line;
  // Every occurrence of every token, the row's own values first (a value may contain a static token, not the
  // other way round), skipping any that overlaps one already taken; then the line is assembled once.
  const { starts, ends, codes } = found;
  starts.length = ends.length = codes.length = 0;
  const dynamic = dynamicTokens(columns);
  for (let code = NAME; code <= ITERATION; code++) take(line, code, dynamic[code]);
  for (let i = 0; i < STATIC_TOKENS.length; i++) take(line, STATIC_CODES[i], STATIC_TOKENS[i]);
  if (starts.length === 0) return line;
  const order = starts.map((_, i) => i).sort((x, y) => starts[x] - starts[y]);
  let packed = "";
  let pos = 0;
  for (const i of order) {
    packed += line.slice(pos, starts[i]) + String.fromCharCode(codes[i]);
    pos = ends[i]!;
  }
  packed += line.slice(pos);
  // Markers never occur in a line (CONTROL), and each one stands for the text it replaced, so this holds by
  // construction; it is checked anyway because a wrong packed line would be a silently corrupted original.
  return unpack(packed, tableOf(dynamic)) === line ? packed : VERBATIM + line;
}

function unpack(packed: string, table: readonly string[]): string {
  return packed.replace(MARKER_PATTERN, (m) => table[m.charCodeAt(0)]);
}

export function referenceUnpackLine(packed: string, columns: LineColumns): string {
  if (packed.startsWith(VERBATIM)) return packed.slice(1);
  return unpack(packed, tableOf(dynamicTokens(columns)));
}
