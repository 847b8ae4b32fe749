/**
 * The distinct strings of a message to or from the packing thread, each sent once: a value becomes its index in
 * `strings` (-1 for null). A message is copied string by string, and a page's names, roles and run ids repeat.
 */
export function stringTable(): { strings: string[]; ref: (v: string | null) => number } {
  const strings: string[] = [];
  const seen = new Map<string, number>();
  const ref = (v: string | null): number => {
    if (v === null) return -1;
    let i = seen.get(v);
    if (i === undefined) seen.set(v, (i = strings.push(v) - 1));
    return i;
  };
  return { strings, ref };
}
