import { chmodSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { gql } from "../support/clients";
import { spawnManager } from "../support/manager-process";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const postmasterPid = (dir: string) => Number(readFileSync(path.join(dir, "pg", "postmaster.pid"), "utf8").split("\n")[0]);

it("starts an embedded PostgreSQL, survives kill -9 of the manager, and stops it on SIGTERM", { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "ops-embedded-"));
  chmodSync(dataDir, 0o755);

  const first = await spawnManager({ OPS_DATA_DIR: dataDir });
  const created = await gql(first.url, `mutation { registerSprite(input: {name: "keep", transport: LOCAL, repoPath: "/tmp", loopId: "l"}) { __typename } }`);
  expect(created.data!.registerSprite.__typename).toBe("RegisterSpritePayload");
  const pid = postmasterPid(dataDir);
  expect(alive(pid)).toBe(true);

  first.child.kill("SIGKILL");
  await first.exited;
  expect(alive(pid)).toBe(true); // the orphaned postmaster outlives the manager

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
