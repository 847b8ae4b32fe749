import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { eventsPath, repoFromRecording } from "../support/fixtures";
import { register, sync, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// Issue 18: a finished run is archived as its original events.jsonl (gzip) and then pruned; the archive is the
// file, byte for byte. Through the mutation and through `opsctl archive`.

const OPSCTL = path.resolve(import.meta.dirname, "../../bin/opsctl.mjs");
const archiveDir = mkdtempSync(path.join(tmpdir(), "ops-archive-"));
let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_ARCHIVE_DIR: archiveDir, OPS_RETENTION_INTERVAL_MS: "3600000", OPS_POLL_INTERVAL_MS: "100" });
});
afterAll(() => server?.close());

const ARCHIVE = `mutation($id: ID!) { archiveRun(runId: $id) { __typename ... on RunArchive { file fromLine lines bytes sha256 by } ... on Error { message } } }`;
type Archive = { __typename: string; file: string; fromLine: number; lines: number; bytes: number; sha256: string; message?: string };
const lines = async (raw: string) => (await server.app.db.event.findMany({ where: { runId: raw }, select: { line: true }, orderBy: { line: "asc" } })).map((e) => e.line);

describe("archiveRun", () => {
  it("a finished run's archive is its events.jsonl byte for byte; then its lines are pruned but the cursor's", async () => {
    const repo = repoFromRecording("approved-complete");
    const run = await register(server, "arch-1", repo);
    const done = await sync(server, run.id);
    expect(done).toMatchObject({ state: "COMPLETE", ingest: { cursorLine: 30 } });
    const a = ((await gql(server.url, ARCHIVE, { id: run.id })).data as { archiveRun: Archive }).archiveRun;
    expect(a.__typename, a.message).toBe("RunArchive");
    const original = readFileSync(eventsPath(repo));
    const archived = gunzipSync(readFileSync(a.file));
    expect(archived.equals(original)).toBe(true);
    expect(a).toMatchObject({ fromLine: 1, lines: 30, bytes: original.length, sha256: createHash("sha256").update(original).digest("hex") });
    expect(a.file).toBe(path.join(archiveDir, "arch-1", `${done.loopId}-${run.raw}.jsonl.gz`));

    await server.app.retention.tick();
    expect(await lines(run.raw)).toEqual([30]);
    const q = await gql(server.url, `query($id: ID!) { run(id: $id) { ... on Run { eventsRetainedFrom archive { lines sha256 } } } }`, { id: run.id });
    expect(q.data).toMatchObject({ run: { eventsRetainedFrom: 30, archive: { lines: 30, sha256: a.sha256 } } });
    // Archived again with nothing new: a typed refusal that names the archive holding it.
    const again = ((await gql(server.url, ARCHIVE, { id: run.id })).data as { archiveRun: Archive }).archiveRun;
    expect(again.__typename).toBe("InvalidInput");
    expect(again.message).toMatch(/already archived through line 30 in .*\.jsonl\.gz/);
  });

  it("a run whose first lines retention pruned is archived from its first retained line, which the file name and the answer carry", async () => {
    const repo = repoFromRecording("approved-complete");
    const run = await register(server, "arch-4", repo);
    const done = await sync(server, run.id);
    expect(done).toMatchObject({ state: "COMPLETE", ingest: { cursorLine: 30 } });
    const policy = await gql(server.url, `mutation { setRetention(sprite: "arch-4", policy: { maxEventsPerRun: 12 }) { __typename } }`);
    expect(policy.errors).toBeUndefined();
    while ((await server.app.retention.tick()).pruned);
    expect(await lines(run.raw)).toEqual(Array.from({ length: 12 }, (_, i) => 19 + i));
    const RETAINED = `query($id: ID!) { run(id: $id) { ... on Run { eventsRetainedFrom archive { fromLine lines file } } } }`;
    expect((await gql(server.url, RETAINED, { id: run.id })).data).toMatchObject({ run: { eventsRetainedFrom: 19, archive: null } });

    const a = ((await gql(server.url, ARCHIVE, { id: run.id })).data as { archiveRun: Archive }).archiveRun;
    expect(a.__typename, a.message).toBe("RunArchive");
    expect(a.file).toBe(path.join(archiveDir, "arch-4", `${done.loopId}-${run.raw}.from-19.jsonl.gz`));
    // Lines 19..30 of the original file, byte for byte.
    const original = readFileSync(eventsPath(repo), "utf8").split("\n").slice(18, 30).join("\n") + "\n";
    const archived = gunzipSync(readFileSync(a.file));
    expect(archived.toString("utf8")).toBe(original);
    expect(a).toMatchObject({ fromLine: 19, lines: 30, bytes: Buffer.byteLength(original), sha256: createHash("sha256").update(original).digest("hex") });
    // The archive lets retention prune down to the cursor's line, as for a whole history. The mutation has started
    // that pass already (a query here raced it): this waits for it and any after it.
    while ((await server.app.retention.tick()).pruned);
    expect(await lines(run.raw)).toEqual([30]);
    expect((await gql(server.url, RETAINED, { id: run.id })).data).toMatchObject({ run: { eventsRetainedFrom: 30, archive: { fromLine: 19, lines: 30, file: a.file } } });
  });

  it("a run that is not finished is refused; opsctl archive archives a finished one", async () => {
    const waiting = await register(server, "arch-2", repoFromRecording("approval"));
    await waitFor(
      () => sync(server, waiting.id),
      (r) => r.state === "AWAITING_APPROVAL",
      10_000,
      "awaiting approval",
    );
    const refused = ((await gql(server.url, ARCHIVE, { id: waiting.id })).data as { archiveRun: Archive }).archiveRun;
    expect(refused.__typename).toBe("InvalidInput");
    expect(refused.message).toMatch(/only a finished run/);

    const repo = repoFromRecording("complete");
    const run = await register(server, "arch-3", repo);
    expect((await sync(server, run.id)).state).toBe("COMPLETE");
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [OPSCTL, "archive", run.raw, "-o", "json"], {
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", OPS_URL: server.url },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
    expect(out.code, out.stderr).toBe(0);
    const printed = JSON.parse(out.stdout) as { file: string; lines: number };
    expect(printed.lines).toBe(26);
    expect(gunzipSync(readFileSync(printed.file)).equals(readFileSync(eventsPath(repo)))).toBe(true);
  });
});
