import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gql } from "../support/clients";
import { alive, connectAs, demoSimulatorPids, embeddedDirs, expectCleanOutput, groupAlive, postmaster, until } from "../support/embedded-dirs";
import { eventsPath } from "../support/fixtures";
import { spawnManager, type ManagerProcess } from "../support/manager-process";

// Ctrl-C in a terminal is SIGINT to the whole foreground process group. The manager runs here as the leader of
// its own group (like a terminal job) with its embedded PostgreSQL; the group gets SIGINT while idle, while
// ingesting and through `npm start`. Each time: exit 0, no stack trace, no PostgreSQL and no simulator left, and
// a restart finds every stored event exactly once.

const ROOT = path.resolve(import.meta.dirname, "../..");
const dirs: ReturnType<typeof embeddedDirs>[] = [];
const running: ManagerProcess[] = [];
afterAll(() => {
  for (const m of running) if (m.child.pid && groupAlive(m.child.pid)) process.kill(-m.child.pid, "SIGKILL");
  for (const d of dirs) d.cleanup();
});

async function start(env: Record<string, string>, args: string[] = [], command?: string[]): Promise<ManagerProcess> {
  const m = await spawnManager(env, args, 120_000, { detached: true, ...(command ? { command } : {}) });
  running.push(m);
  return m;
}

