import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterBus } from "../../src/cluster/routed-bus";
import type { Topics } from "../../src/pubsub/topics";
import type { RunningServer } from "../../src/server";
import { collect, gql, wsClient } from "../support/clients";
import { register, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// The three per-run subscriptions end the same typed way (src/graphql/subscription-end.ts): a last message that is a
// member of the field's union, NotFound (entity, id) when what was asked for does not exist, ResyncRequired
// (reason, last position) when the subscriber fell behind; then the stream completes. Never an error.

const NOWHERE = "00000000-0000-0000-0000-000000000000";
const ENDS = `__typename ... on NotFound { entity id } ... on ResyncRequired { resyncRequired reason lastSeq lastCursor }`;
const SUBS = {
  runLifecycleChanged: `subscription($f: RunLifecycleFilter) { runLifecycleChanged(filter: $f) { ${ENDS} } }`,
  runEvents: `subscription($id: ID!) { runEvents(runId: $id) { ${ENDS} } }`,
  controlIntentUpdated: `subscription($run: ID, $intent: ID) { controlIntentUpdated(runId: $run, intentId: $intent) { ${ENDS} } }`,
};

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

function freshRepo(): string {
  const repo = mkdtempSync(path.join(tmpdir(), "ops-ends-"));
  mkdirSync(path.join(repo, ".superloop", "loops", "demo-loop"), { recursive: true });
  return repo;
}

/** Subscribes over graphql-ws and waits for the stream to complete; returns every message it carried. */
async function untilComplete(query: string, variables: Record<string, unknown>, burst?: () => void | Promise<void>) {
  const client = wsClient(server.url);
  try {
    const sub = collect(client, query, variables);
    if (burst) await burst();
    await waitFor(
      async () => sub.done || sub.error !== null,
      (d) => d,
      20_000,
      "the subscription to complete",
    );
    expect(sub.error).toBeNull();
    return sub.items;
  } finally {
    await client.dispose();
  }
}

/** Straight to this replica's subscribers, as the cluster fan-out delivers (a publish may be routed through it). */
function deliver<K extends keyof Topics & string>(topic: K, key: string, message: Topics[K]) {
  const bus = server.app.bus;
  if (bus instanceof ClusterBus) bus.deliver(topic, key, message);
  else bus.publish(topic, key, message);
}

async function subscribed(topic: "run" | "intent", key: string) {
  await waitFor(
    async () => server.app.bus.listenerCount(topic, key),
    (n) => n >= 1,
    10_000,
    `a ${topic} subscriber on ${key}`,
  );
}

describe("every per-run subscription ends with a typed member, never an error", () => {
  it("the three subscription unions each hold NotFound and ResyncRequired", async () => {
    const r = await gql(server.url, `{ __schema { subscriptionType { fields { name type { ofType { name possibleTypes { name } } } } } } }`);
    const fields = (r.data!.__schema.subscriptionType.fields as { name: string; type: { ofType: { name: string; possibleTypes: { name: string }[] | null } } }[]).filter((f) => f.name in SUBS);
    expect(fields.map((f) => f.name).sort()).toEqual(Object.keys(SUBS).sort());
    for (const f of fields)
      expect(
        f.type.ofType.possibleTypes?.map((t) => t.name),
        f.name,
      ).toEqual(expect.arrayContaining(["NotFound", "ResyncRequired"]));
  });

  it.each([
    ["runLifecycleChanged", "an unknown run", SUBS.runLifecycleChanged, { f: { run: NOWHERE } }, { entity: "Run", id: NOWHERE }],
    ["runLifecycleChanged", "an unknown Sprite", SUBS.runLifecycleChanged, { f: { sprite: "no-such-sprite" } }, { entity: "Sprite", id: "no-such-sprite" }],
    ["runEvents", "an unknown run", SUBS.runEvents, { id: NOWHERE }, { entity: "Run", id: NOWHERE }],
    ["controlIntentUpdated", "an unknown run", SUBS.controlIntentUpdated, { run: NOWHERE }, { entity: "Run", id: NOWHERE }],
    ["controlIntentUpdated", "an unknown intent", SUBS.controlIntentUpdated, { intent: NOWHERE }, { entity: "ControlIntent", id: NOWHERE }],
  ])("%s on %s: one NotFound, then complete", async (field, _what, query, variables, expected) => {
    const items = await untilComplete(query, variables);
    expect(items).toEqual([{ data: { [field]: { __typename: "NotFound", ...expected } } }]);
  });

  it("runLifecycleChanged: a subscriber that falls behind gets ResyncRequired as its last message, then complete", async () => {
    const run = await register(server, "ends-lifecycle", freshRepo());
    const items = await untilComplete(SUBS.runLifecycleChanged, { f: { run: run.id } }, async () => {
      await subscribed("run", run.raw);
      // a burst far beyond the subscriber's buffer, faster than it can read
      for (let seq = 1000; seq < 6000; seq++) {
        deliver("run", run.raw, { runId: run.raw, spriteId: "s", seq, previousState: "IDLE", state: "IDLE", reason: `r${seq}`, lifecycleChanged: true, at: new Date() });
      }
    });
    expect(items.at(-1)).toEqual({
      data: { runLifecycleChanged: { __typename: "ResyncRequired", resyncRequired: true, reason: "subscriber_too_slow", lastSeq: expect.any(Number), lastCursor: null } },
    });
    expect(items.slice(0, -1).every((i) => i.data?.runLifecycleChanged.__typename === "RunLifecycleChange")).toBe(true);
  });

  it("runEvents: a subscriber that falls behind gets ResyncRequired with the cursor to resume from, then complete", async () => {
    const run = await register(server, "ends-events", freshRepo());
    const items = await untilComplete(SUBS.runEvents, { id: run.id }, async () => {
      await waitFor(
        async () => server.app.bus.listenerCount("events", run.raw),
        (n) => n >= 1,
        10_000,
        "an events subscriber",
      );
      for (let i = 1; i <= 5000; i++) deliver("events", run.raw, { runId: run.raw, seq: i, fromLine: i, toLine: i });
    });
    expect(items.at(-1)).toEqual({ data: { runEvents: { __typename: "ResyncRequired", resyncRequired: true, reason: "subscriber_too_slow", lastSeq: null, lastCursor: "0" } } });
  });

  it("controlIntentUpdated: a subscriber that falls behind gets ResyncRequired as its last message, then complete", async () => {
    const run = await register(server, "ends-intents", freshRepo());
    const items = await untilComplete(SUBS.controlIntentUpdated, { run: run.id }, async () => {
      await subscribed("intent", run.raw);
      for (let seq = 1; seq <= 5000; seq++) deliver("intent", run.raw, { intentId: NOWHERE, runId: run.raw, seq });
    });
    expect(items).toEqual([{ data: { controlIntentUpdated: { __typename: "ResyncRequired", resyncRequired: true, reason: "subscriber_too_slow", lastSeq: null, lastCursor: null } } }]);
  });
});
