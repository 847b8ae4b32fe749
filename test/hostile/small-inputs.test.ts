import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql, wsClient, collect } from "../support/clients";
import { repoFromRecording } from "../support/fixtures";
import { register } from "../support/runs";
import { startTestServer } from "../support/server";

// Issue 13 item 13 (inputs): a NUL in a note and a cursor above 2^31 are validation errors naming the
// argument, not masked "Unexpected error" 500s.

let server: RunningServer;
let runId: string;
beforeAll(async () => {
  server = await startTestServer();
  runId = (await register(server, "small", repoFromRecording("approval"))).id;
});
afterAll(async () => {
  await server?.close();
});

describe("hostile small inputs are validation errors", () => {
  it("a NUL in a note: ValidationError on `note` for control and cursor resets", async () => {
    const cancel = await gql(server.url, `mutation($id: ID!, $n: String) { cancelRun(runId: $id, note: $n) { __typename ... on ValidationError { issues { path message } } } }`, {
      id: runId,
      n: "bad\u0000note",
    });
    expect(cancel.errors).toBeUndefined();
    expect(cancel.data!.cancelRun.__typename).toBe("ValidationError");
    expect(cancel.data!.cancelRun.issues).toContainEqual({ path: ["note"], message: expect.stringMatching(/NUL/) });
    const reset = await gql(server.url, `mutation($id: ID!, $n: String) { resetRunCursor(runId: $id, mode: REPLAY_FROM_START, note: $n) { __typename ... on ValidationError { issues { path } } } }`, {
      id: runId,
      n: "x\u0000",
    });
    expect(reset.errors).toBeUndefined();
    expect(reset.data!.resetRunCursor.__typename).toBe("ValidationError");
  });

  it("a cursor above 2^31 is refused by name, over HTTP and graphql-ws", async () => {
    const r = await gql(server.url, `query($id: ID!) { run(id: $id) { ... on Run { events(first: 5, after: "3000000000") { edges { cursor } } } } }`, { id: runId });
    expect(r.errors?.[0]?.message).toMatch(/invalid event cursor .*at most 2147483647/);
    expect(r.errors?.[0]?.message).not.toMatch(/Unexpected error/);
    const ok = await gql(server.url, `query($id: ID!) { run(id: $id) { ... on Run { events(first: 5, after: "2147483647") { edges { cursor } } } } }`, { id: runId });
    expect(ok.errors).toBeUndefined();
    const client = wsClient(server.url);
    try {
      const sub = collect(client, `subscription($id: ID!) { runEvents(runId: $id, after: "9999999999") { ... on RunEventsBatch { cursor } } }`, { id: runId });
      const first = await sub.next(1).catch((e: unknown) => e);
      const text = JSON.stringify(first instanceof Error ? first.message : first);
      expect(text).toMatch(/after must be a line number/);
    } finally {
      await client.dispose();
    }
  });
});
