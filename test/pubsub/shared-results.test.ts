import { parse, subscribe, type ExecutionResult } from "graphql";
import { describe, expect, it } from "vitest";
import { schema } from "../../src/graphql/schema";
import { SharedResults } from "../../src/pubsub/shared-results";

// A shared runLifecycleChanged member that stops reading is told to resync like every other subscription: its
// buffer is dropped, it gets one last result (the operation's ResyncRequired), then completes; the members that
// keep reading lose nothing.

/** A source the test pushes into; the hub pumps it. */
function source<T>() {
  const queue: T[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  return {
    push(v: T) {
      queue.push(v);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    async *iterate(): AsyncGenerator<T> {
      for (;;) {
        while (queue.length) yield queue.shift()!;
        if (ended) return;
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe("SharedResults: a member that falls behind", () => {
  it("gets the resync result once, then completes; a reading member gets every result", async () => {
    const src = source<number>();
    const shared = new SharedResults<number | string>();
    let resyncs = 0;
    const resync = () => {
      resyncs++;
      return Promise.resolve("RESYNC");
    };
    const slow = (await shared.join("k", () => src.iterate(), resync)) as AsyncGenerator<number | string>;
    const fast = (await shared.join("k", () => src.iterate(), resync)) as AsyncGenerator<number | string>;
    const got: (number | string)[] = [];
    const reading = (async () => {
      for await (const v of fast) got.push(v);
    })();
    for (let i = 1; i <= 1500; i++) {
      src.push(i);
      if (i % 100 === 0) await settle();
    }
    await settle();
    expect(resyncs).toBe(1);
    expect(shared.subscribers).toBe(1);
    expect(await slow.next()).toEqual({ value: "RESYNC", done: false });
    expect(await slow.next()).toEqual({ value: undefined, done: true });
    src.end();
    await reading;
    expect(got).toEqual(Array.from({ length: 1500 }, (_, i) => i + 1));
  });

  it("a member already waiting when the resync result arrives gets it", async () => {
    const src = source<number>();
    const shared = new SharedResults<number | string>();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = (await shared.join(
      "k",
      () => src.iterate(),
      () => gate.then(() => "RESYNC"),
    )) as AsyncGenerator<number | string>;
    for (let i = 1; i <= 1001; i++) src.push(i);
    await settle();
    const next = slow.next();
    release();
    expect(await next).toEqual({ value: "RESYNC", done: false });
    expect(await slow.next()).toEqual({ value: undefined, done: true });
  });

  it("without a resync it just completes", async () => {
    const src = source<number>();
    const shared = new SharedResults<number>();
    const slow = (await shared.join("k", () => src.iterate())) as AsyncGenerator<number>;
    for (let i = 1; i <= 1001; i++) src.push(i);
    await settle();
    expect(await slow.next()).toEqual({ value: undefined, done: true });
  });

  it("runLifecycleChanged executed with resyncNow answers ResyncRequired at once (what the server hands a member that fell behind)", async () => {
    const document = parse("subscription { runLifecycleChanged { __typename ... on ResyncRequired { resyncRequired } } }");
    const result = await subscribe({ schema, document, contextValue: { resyncNow: true, principal: { name: "viewer", role: "viewer" } } });
    if (!(Symbol.asyncIterator in result)) throw new Error(`not a stream: ${JSON.stringify(result)}`);
    const first = await result[Symbol.asyncIterator]().next();
    expect((first.value as ExecutionResult).errors).toBeUndefined();
    expect((first.value as ExecutionResult).data).toEqual({ runLifecycleChanged: { __typename: "ResyncRequired", resyncRequired: true } });
  });
});
