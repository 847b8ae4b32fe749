import { promises as fsp } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { createAgentServer, readEventsAfter, readRuntimeFacts } from "../../agent";
import { AdapterError, type EventCursor, type EventsPage } from "../../src/contract";
import { eventsPageFromResponse, eventsRequestPath, runtimeFactsFromResponse } from "../../src/transports/agent-client";
import { call } from "../agent/agent-client";
import { LOOP, RECORDINGS, cleanupTempDirs, copyRecording, eventsPath } from "../agent/helpers";

afterAll(cleanupTempDirs);

// Parity (invariant 6 of docs/architecture.md): the same files read in-process and through the agent give the same page.

function comparable(page: EventsPage): unknown {
  return { ...page, envelopes: page.envelopes.map((envelope) => ({ ...envelope, emittedAt: "-" })) };
}

async function withAgent<T>(repo: string, fn: (base: string) => Promise<T>): Promise<T> {
  const agent = createAgentServer({ repoPath: repo, token: null, port: 0 });
  const { port } = await agent.listen();
  try {
    return await fn(`http://127.0.0.1:${port}`);
  } finally {
    await agent.close();
  }
}

async function remotePage(base: string, cursor: EventCursor, limit: number, traceId?: string): Promise<EventsPage> {
  const res = await call(base, eventsRequestPath({ loopId: LOOP, cursor, limit }), traceId ? { headers: { "x-trace-id": traceId } } : {});
  return eventsPageFromResponse(res.status, res.body);
}

describe("agent protocol parity with the in-process library", () => {
  it("every recording: identical pages, page by page, and identical facts", async () => {
    for (const name of RECORDINGS) {
      const repo = await copyRecording(name);
      await withAgent(repo, async (base) => {
        let cursor: EventCursor = { line: 0, byteOffset: 0, lastLineHash: null };
        for (let i = 0; i < 100; i += 1) {
          const local = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor, limit: 7, traceId: "p" });
          const remote = await remotePage(base, cursor, 7, "p");
          expect(comparable(remote), name).toEqual(comparable(local));
          cursor = { line: local.cursor.line, byteOffset: local.cursor.byteOffset, lastLineHash: local.cursor.lastLineHash };
          if (!local.hasMore) break;
        }
        const res = await call(base, `/ops/facts?loopId=${LOOP}`);
        const remote = runtimeFactsFromResponse(res.status, res.body);
        expect(remote.facts).toEqual(await readRuntimeFacts({ repoPath: repo, loopId: LOOP }));
        expect(remote.eventsStat.size).toBe((await fsp.stat(eventsPath(repo))).size);
      });
    }
  });

  it("errors come back as the same AdapterError / error page", async () => {
    const repo = await copyRecording("failure");
    await withAgent(repo, async (base) => {
      const local = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: { line: 0, byteOffset: 0, lastLineHash: null }, limit: 10 });
      const cursor: EventCursor = { line: local.cursor.line, byteOffset: local.cursor.byteOffset, lastLineHash: local.cursor.lastLineHash };

      await fsp.appendFile(eventsPath(repo), "not json\n");
      const localBad = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor, limit: 10 });
      const remoteBad = await remotePage(base, cursor, 10);
      expect(remoteBad).toEqual(localBad);
      expect(remoteBad.error).toMatchObject({ code: "invalid_json", line: 4 });

      await fsp.writeFile(eventsPath(repo), "");
      const localError = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor, limit: 10 }).catch((e: unknown) => e);
      const remoteError = await remotePage(base, cursor, 10).catch((e: unknown) => e);
      expect(remoteError).toBeInstanceOf(AdapterError);
      expect((remoteError as AdapterError).code).toBe((localError as AdapterError).code);
      expect((remoteError as AdapterError).code).toBe("cursor_fork");
      expect((remoteError as AdapterError).details).toMatchObject({ ...(localError as AdapterError).details, status: 409 });

      const unknownLoop = await call(base, "/ops/facts?loopId=..");
      expect(() => runtimeFactsFromResponse(unknownLoop.status, unknownLoop.body)).toThrow(AdapterError);
    });
  });

  it("unauthorized answers map to an `unauthorized` AdapterError", async () => {
    const repo = await copyRecording("complete");
    const agent = createAgentServer({ repoPath: repo, token: "t", port: 0 });
    const { port } = await agent.listen();
    try {
      const res = await call(`http://127.0.0.1:${port}`, eventsRequestPath({ loopId: LOOP, cursor: { line: 0 }, limit: 5 }));
      const error = (() => {
        try {
          eventsPageFromResponse(res.status, res.body);
          return null;
        } catch (e) {
          return e as AdapterError;
        }
      })();
      expect(error?.code).toBe("unauthorized");
    } finally {
      await agent.close();
    }
  });

  it("eventsRequestPath encodes the cursor for old and new agents", () => {
    expect(eventsRequestPath({ loopId: "a", cursor: { line: 3 }, limit: 10 })).toBe("/ops/events?loopId=a&cursor=3&maxEvents=10&includeLines=1");
    expect(eventsRequestPath({ loopId: "a", cursor: { line: 3, byteOffset: 99, lastLineHash: "f".repeat(64) }, limit: 10, waitMs: 5000, includeLines: false })).toBe(
      `/ops/events?loopId=a&cursor=3&maxEvents=10&byteOffset=99&lastLineHash=${"f".repeat(64)}&waitMs=5000`,
    );
  });
});
