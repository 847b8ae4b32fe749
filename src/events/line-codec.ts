// How an event's original events.jsonl line is stored: once, byte-exact, without repeating what the row's own
// columns already hold. Superloop writes every line as `{"timestamp":…,"event":…,"loop_id":…,"run_id":…,
// "iteration":…,"role":…,"data":{…}}`: the timestamp, name, run id, iteration and role are columns of the row,
// and the keys are the same on every line. Packing replaces each of those substrings with one control character
// (a byte valid JSON text never contains unescaped), so the stored text is the line minus its redundancy and
// unpacking with the same columns gives the line back exactly. Pure: no I/O, table-tested in
// test/events/line-codec.test.ts. Docs: docs/event-storage.md.

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
]

/**
 * One control character per token: U+0001–U+0008, U+000B, U+000C, U+000E–U+001E. Tab, newline and carriage
 * return are left out (JSON allows them as whitespace), and U+001F is VERBATIM.
 */
const MARKERS: readonly string[] = [
  ...[1, 2, 3, 4, 5, 6, 7, 8, 0x0b, 0x0c].map((c) => String.fromCharCode(c)),
  ...Array.from({ length: 0x1e - 0x0e + 1 }, (_, i) => String.fromCharCode(0x0e + i)),
];
/** Any character a marker could be confused with: a line holding one (never valid JSON) is stored verbatim. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/** The timestamp as the runtime writes it: ISO-8601 UTC, with milliseconds only when they are not zero. */
function timestampTexts(at: Date): string[] {
  if (Number.isNaN(at.getTime())) return [];
  const iso = at.toISOString();
  return at.getUTCMilliseconds() === 0 ? [JSON.stringify(iso.replace(".000Z", "Z")), JSON.stringify(iso)] : [JSON.stringify(iso)];
}

/** Tokens of one row: its column values as JSON text first (longest match), then the static ones. */
function tokensOf(c: LineColumns): string[] {
  const dynamic = [JSON.stringify(c.name), ...timestampTexts(c.timestamp)];
  if (c.role !== null) dynamic.push(JSON.stringify(c.role));
  if (c.runtimeRunId !== null) dynamic.push(JSON.stringify(c.runtimeRunId));
  if (c.iteration !== null) dynamic.push(`,"iteration":${c.iteration}`);
  // Dynamic ones may repeat a static one (a role named "status"): the first wins; duplicates would break the
  // marker ↔ token mapping, so they are dropped here.
  const out: string[] = [];
  for (const t of [...dynamic, ...STATIC_TOKENS]) if (t.length > 1 && !out.includes(t)) out.push(t);
  return out.slice(0, MARKERS.length);
}

/** The stored form of `line` (the line's text without its newline). `unpackLine(packLine(l, c), c) === l`. */
export function packLine(line: string, columns: LineColumns): string {
  if (CONTROL.test(line)) return VERBATIM + line;
  const tokens = tokensOf(columns);
  let packed = line;
  for (let i = 0; i < tokens.length; i++) {
    if (packed.includes(tokens[i]!)) packed = packed.split(tokens[i]!).join(MARKERS[i]!);
  }
  // Each replacement is undone in reverse order, so this holds by construction; it is checked anyway because a
  // wrong packed line would be a silently corrupted original, and the check costs less than the insert.
  return unpack(packed, tokens) === line ? packed : VERBATIM + line;
}

function unpack(packed: string, tokens: readonly string[]): string {
  let line = packed;
  for (let i = tokens.length - 1; i >= 0; i--) {
    if (line.includes(MARKERS[i]!)) line = line.split(MARKERS[i]!).join(tokens[i]!);
  }
  return line;
}

/** The original line from its stored form and the same row's columns. */
export function unpackLine(packed: string, columns: LineColumns): string {
  if (packed.startsWith(VERBATIM)) return packed.slice(1);
  return unpack(packed, tokensOf(columns));
}
