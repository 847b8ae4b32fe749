// Text a peer controls (an agent's answer, a line of a runtime file) that ends up in an error message an
// operator or a viewer reads: quoted, bounded and with every character that could change how the message is
// displayed escaped (control characters, line breaks, bidirectional overrides), so the peer can neither flood
// the field nor forge lines or hide text in it.

/** Characters shown as \uXXXX: C0/C1 controls, DEL, line/paragraph separators, bidi embeddings and isolates. */
// eslint-disable-next-line no-control-regex -- the characters to escape are control characters
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

export const PEER_TEXT_MAX = 64;

/**
 * `value` as a quoted, escaped string of at most `max` characters (code points) of the original, with the
 * original's length when it was cut. Non-strings are named by their type, never serialized.
 */
export function peerText(value: unknown, max = PEER_TEXT_MAX): string {
  if (typeof value !== "string") return value === undefined ? "(missing)" : value === null ? "null" : `(a ${Array.isArray(value) ? "array" : typeof value})`;
  const chars = Array.from(value);
  const shown = chars.slice(0, max).join("");
  const escaped = shown.replace(/["\\]/g, (c) => `\\${c}`).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return chars.length > max ? `"${escaped}"… (${chars.length} characters)` : `"${escaped}"`;
}
