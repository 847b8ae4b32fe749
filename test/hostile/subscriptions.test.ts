import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { collect, sse, wsClient } from "../support/clients";
import { repoFromRecording } from "../support/fixtures";
import { register, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// Issue 13 item 11: a subscription whose client is gone (SSE aborted, socket closed) is freed at once, not at
// the next matching event (which may never come): with churn, the count returns to its baseline.

let server: RunningServer;
let runId: string;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "1000" });
  runId = (await register(server, "subs", repoFromRecording("complete"))).id;
});
afterAll(async () => {
  await server?.close();
});

async function subscriptions(): Promise<number> {
  const r = await fetch(server.url.replace("/graphql", "/ready"));
  return ((await r.json()) as { checks: { subscriptions: number } }).checks.subscriptions;
}

const QUERIES = () =>
  [
    [`subscription($id: ID!) { runEvents(runId: $id) { ... on RunEventsBatch { cursor } } }`, { id: runId }],
    [`subscription($id: ID!) { runLifecycleChanged(filter: { run: $id }) { __typename } }`, { id: runId }],
    [`subscription { controlIntentUpdated { ... on ControlIntent { id } } }`, {}],
    [`subscription { interventionsChanged { ... on InterventionChange { runId } } }`, {}],
  ] as const;

describe("subscriptions are freed as soon as their client is gone", () => {
  it("SSE churn: 5 rounds of 12 streams opened and aborted, the count returns to its baseline each time", async () => {
    const baseline = await subscriptions();
    for (let round = 0; round < 5; round++) {
      const streams = Array.from({ length: 12 }, (_, i) => {
        const [q, v] = QUERIES()[i % 4];
        return sse(server.url, q, v);
      });
      await Promise.all(streams.map((s) => s.ready));
      await waitFor(subscriptions, (n) => n >= baseline + 12, 10_000, "12 live subscriptions");
      for (const s of streams) s.close();
      await waitFor(subscriptions, (n) => n === baseline, 10_000, `round ${round}: back to ${baseline}`);
    }
  });

  it("graphql-ws: a closed socket frees every subscription it carried", async () => {
    const baseline = await subscriptions();
    const client = wsClient(server.url);
    const subs = QUERIES().flatMap(([q, v]) => [collect(client, q, v), collect(client, q, v)]);
    await waitFor(subscriptions, (n) => n >= baseline + subs.length, 10_000, "8 live subscriptions");
    await client.dispose();
    await waitFor(subscriptions, (n) => n === baseline, 10_000, "back to the baseline after the socket closed");
    // and a socket cut without a goodbye (no complete messages, no close frame)
    const raw = new WebSocket(server.url.replace(/^http/, "ws"), "graphql-transport-ws");
    await new Promise<void>((resolve) => raw.once("open", () => resolve()));
    raw.send(JSON.stringify({ type: "connection_init", payload: {} }));
    await new Promise<void>((resolve) => raw.once("message", () => resolve()));
    for (let i = 0; i < 4; i++) raw.send(JSON.stringify({ id: `s${i}`, type: "subscribe", payload: { query: QUERIES()[i][0], variables: QUERIES()[i][1] } }));
    await waitFor(subscriptions, (n) => n >= baseline + 4, 10_000, "4 live subscriptions on the raw socket");
    raw.terminate();
    await waitFor(subscriptions, (n) => n === baseline, 10_000, "back to the baseline after the socket was cut");
    expect(await subscriptions()).toBe(baseline);
  });
});
