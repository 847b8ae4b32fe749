import { chmodSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { gql } from "../support/clients";
import { alive } from "../support/embedded-dirs";
import { runToExit, spawnManager } from "../support/manager-process";

const postmasterPid = (dir: string) => Number(readFileSync(path.join(dir, "pg", "postmaster.pid"), "utf8").split("\n")[0]);

it("starts an embedded PostgreSQL, refuses a second manager on it, survives kill -9 of the manager, and stops it on SIGTERM", { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "ops-embedded-"));
  chmodSync(dataDir, 0o755);

  const first = await spawnManager({ OPS_DATA_DIR: dataDir });
  const created = await gql(first.url, `mutation { registerSprite(input: {name: "keep", transport: LOCAL, repoPath: "/tmp", loopId: "l"}) { __typename } }`);
  expect(created.data!.registerSprite.__typename).toBe("RegisterSpritePayload");
  const pid = postmasterPid(dataDir);
  expect(alive(pid)).toBe(true);

  // One data directory, one manager: a second start on the live data directory is refused in one line (exit 2),
  // and the first one and its PostgreSQL carry on.
  const refused = await runToExit({ OPS_DATA_DIR: dataDir, LOG_LEVEL: "error" });
  expect(refused.code).toBe(2);
  expect(refused.output.trim().split("\n")).toEqual([
    expect.stringMatching(
      new RegExp(
        `^superloop-ops: cannot start: another superloop-ops manager \\(pid ${first.child.pid}, started [^)]+\\) is using the data directory ${dataDir}: stop it first, or give this one its own OPS_DATA_DIR$`,
      ),
    ),
  ]);
  expect(alive(pid)).toBe(true);
  expect((await gql(first.url, `{ sprites { edges { node { name } } } }`)).data!.sprites.edges).toHaveLength(1);

  first.child.kill("SIGKILL");
  await first.exited;
  expect(alive(pid)).toBe(true); // the orphaned postmaster outlives the manager

  // The lock of the killed manager is stale: taken over, and its orphaned postmaster adopted.
  const second = await spawnManager({ OPS_DATA_DIR: dataDir });
  expect(second.output()).toContain("adopting running postmaster");
  const list = await gql(second.url, `{ sprites { edges { node { name } } } }`);
  expect(list.data!.sprites.edges).toEqual([{ node: { name: "keep" } }]);

  second.child.kill("SIGTERM");
  expect(await second.exited).toBe(0);
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  expect(alive(pid)).toBe(false);

  // and a cold start after a clean stop works too
  const third = await spawnManager({ OPS_DATA_DIR: dataDir });
  expect((await gql(third.url, `{ sprites { edges { node { name } } } }`)).data!.sprites.edges).toHaveLength(1);
  third.child.kill("SIGTERM");
  expect(await third.exited).toBe(0);
});
