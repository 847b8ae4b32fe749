import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { nodeFlagsOf, npmScripts, startNodeFlags } from "../../bench/node-flags";

// An idle manager's memory (bench:fleet: 1,000 runs under 250 MB RSS) rests on two node flags of `npm start`.
// Without --heap-growing-percent, V8 lets the old generation grow to about 4x the live heap after each full GC
// on a machine with a large heap limit: the first ingest of 1,000 histories (~1.8 GB allocated, ~250 MB of it
// outliving a 2 MB young generation) left ~180 MB of old generation around a ~45 MB live heap, and the idle
// polls afterwards allocate too steadily for V8's memory reducer to give it back for minutes.
// This guard is not timed: it measures how far the old generation grows around a known live set, with the
// flags read from package.json, so a flag dropped or renamed (node refuses an unknown V8 flag) fails here.

// A 56 MB live set, then garbage that outlives a few young collections (a ring of ~10 MB of small objects, as a
// poll's rows and query results outlive the awaits of a poll) until 160 MB of it went through the heap.
const CHURN = `
const v8 = require("node:v8");
const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space");
const live = [];
for (let i = 0; i < 40000; i++) live.push(new Array(120).fill(i));
const ring = new Array(40000).fill(null);
let peak = 0;
for (let r = 0; r < 4000; r++) {
  for (let k = 0; k < 200; k++) ring[(r * 200 + k) % ring.length] = { n: new Array(40).fill(r), k };
  peak = Math.max(peak, oldSpace().space_size);
}
globalThis.gc();
console.log(JSON.stringify({ peakOldMB: peak / 1048576, liveMB: oldSpace().space_used_size / 1048576, kept: live.length + ring.length }));
`;

describe("the manager's heap flags (package.json start)", () => {
  it("bound the young generation and the old generation's growth; bench:fleet, bench:query and bench:ingest run with the same flags", () => {
    const flags = startNodeFlags();
    expect(flags).toContain("--max-semi-space-size=4");
    expect(flags).toContain("--heap-growing-percent=75");
    expect(nodeFlagsOf(npmScripts()["bench:fleet"])).toEqual(flags);
    expect(nodeFlagsOf(npmScripts()["bench:query"])).toEqual(flags);
    // bench:ingest also calls gc() once, before it samples the ingest's peak RSS.
    expect(nodeFlagsOf(npmScripts()["bench:ingest"])).toEqual([...flags, "--expose-gc"]);
  });

  // Idle, the flags give 2.2-2.6x and V8's default 4.3-5.6x. Under CI's load (its test files in parallel) one run
  // reached 3.1x, another 3.6x: concurrent marking lags on busy cores, and the old generation grows meanwhile.
  // The bound is the flag's, not one run's scheduling: it holds if one of up to three runs stays under it; without
  // the flag none comes near it.
  it("keep the old generation under 3.5x the live heap while promoted garbage churns through it (V8's default: 4.3x and more)", () => {
    const ratios: number[] = [];
    for (let attempt = 0; attempt < 3 && !ratios.some((x) => x < 3.5); attempt++) {
      const r = spawnSync(process.execPath, [...startNodeFlags(), "--expose-gc", "-e", CHURN], { encoding: "utf8", timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const { peakOldMB, liveMB } = JSON.parse(r.stdout) as { peakOldMB: number; liveMB: number };
      expect(liveMB).toBeGreaterThan(40);
      ratios.push(peakOldMB / liveMB);
    }
    expect(Math.min(...ratios), `old generation / live heap: ${ratios.map((x) => x.toFixed(2)).join(", ")}`).toBeLessThan(3.5);
  });
});
