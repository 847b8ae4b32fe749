import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentServer, type AgentServer } from "../../agent";
import { rowsFromEnvelopes, EnvelopeRejected } from "../../src/ingest/rows";
import type { RunningServer } from "../../src/server";
import { peerText } from "../../src/util/peer-text";
import { gql } from "../support/clients";
import { repoFromRecording } from "../support/fixtures";
import { getRun, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";
import { startFaultProxy, type FaultProxy } from "../sprites/support/fault-proxy";

// Issue 13: a peer-supplied loop id (or schema version, timestamp) is never echoed back unbounded or
// unescaped in the `wrong_loop_id` (and sibling) messages a viewer reads in ingest.lastError.

// 10,000 characters with a line break (a forged second line), an ANSI escape and a bidi override
const HOSTILE = `evil\nline 2: all good\u001b[31m\u202e${"x".repeat(10_000)}`;

describe("peerText", () => {
  it.each([
    ["plain", "demo-loop", '"demo-loop"'],
    ["quotes and backslashes", 'a"b\\c', '"a\\"b\\\\c"'],
    ["controls, bidi and separators", "a\nb\u001b\u202e\u2028c", '"a\\u000ab\\u001b\\u202e\\u2028c"'],
    ["too long", "y".repeat(70), `"${"y".repeat(64)}"… (70 characters)`],
    ["not a string", { a: 1 }, "(a object)"],
    ["missing", undefined, "(missing)"],
  ])("%s", (_name, value, shown) => {
    expect(peerText(value)).toBe(shown);
  });
});

describe("rowsFromEnvelopes never repeats a peer's text as is", () => {
  const envelope = (over: Record<string, unknown>) =>
    ({
      schemaVersion: "v1",
      envelopeType: "loop_run_event",
      sequence: { value: 1 },
      source: { repoPath: "/r", loopId: "demo-loop" },
      event: { name: "loop_start", timestamp: "2026-11-24T00:00:00Z", raw: {}, role: null, status: null, message: null, payload: null },
      ...over,
    }) as never;
  it.each([
    ["wrong_loop_id", { source: { repoPath: "/r", loopId: HOSTILE } }],
    ["unsupported_schema_version", { schemaVersion: HOSTILE }],
    ["invalid_event", { event: { name: "x", timestamp: HOSTILE, raw: {}, role: null, status: null, message: null, payload: null } }],
  ])("%s", (code, over) => {
    let error: unknown;
    try {
      rowsFromEnvelopes([envelope(over)], ["{}"], "demo-loop", 0);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EnvelopeRejected);
    const e = error as EnvelopeRejected;
    expect(e.code).toBe(code);
    expect(e.message.length).toBeLessThan(300);
    // eslint-disable-next-line no-control-regex -- asserts no control character got through
    expect(e.message).not.toMatch(/[\n\u001b\u202e]/);
    expect(e.message).not.toContain("\nline 2");
  });
});

describe("end to end: a hostile agent's loop id in a viewer-readable field", () => {
  let server: RunningServer;
  let agent: AgentServer;
  let events: FaultProxy;
  let facts: FaultProxy;

  beforeAll(async () => {
    server = await startTestServer({ OPS_POLL_INTERVAL_MS: "100" });
    agent = createAgentServer({ repoPath: repoFromRecording("approval"), token: null, port: 0 });
    const { port } = await agent.listen();
    events = await startFaultProxy(`http://127.0.0.1:${port}`);
    events.match = /^\/ops\/events/;
    events.fault = { kind: "rewrite", fn: (b) => ({ ...b, events: (b.events as { source: object }[] | undefined)?.map((e) => ({ ...e, source: { ...e.source, loopId: HOSTILE } })) }) };
    facts = await startFaultProxy(`http://127.0.0.1:${port}`);
    facts.match = /^\/ops\/facts/;
    facts.fault = { kind: "rewrite", fn: (b) => ({ ...b, source: { ...(b.source as object), loopId: HOSTILE } }) };
  });
  afterAll(async () => {
    await events?.close();
    await facts?.close();
    await agent?.close();
    await server?.close();
  });

  const register = async (name: string, agentUrl: string) => {
    const r = await gql(server.url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`, {
      i: { name, transport: "SPRITE_SERVICE", agentUrl, repoPath: "/home/sprite/repo", loopId: "demo-loop" },
    });
    expect(r.data?.registerSprite.__typename, JSON.stringify(r)).toBe("RegisterSpritePayload");
    return r.data!.registerSprite.run.id as string;
  };

  it("envelopes for another loop: wrong_loop_id with the id quoted, escaped and cut", async () => {
    const id = await register("echo-events", events.url);
    const run = await waitFor(
      () => getRun(server, id),
      (r) => r.ingest.status === "ERROR",
      20_000,
      "wrong_loop_id",
    );
    const error = run.ingest.lastError as string;
    expect(error).toMatch(/^wrong_loop_id: line 1: envelope is for loop "evil\\u000aline 2: all good\\u001b\[31m\\u202ex+"… \(10\d{3} characters\), expected "demo-loop"$/);
    expect(error.length).toBeLessThan(300);
    // eslint-disable-next-line no-control-regex -- asserts no control character got through
    for (const r of run.health.reasons as { message: string }[]) expect(r.message).not.toMatch(/[\n\u001b\u202e]/);
  });

  it("facts for another loop: the same, in the transport error", async () => {
    const id = await register("echo-facts", facts.url);
    const run = await waitFor(
      () => getRun(server, id),
      (r) => (r.ingest.lastError ?? "").includes("answered for loop"),
      20_000,
      "facts for another loop",
    );
    const error = run.ingest.lastError as string;
    expect(error).toContain('answered for loop "evil\\u000aline 2');
    // eslint-disable-next-line no-control-regex -- asserts no control character got through
    expect(error).not.toMatch(/[\n\u001b\u202e]/);
    expect(error.length).toBeLessThan(400);
  });
});
