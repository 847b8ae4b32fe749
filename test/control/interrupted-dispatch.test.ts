import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { repoFromRecording } from "../support/fixtures";
import { dispatchOnce } from "../../src/cluster/dispatch-once";
import { register, sync, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// A replica that dies in the middle of running a control command leaves its intent REQUESTED with the dispatch
// mark set. Whoever picks it up next must not run the command again: the outcome is unknown, so AMBIGUOUS.
let server: RunningServer;
beforeAll(async () => {
  // A SUPERLOOP_BIN that does not exist: had the command run again, the intent would be FAILED, not AMBIGUOUS.
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000", SUPERLOOP_BIN: path.join(mkdtempSync(path.join(tmpdir(), "ops-nobin-")), "missing") });
});
afterAll(() => server?.close());

it("an interrupted dispatch is never dispatched twice: it ends AMBIGUOUS", async () => {
  const run = await register(server, "interrupted", repoFromRecording("approval"));
  await sync(server, run.id);
  const startedAt = new Date(Date.now() - 5000);
  const intent = await server.app.db.controlIntent.create({
    data: {
      runId: run.raw,
      kind: "APPROVE",
      stage: "REQUESTED",
      idempotencyKey: "interrupted-1",
      requestedBy: "op",
      traceId: "t",
      deadlineAt: new Date(Date.now() + 60_000),
      dispatchedAt: startedAt,
    },
  });
  await server.app.control.dispatch(intent.id);
  const after = await server.app.db.controlIntent.findUniqueOrThrow({ where: { id: intent.id } });
  expect(after).toMatchObject({ stage: "AMBIGUOUS", error: "dispatch_interrupted", dispatchedAt: startedAt });
  expect(JSON.stringify(after.evidence)).toContain("not dispatched again");

  // A fresh intent is dispatched (and fails on the missing binary): the mark is what decides. Through the
  // once-only claim, as every dispatch in the manager goes: with DATABASE_URL the test server runs as a cluster
  // member, whose pickup sees the new REQUESTED row too, and two unclaimed dispatches of one intent would race
  // to its mark (one of them then finding it "interrupted": a loaded CI run saw AMBIGUOUS here).
  const fresh = await server.app.db.controlIntent.create({
    data: { runId: run.raw, kind: "REJECT", stage: "REQUESTED", idempotencyKey: "fresh-0001", requestedBy: "op", traceId: "t2", deadlineAt: new Date(Date.now() + 60_000) },
  });
  await dispatchOnce(server.app.dispatch, fresh.id, () => server.app.control.dispatch(fresh.id));
  await waitFor(
    async () => (await server.app.db.controlIntent.findUniqueOrThrow({ where: { id: fresh.id } })).stage,
    (stage) => stage !== "REQUESTED",
    10_000,
    "the fresh intent dispatched",
  );
  expect((await server.app.db.controlIntent.findUniqueOrThrow({ where: { id: fresh.id } })).stage).toBe("FAILED");
});
