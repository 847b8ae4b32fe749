import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { startControlServer } from "../control/helpers";
import { setPolicy, STALE_RULE, ticks } from "./helpers";

// With no rule that can propose (the default), an evaluation must not read the fleet: it used to load every
// run and replay every changed run's new events every tick, whatever the fleet's size, for nothing.

let server: RunningServer;
beforeAll(async () => {
  server = await startControlServer({ OPS_POLICY_TICK_MS: "3600000" });
});
afterAll(async () => {
  await server?.close();
});

/** The SQL the engine's evaluations send while `f` runs. */
async function queriesDuring(f: () => Promise<void>): Promise<string[]> {
  const pool = server.app.pool;
  const seen: string[] = [];
  const original = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  const spy = (...args: unknown[]) => {
    const q = args[0];
    seen.push(typeof q === "string" ? q : q && typeof q === "object" && "text" in q ? String(q.text) : "");
    return original(...args);
  };
  Object.assign(pool, { query: spy });
  try {
    await f();
  } finally {
    Object.assign(pool, { query: original });
  }
  return seen;
}

const readsFleet = (sql: string[]) => sql.filter((q) => /FROM "Run" r JOIN "Sprite"|FROM "Event"/.test(q));

describe("policy engine with nothing to watch", () => {
  it("reads no runs and replays no events; with a rule it does", async () => {
    expect(readsFleet(await queriesDuring(() => ticks(server, 3)))).toEqual([]);
    await setPolicy(server, { mode: "advisory", rules: [STALE_RULE] });
    expect(readsFleet(await queriesDuring(() => ticks(server, 3))).length).toBeGreaterThan(0);
    await setPolicy(server, { mode: "advisory", rules: [{ ...STALE_RULE, mode: "off" }] });
    expect(readsFleet(await queriesDuring(() => ticks(server, 3)))).toEqual([]);
  });
});
