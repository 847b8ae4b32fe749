import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { gql } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { spawnManager } from "../support/manager-process";
import { waitFor } from "../support/runs";

// `npm start -- --demo` as a real process: it prints where the dashboard is, serves it, registers the demo
// fleet, and on SIGTERM stops the simulator processes it started (the stuck one would live forever).

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("--demo in a real manager process", () => {
  it("serves the dashboard and the demo fleet; SIGTERM stops the simulators", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "ops-demo-proc-"));
    const m = await spawnManager({ DATABASE_URL: await createTestDatabase(), OPS_DATA_DIR: dataDir, HOST: "127.0.0.1" }, ["--demo"]);
    try {
      const base = m.url.replace(/\/graphql$/, "/");
      expect(m.output()).toContain(`Dashboard: ${base}`);
      expect(m.output()).toMatch(/Demo fleet: 6 sprites under .*demo/);
      const page = await fetch(base);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      const r = await gql<{ sprites: { edges: unknown[] } }>(m.url, "{ sprites(first: 50) { edges { node { name } } } }");
      expect(r.data!.sprites.edges).toHaveLength(6);

      const activeRun = path.join(dataDir, "demo", "demo-stuck", ".superloop", "active-run.json");
      const pid = await waitFor(
        async () => (existsSync(activeRun) ? (JSON.parse(readFileSync(activeRun, "utf8")) as { pid: number }).pid : 0),
        (p) => p > 0,
        10_000,
        "the stuck simulator",
      );
      expect(alive(pid)).toBe(true);
      m.child.kill("SIGTERM");
      expect(await m.exited).toBe(0);
      await waitFor(
        async () => alive(pid),
        (a) => !a,
        5000,
        "the stuck simulator to be stopped",
      );
    } finally {
      if (m.child.exitCode === null) m.child.kill("SIGKILL");
    }
  }, 90_000);
});
