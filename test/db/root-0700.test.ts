import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gql } from "../support/clients";
import { alive, expectCleanOutput, groupAlive, postmaster, until } from "../support/embedded-dirs";
import { runToExit, spawnManager, type ManagerProcess } from "../support/manager-process";

// Root in a 0700 directory (a checkout under /root, or in a `mktemp -d` dir): PostgreSQL runs as the unprivileged
// postgres user, which can reach neither node_modules nor ./data there. The binaries are copied once to
// OPS_PG_RUNTIME_DIR and the cluster is placed there (./data/pg links to it). Only meaningful as root (CI is root).

const ROOT = path.resolve(import.meta.dirname, "../..");
const isRoot = process.getuid?.() === 0;
const cleanup: string[] = [];
const running: ManagerProcess[] = [];
afterAll(() => {
  for (const m of running) if (m.child.pid && groupAlive(m.child.pid)) process.kill(-m.child.pid, "SIGKILL");
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

/** A checkout of this repo inside a fresh 0700 directory; node_modules hard-linked (same file system) or copied. */
function checkoutIn0700(): string {
  const base = mkdtempSync(path.join(tmpdir(), "ops-root0700-"));
  chmodSync(base, 0o700);
  cleanup.push(base);
  const checkout = path.join(base, "superloop-ops");
  mkdirSync(checkout);
  const skip = new Set(["node_modules", ".git", "data", "test", "bench"]);
  for (const f of readdirSync(ROOT)) if (!skip.has(f)) cpSync(path.join(ROOT, f), path.join(checkout, f), { recursive: true });
  try {
    execFileSync("cp", ["-al", path.join(ROOT, "node_modules"), path.join(checkout, "node_modules")]);
  } catch {
    cpSync(path.join(ROOT, "node_modules"), path.join(checkout, "node_modules"), { recursive: true, verbatimSymlinks: true });
  }
  return checkout;
}

describe.runIf(isRoot)("as root in a 0700 directory", () => {
  it("npm start's command starts from the checkout, keeps data across a restart, stops clean", { timeout: 180_000 }, async () => {
    const checkout = checkoutIn0700();
    const runtimeDir = mkdtempSync(path.join(tmpdir(), "ops-root0700-rt-"));
    chmodSync(runtimeDir, 0o755);
    cleanup.push(runtimeDir);
    // OPS_DATA_DIR is left at its default, ./data inside the 0700 checkout.
    const env = { OPS_PG_RUNTIME_DIR: runtimeDir };
    const command = [process.execPath, "--import", "tsx", path.join(checkout, "src/main.ts")];
    const first = await spawnManager(env, [], 120_000, { detached: true, root: checkout, command });
    running.push(first);
    const dataDir = path.join(checkout, "data");

    // The binaries were copied where the postgres user can reach them, and the server runs from there, as postgres.
    const copies = readdirSync(runtimeDir).filter((n) => n.startsWith("pg-"));
    expect(copies).toHaveLength(1);
    expect(existsSync(path.join(runtimeDir, copies[0], ".complete"))).toBe(true);
    const pm = postmaster(dataDir)!;
    expect(readFileSync(`/proc/${pm.pid}/cmdline`, "utf8").split("\0")[0]).toBe(path.join(runtimeDir, copies[0], "bin", "postgres"));
    expect(execFileSync("ps", ["-o", "user=", "-p", String(pm.pid)], { encoding: "utf8" }).trim()).toBe("postgres");
    expect(first.output()).toContain(`its data lives in ${runtimeDir}/data/`);

    const reg = await gql(first.url, `mutation { registerSprite(input: {name: "kept", transport: LOCAL, repoPath: "/tmp", loopId: "l"}) { __typename } }`);
    expect(reg.data!.registerSprite.__typename).toBe("RegisterSpritePayload");
    process.kill(-first.child.pid!, "SIGINT");
    expect(await first.exited).toBe(0);
    expectCleanOutput(first.output());
    await until("the postmaster to stop", () => !alive(pm.pid), 10_000);

    const second = await spawnManager(env, [], 120_000, { detached: true, root: checkout, command });
    running.push(second);
    const list = await gql(second.url, `{ sprites { edges { node { name } } } }`);
    expect(list.data!.sprites.edges).toEqual([{ node: { name: "kept" } }]);
    process.kill(-second.child.pid!, "SIGTERM");
    expect(await second.exited).toBe(0);
  });

  it("when the postgres user can reach nothing it needs: one line says why and what to set, exit 2", { timeout: 60_000 }, async () => {
    const hidden = mkdtempSync(path.join(tmpdir(), "ops-root0700-hidden-"));
    chmodSync(hidden, 0o700);
    cleanup.push(hidden);
    // Data dir and runtime dir both inside a 0700 directory: nowhere to put the cluster.
    const r = await runToExit({ OPS_DATA_DIR: path.join(hidden, "data"), OPS_PG_RUNTIME_DIR: path.join(hidden, "rt"), LOG_LEVEL: "error" });
    expect(r.code).toBe(2);
    const lines = r.output.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^superloop-ops: cannot start: .*postgres.*: set OPS_\w+ .*or set DATABASE_URL$/);
  });
});
