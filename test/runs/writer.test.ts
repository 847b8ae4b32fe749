import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunChanged } from "../../src/pubsub/topics";
import { readRunsById } from "../../src/runs/run-reads";
import { RunConflict, type RunChange } from "../../src/runs/writer";
import type { RunningServer } from "../../src/server";
import { repoFromRecording } from "../support/fixtures";
import { register, sync } from "../support/runs";
import { startTestServer } from "../support/server";

// The run writer against a real database: one seq per change, in lock order, whoever writes; nothing for an
// unchanged one; a lost lease writes nothing; one `run` message per announced change, built by runChanged (here
// through the cluster fan-out, which rebuilds it from the rows with the same function).

let server: RunningServer;
let runId: string;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "3600000" });
  const run = await register(server, "writer", repoFromRecording("complete"));
  await sync(server, run.id);
  runId = run.raw;
});
afterAll(() => server?.close());

async function waitUntil(pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const seqOf = async () => (await server.app.db.run.findUniqueOrThrow({ where: { id: runId } })).seq;

/** The `run` messages after `afterSeq` (the test server runs in cluster mode: the fan-out delivers them from the rows). */
function listen(afterSeq: number) {
  const runs: RunChanged[] = [];
  const sub = server.app.bus.subscribe("run", runId, 100);
  void (async () => {
    for await (const d of sub) if (d.kind === "message" && d.message.seq > afterSeq) runs.push(d.message);
  })();
  return { runs, close: () => sub.close() };
}

describe("RunWriter", () => {
  it("concurrent changes each get the next seq, in the order they held the lock", async () => {
    const start = await seqOf();
    const seen: number[] = [];
    const change = (): Promise<unknown> =>
      server.app.runs.write(runId, async (_c, run, seq) => {
        expect(seq).toBe(run.seq + 1);
        seen.push(seq);
        await new Promise((r) => setTimeout(r, 5));
        return { announce: true, result: seq };
      });
    await Promise.all(Array.from({ length: 8 }, change));
    expect(seen).toEqual(Array.from({ length: 8 }, (_, i) => start + 1 + i));
    expect(await seqOf()).toBe(start + 8);
  });

  it("a change comes back with the run's row as it committed it: the row a read gives after the commit", async () => {
    const written = await server.app.runs.write(runId, async () => ({
      columns: { set: `"stateSince" = now() - interval '1 hour', "lastEventName" = $3`, values: ["written"] },
      result: null,
    }));
    expect(written?.after).not.toBeNull();
    expect(written?.after).toMatchObject({ seq: written?.seq, lastEventName: "written" });
    const { sprite: _sprite, ...read } = (await readRunsById(server.app.pool, [runId], false)).get(runId)!;
    expect(written?.after).toEqual(read);
    expect((await server.app.runs.write(runId, async () => ({ unchanged: true, result: null })))?.after).toBeNull();
  });

  it("an unchanged change writes nothing and publishes nothing", async () => {
    const start = await seqOf();
    const l = listen(start);
    const w = await server.app.runs.write(runId, async () => ({ unchanged: true, result: "kept" }));
    expect(w).toMatchObject({ seq: null, result: "kept" });
    expect(await seqOf()).toBe(start);
    await new Promise((r) => setTimeout(r, 200));
    expect(l.runs).toEqual([]);
    l.close();
  });

  it("a transition is written with the change's seq and announced once, as runChanged builds it", async () => {
    const before = await server.app.db.run.findUniqueOrThrow({ where: { id: runId } });
    const l = listen(before.seq);
    const w = await server.app.runs.write(runId, async (_c, run): Promise<RunChange<null>> => ({
      transition: { from: run.state, to: run.state, reason: "control_mode_disabled", trigger: "control_mode", actor: "test", evidence: { note: "writer test" } },
      result: null,
    }));
    expect(w?.seq).toBe(before.seq + 1);
    const row = await server.app.db.lifecycleTransition.findFirstOrThrow({ where: { runId, seq: before.seq + 1 } });
    expect(row).toMatchObject({ from: before.state, to: before.state, trigger: "control_mode", actor: "test", evidence: { note: "writer test" } });
    await waitUntil(() => l.runs.length > 0);
    await new Promise((r) => setTimeout(r, 200));
    expect(l.runs).toEqual([expect.objectContaining({ runId, seq: before.seq + 1, previousState: before.state, state: before.state, reason: "control_mode_disabled", lifecycleChanged: false })]);
    l.close();
  });

  it("a change whose body throws rolls back: no seq, no row", async () => {
    const start = await seqOf();
    await expect(
      server.app.runs.write(runId, async (c) => {
        await c.query(`UPDATE "Run" SET "stateReason" = 'half-written' WHERE id = $1`, [runId]);
        throw new RunConflict("lost a race");
      }),
    ).rejects.toBeInstanceOf(RunConflict);
    const row = await server.app.db.run.findUniqueOrThrow({ where: { id: runId } });
    expect(row.seq).toBe(start);
    expect(row.stateReason).not.toBe("half-written");
  });

  it("a replica without the run's lease writes nothing", async () => {
    const start = await seqOf();
    await expect(server.app.runs.write(runId, async () => ({ result: null }), { fence: { owner: "another-replica", token: 1 } })).rejects.toBeInstanceOf(RunConflict);
    expect(await seqOf()).toBe(start);
  });

  it("no such run: null, nothing written", async () => {
    expect(await server.app.runs.write("no-such-run", async () => ({ result: null }))).toBeNull();
  });
});