/** SIGINT to the group, as a terminal's Ctrl-C; then everything it started must be gone. */
async function interruptGroup(m: ManagerProcess, dataDir: string, extraPids: number[] = []): Promise<void> {
  const pm = postmaster(dataDir);
  expect(pm && alive(pm.pid)).toBe(true);
  process.kill(-m.child.pid!, "SIGINT");
  expect(await m.exited).toBe(0);
  expect(m.output()).toMatch(/received SIGINT, shutting down/);
  expectCleanOutput(m.output());
  await until("the postmaster to be gone", () => !alive(pm!.pid), 10_000);
  expect(postmaster(dataDir)).toBeNull(); // a clean stop removes postmaster.pid
  await until("every simulator to be gone", () => extraPids.every((p) => !alive(p)), 10_000);
  // A child of the manager (tsx's esbuild service, a thread's one included) sees its pipe close as the manager
  // exits, and on a loaded machine that takes a moment: nothing may be left once it has.
  await until("the process group to be gone", () => !groupAlive(m.child.pid!), 10_000).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; left: ${groupMembers(m.child.pid!)}`);
  });
}

/** The processes still in process group `pgid`, for the failure message. */
function groupMembers(pgid: number): string {
  const ps = spawnSync("ps", ["-eo", "pid=,pgid=,args="], { encoding: "utf8" }).stdout;
  return ps
    .split("\n")
    .filter((l) => l.trim().split(/\s+/)[1] === String(pgid))
    .join(" | ");
}

/** Per run: stored events, distinct lines, and the lines of its events.jsonl. */
async function storedVsFile(dataDir: string): Promise<{ repo: string; stored: number; distinct: number; lines: number }[]> {
  const db = await connectAs(dataDir);
  try {
    const r = await db.query<{ repoPath: string; loopId: string; n: string; d: string }>(
      `SELECT r."repoPath", r."loopId", count(e.id) n, count(DISTINCT e.line) d FROM "Run" r LEFT JOIN "Event" e ON e."runId" = r.id GROUP BY r.id`,
    );
    return r.rows.map((row) => {
      let lines = 0;
      try {
        lines = readFileSync(eventsPath(row.repoPath, row.loopId), "utf8").split("\n").filter(Boolean).length;
      } catch {
        /* no events yet */
      }
      return { repo: row.repoPath, stored: Number(row.n), distinct: Number(row.d), lines };
    });
  } finally {
    await db.end();
  }
}

const allStored = (rows: { stored: number; distinct: number; lines: number }[]) => rows.length > 0 && rows.every((r) => r.stored === r.lines && r.distinct === r.lines);

describe("clean stop on the terminal's signals (embedded PostgreSQL)", () => {
  it("SIGINT to the process group while idle with the demo fleet: exit 0, nothing left, data intact; --demo=off removes it", { timeout: 180_000 }, async () => {
    const d = embeddedDirs("ops-sig-idle");
    dirs.push(d);
    const first = await start(d.env, ["--demo"]);
    // The long stories (busy, stuck) keep simulators running: they must die with the manager.
    await until("demo simulators to run", () => demoSimulatorPids(d.dataDir).length >= 2, 30_000);
    const sims = demoSimulatorPids(d.dataDir);
    await interruptGroup(first, d.dataDir, sims);

    const second = await start(d.env);
    const sprites = await gql<{ sprites: { edges: { node: { name: string; demo: boolean } }[] } }>(second.url, `{ sprites(first: 50) { edges { node { name demo } } } }`);
    expect(sprites.data!.sprites.edges).toHaveLength(6);
    expect(sprites.data!.sprites.edges.every((e) => e.node.demo)).toBe(true);
    // Whatever the simulators wrote before they were stopped is stored exactly once.
    let rows: Awaited<ReturnType<typeof storedVsFile>> = [];
    await until("every demo event stored once", async () => allStored((rows = await storedVsFile(d.dataDir))), 30_000).catch(() => {
      throw new Error(`stored vs file: ${JSON.stringify(rows)}`);
    });
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expectCleanOutput(second.output());

    const third = await start(d.env, ["--demo=off"]);
    const after = await gql<{ sprites: { edges: unknown[] } }>(third.url, `{ sprites(first: 50, includeRemoved: true) { edges { node { name } } } }`);
    expect(after.data!.sprites.edges).toEqual([]);
    await interruptGroup(third, d.dataDir);
  });

  it("SIGINT to the process group in the middle of ingesting a backlog: exit 0, then every line stored exactly once", { timeout: 180_000 }, async () => {
    const d = embeddedDirs("ops-sig-ingest");
    dirs.push(d);
    const repo = mkdtempSync(path.join(tmpdir(), "ops-sig-repo-"));
    mkdirSync(path.join(repo, ".superloop", "loops", "demo-loop"), { recursive: true });
    const TOTAL = 40_000;
    const lines: string[] = [];
    for (let i = 1; i <= TOTAL; i++) {
      lines.push(
        JSON.stringify({
          timestamp: new Date(Date.UTC(2026, 10, 24, 0, 0, 0, i)).toISOString(),
          event: i === 1 ? "loop_start" : "role_end",
          loop_id: "demo-loop",
          run_id: "big",
          iteration: 1,
          role: "tester",
          data: { i, pad: "x".repeat(60) },
        }),
      );
    }
    writeFileSync(eventsPath(repo), lines.join("\n") + "\n");

    const first = await start(d.env);
    const reg = await gql(first.url, `mutation($r: String!) { registerSprite(input: {name: "big", transport: LOCAL, repoPath: $r, loopId: "demo-loop"}) { __typename } }`, { r: repo });
    expect(reg.data!.registerSprite.__typename).toBe("RegisterSpritePayload");
    const cursor = async () => {
      const db = await connectAs(d.dataDir);
      try {
        return (await db.query<{ c: number }>(`SELECT "cursorLine" c FROM "Run"`)).rows[0]?.c ?? 0;
      } finally {
        await db.end();
      }
    };
    await until("the first batch to be committed", async () => (await cursor()) > 0, 30_000);
    expect(await cursor()).toBeLessThan(TOTAL);
    await interruptGroup(first, d.dataDir);

    const second = await start(d.env);
    await until("the backlog to be stored", async () => (await cursor()) === TOTAL, 90_000);
    const rows = await storedVsFile(d.dataDir);
    expect(rows).toEqual([{ repo, stored: TOTAL, distinct: TOTAL, lines: TOTAL }]);
    await interruptGroup(second, d.dataDir);
  });

  it("npm start: Ctrl-C (SIGINT to npm's process group) ends with exit 0 and nothing left", { timeout: 120_000 }, async () => {
    const d = embeddedDirs("ops-sig-npm");
    dirs.push(d);
    const m = await start(d.env, [], ["npm", "start", "--silent", "--prefix", ROOT]);
    await interruptGroup(m, d.dataDir);
  });
});
