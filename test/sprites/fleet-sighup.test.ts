import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gql } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { repoFromRecording } from "../support/fixtures";
import { spawnManager, type ManagerProcess } from "../support/manager-process";
import { waitFor } from "../support/runs";

// The real process: OPS_FLEET_FILE at start-up (an invalid file refuses to start, naming every error) and a
// reload on SIGHUP.

const procs: ManagerProcess[] = [];
afterAll(async () => {
  for (const p of procs) {
    p.child.kill("SIGTERM");
    await p.exited;
  }
});

describe("fleet file in a running manager", () => {
  it("refuses to start on an invalid file, listing each error with its path", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ops-fleet-bad-"));
    const file = path.join(dir, "fleet.json");
    writeFileSync(
      file,
      JSON.stringify({
        sprites: [
          { name: "a", transport: "SPRITE_SERVICE", repoPath: "/r", loopId: "l" },
          { name: "B", transport: "LOCAL", repoPath: "/r", loopId: "l" },
        ],
      }),
    );
    const err = await spawnManager({ DATABASE_URL: await createTestDatabase(), OPS_DATA_DIR: dir, OPS_FLEET_FILE: file }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/sprites\[0\]\.agentUrl: .*sprites\[1\]\.name/);
  });

  it("loads at start-up and again on SIGHUP", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ops-fleet-hup-"));
    const file = path.join(dir, "fleet.json");
    const repo = repoFromRecording("complete");
    writeFileSync(file, JSON.stringify({ sprites: [{ name: "hup-a", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" }] }));
    const m = await spawnManager({ DATABASE_URL: await createTestDatabase(), OPS_DATA_DIR: dir, OPS_FLEET_FILE: file });
    procs.push(m);
    const names = async () => ((await gql(m.url, `{ sprites { edges { node { name run { state } } } } }`)).data!.sprites.edges as { node: { name: string } }[]).map((e) => e.node.name);
    expect(await names()).toEqual(["hup-a"]);
    writeFileSync(
      file,
      JSON.stringify({
        sprites: [
          { name: "hup-a", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" },
          { name: "hup-b", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" },
        ],
      }),
    );
    m.child.kill("SIGHUP");
    await waitFor(names, (n) => n.length === 2, 10_000, "hup-b after SIGHUP");
    expect(m.child.exitCode).toBeNull();
  });
});
