import { execFileSync } from "node:child_process";
import { appendFileSync, chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentServer, readEventsAfter } from "../../agent";
import { MAX_PAGE_BYTES } from "../../agent/limits";
import type { RunningServer } from "../../src/server";
import { call } from "../agent/agent-client";
import { gql } from "../support/clients";
import { eventsPath, repoFromRecording } from "../support/fixtures";
import { getRun, register, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// Issue 13 items 6, 7 and 13 (symlinks): a FIFO, a device or a symlink out of the repository is refused by
// name without blocking anything; valid but huge lines are paged by bytes, in the manager and in the agent.

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "100" });
});
afterAll(async () => {
  await server?.close();
});

const ready = async () => (await fetch(server.url.replace("/graphql", "/ready"), { signal: AbortSignal.timeout(5000) })).status;
const name = (p: string) => `${p}-${Math.random().toString(36).slice(2, 8)}`;

describe("artifacts that are not regular files inside the repository", () => {
  it("FIFOs as events.jsonl and as state.json (more than libuv's 4 threads) stall nothing: named errors, /ready answers, other runs flow", async () => {
    const fifoRuns: string[] = [];
    for (let i = 0; i < 3; i++) {
      for (const which of ["events", "state"] as const) {
        const repo = repoFromRecording("complete");
        const target = which === "events" ? eventsPath(repo) : path.join(repo, ".superloop", "state.json");
        rmSync(target);
        execFileSync("mkfifo", [target]);
        fifoRuns.push((await register(server, name(`fifo-${which}`), repo)).id);
      }
    }
    const healthyRepo = repoFromRecording("complete");
    const healthy = await register(server, name("healthy"), healthyRepo);
    expect(await ready()).toBe(200);
    for (const id of fifoRuns) {
      const run = await waitFor(
        () => getRun(server, id),
        (r) => r.ingest.status === "ERROR",
        20_000,
        "ingest ERROR on a FIFO",
      );
      expect(run.ingest.lastError).toMatch(/is a FIFO, not a regular file/);
    }
    await waitFor(
      () => getRun(server, healthy.id),
      (r) => r.ingest.cursorLine > 0,
      20_000,
      "the healthy run ingested",
    );
    appendFileSync(eventsPath(healthyRepo), JSON.stringify({ timestamp: "2026-11-24T07:00:00Z", event: "role_start", loop_id: "demo-loop", run_id: "x", iteration: 1 }) + "\n");
    const before = (await getRun(server, healthy.id)).ingest.cursorLine;
    await waitFor(
      () => getRun(server, healthy.id),
      (r) => r.ingest.cursorLine === before + 1,
      20_000,
      "the new line ingested",
    );
    expect(await ready()).toBe(200);
  });

  it("a symlink out of the repository is never followed, and what it points at is never echoed", async () => {
    const outside = mkdtempSync(path.join(tmpdir(), "ops-secret-"));
    const secret = path.join(outside, "shadow");
    writeFileSync(secret, "root:TOPSECRETHASH:19000:0:99999:7:::\n");
    chmodSync(secret, 0o600);
    const repo = repoFromRecording("complete");
    const state = path.join(repo, ".superloop", "state.json");
    rmSync(state);
    symlinkSync(secret, state);
    const { id } = await register(server, name("symlink"), repo);
    const run = await waitFor(
      () => getRun(server, id),
      (r) => r.ingest.status === "ERROR",
      20_000,
      "ingest ERROR on the symlink",
    );
    expect(run.ingest.lastError).toMatch(/state\.json resolves outside the repository/);
    const all = JSON.stringify(await gql(server.url, `{ interventions { reasons { message } } runs { edges { node { ingest { lastError } health { reasons { message } } } } } }`));
    expect(all).not.toContain("TOPSECRET");
    expect(all).not.toContain(outside);
    // events.jsonl as a link to a device: refused the same way (never opened: it is outside the repository)
    const repo2 = repoFromRecording("complete");
    rmSync(eventsPath(repo2));
    symlinkSync("/dev/zero", eventsPath(repo2));
    await expect(readEventsAfter({ repoPath: repo2, loopId: "demo-loop", cursor: { line: 0, byteOffset: 0, lastLineHash: null }, limit: 10 })).rejects.toThrow(/resolves outside the repository/);
    // a symlink inside the repository is fine
    const repo3 = repoFromRecording("complete");
    const real = path.join(repo3, ".superloop", "state.real.json");
    execFileSync("mv", [path.join(repo3, ".superloop", "state.json"), real]);
    symlinkSync(real, path.join(repo3, ".superloop", "state.json"));
    const inside = await register(server, name("inside-link"), repo3);
    const ok = await waitFor(
      () => getRun(server, inside.id),
      (r) => r.ingest.cursorLine > 0,
      20_000,
      "ingest through an inside link",
    );
    expect(ok.ingest.status).toBe("OK");
  });
});

describe("byte budgets per page", () => {
  const bigLine = (i: number) => JSON.stringify({ timestamp: "2026-11-24T07:00:00Z", event: "role_end", loop_id: "demo-loop", run_id: "big", iteration: 1, data: { i, blob: "x".repeat(900 * 1024) } });

  function bigRepo(lines: number): string {
    const repo = mkdtempSync(path.join(tmpdir(), "ops-big-"));
    execFileSync("mkdir", ["-p", path.join(repo, ".superloop", "loops", "demo-loop")]);
    writeFileSync(eventsPath(repo), Array.from({ length: lines }, (_, i) => bigLine(i + 1)).join("\n") + "\n");
    return repo;
  }

  it("a page never holds more than MAX_PAGE_BYTES of lines; 40 lines of 900 KB are stored exactly once", async () => {
    const repo = bigRepo(40);
    const page = await readEventsAfter({ repoPath: repo, loopId: "demo-loop", cursor: { line: 0, byteOffset: 0, lastLineHash: null }, limit: 5000 });
    expect(page.envelopes.length).toBeGreaterThan(0);
    expect(page.envelopes.length).toBeLessThan(40);
    expect(page.lines.reduce((n, l) => n + Buffer.byteLength(l), 0)).toBeLessThanOrEqual(MAX_PAGE_BYTES);
    expect(page.hasMore).toBe(true);

    const { id } = await register(server, name("big-lines"), repo);
    const run = await waitFor(
      () => getRun(server, id),
      (r) => r.ingest.cursorLine === 40,
      60_000,
      "all 40 lines",
    );
    expect(run.ingest.status).toBe("OK");
    const raw = Buffer.from(id, "base64").toString().split(":").slice(1).join(":");
    const rows = await server.app.pool.query<{ line: number }>(`SELECT line FROM "Event" WHERE "runId" = $1 ORDER BY line`, [raw]);
    expect(rows.rows.map((r) => r.line)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it("the agent's /ops/events pages by bytes too", async () => {
    const repo = bigRepo(20);
    const agent = createAgentServer({ repoPath: repo, token: null, port: 0 });
    const { port } = await agent.listen();
    try {
      const res = await call(`http://127.0.0.1:${port}`, "/ops/events?loopId=demo-loop&cursor=0&maxEvents=5000&includeLines=1");
      expect(res.status).toBe(200);
      const lines = res.body["lines"] as string[];
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.length).toBeLessThan(20);
      expect(lines.reduce((n, l) => n + Buffer.byteLength(l), 0)).toBeLessThanOrEqual(MAX_PAGE_BYTES);
      expect(res.body["hasMore"]).toBe(true);
    } finally {
      await agent.close();
    }
  });
});
