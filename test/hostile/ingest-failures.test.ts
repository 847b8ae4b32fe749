import { appendFileSync, openSync, closeSync, ftruncateSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { eventsPath, repoFromRecording } from "../support/fixtures";
import { getRun, register, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// Issue 13 item 9 (and the "every repeating failure visible" deliverable): lines PostgreSQL would refuse or
// choke on are named rejections of that line; anything else that fails poll after poll turns the run's ingest
// ERROR with the reason, health CRITICAL and an intervention, and clears when polls succeed again.

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "100" });
});
afterAll(async () => {
  await server?.close();
});

const line = (fields: Record<string, unknown>) =>
  JSON.stringify({ timestamp: "2026-11-24T07:00:00Z", event: "iteration_start", loop_id: "demo-loop", run_id: "2026-11-24T06:54:25Z", iteration: 2, ...fields });

async function intervenedOn(runId: string): Promise<{ reasons: { code: string; message: string }[] } | undefined> {
  const r = await gql(server.url, `{ interventions { run { id } reasons { code message } } }`);
  return (r.data!.interventions as { run: { id: string }; reasons: { code: string; message: string }[] }[]).find((i) => i.run.id === runId);
}

async function expectVisible(runId: string, pattern: RegExp) {
  const run = await waitFor(
    () => getRun(server, runId),
    (r) => r.ingest.status === "ERROR",
    20_000,
    "ingest ERROR",
  );
  expect(run.ingest.lastError).toMatch(pattern);
  expect(run.health.status).toBe("CRITICAL");
  const intervention = await waitFor(
    () => intervenedOn(runId),
    (i) => i !== undefined,
    10_000,
    "an intervention",
  );
  expect(intervention!.reasons.length).toBeGreaterThan(0);
  return run;
}

describe("hostile lines and artifacts are visible failures, never silent retries", () => {
  it.each([
    ["a timestamp in year +099999", line({ timestamp: "+099999-01-01T00:00:00Z" }), /timestamp_out_of_range/],
    ["a \\u0000 in a string", line({ data: { note: "before\u0000after" } }), /nul_character/],
    ["5,000-deep nesting", `${line({}).slice(0, -1)},"data":${"[".repeat(5000)}${"]".repeat(5000)}}`, /too_deep/],
  ])("%s: a named rejection at that line, the run ERROR, health CRITICAL, an intervention", async (what, bad, pattern) => {
    const repo = repoFromRecording("complete");
    const { id } = await register(server, `bad-${Math.random().toString(36).slice(2, 8)}`, repo);
    const before = await waitFor(
      () => getRun(server, id),
      (r) => r.ingest.cursorLine > 0,
      20_000,
      "first ingest",
    );
    appendFileSync(eventsPath(repo), bad + "\n");
    const run = await expectVisible(id, pattern);
    // nothing after the bad line is stored, and the lines before it are
    expect(run.ingest.cursorLine).toBe(before.ingest.cursorLine);
    expect(run.ingest.lastError, what).toMatch(new RegExp(`line ${before.ingest.cursorLine + 1}`));
  });

  it("a 2 GB sparse state.json fails every poll: after a few the run is ERROR with the reason, and recovers once it is gone", async () => {
    const repo = repoFromRecording("complete");
    const { id } = await register(server, "sparse-state", repo);
    await waitFor(
      () => getRun(server, id),
      (r) => r.ingest.cursorLine > 0,
      20_000,
      "first ingest",
    );
    const state = path.join(repo, ".superloop", "state.json");
    const fd = openSync(state, "w");
    ftruncateSync(fd, 2 * 1024 ** 3);
    closeSync(fd);
    await expectVisible(id, /poll_failed: \d+ polls in a row failed: .*state\.json.*bytes/);
    rmSync(state);
    const ok = await waitFor(
      () => getRun(server, id),
      (r) => r.ingest.status === "OK",
      30_000,
      "ingest OK again",
    );
    expect(ok.ingest.lastError).toBeNull();
  });
});
