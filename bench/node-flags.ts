import { readFileSync } from "node:fs";
import path from "node:path";

// The node flags `npm start` runs the manager with (package.json), read from there so the fleet benches measure
// the manager as it runs, not a copy of its flags that could drift (bench:fleet, bench:query and bench:ingest name
// them in package.json; test/server/heap-flags.test.ts checks they match). They bound the idle manager's memory:
// --max-semi-space-size=4 keeps the young generation small (the garbage of hundreds of idle polls a second; 2 MB
// held bench:fleet's 1,000 runs ~15 MB lower but promoted enough of each query's garbage that the old generation's
// full GCs pushed bench:query's events-page p99 past 10 ms),
// --heap-growing-percent=75 lets the old generation grow to 1.75x the live heap before the next full GC instead of
// V8's up to 4x on a machine with a large heap limit. 75 rather than less: 50 saved ~5 MB more in bench:fleet but
// made a bulk ingest run 40 full GCs instead of 27-30 (README, Benchmarks, below the table).

const ROOT = path.resolve(import.meta.dirname, "..");

/** The flags given to node before the script in an npm script `[exec] node FLAGS... --import tsx FILE`. */
export function nodeFlagsOf(script: string): string[] {
  const words = script.trim().split(/\s+/);
  const node = words.indexOf("node");
  if (node < 0) throw new Error(`not a node command: ${script}`);
  const flags: string[] = [];
  for (const w of words.slice(node + 1)) {
    if (w === "--import" || !w.startsWith("--")) break;
    flags.push(w);
  }
  return flags;
}

/** The npm scripts of this package. */
export function npmScripts(): Record<string, string> {
  return (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
}

/** The node flags of `npm start`. */
export function startNodeFlags(): string[] {
  return nodeFlagsOf(npmScripts().start);
}
