import { promises as fsp } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AdapterError, IdempotencyStore } from "../../agent";
import { cleanupTempDirs, makeTempDir } from "./helpers";

afterAll(cleanupTempDirs);

describe("IdempotencyStore", () => {
  it("executes once per key, replays afterwards and after reopening", async () => {
    const dir = await makeTempDir();
    const file = path.join(dir, "state", "idempotency.json");
    const store = await IdempotencyStore.open(file);
    let runs = 0;
    const execute = async () => {
      runs += 1;
      return { status: 200, body: { ok: true, n: runs } };
    };
    const first = await store.run("k1", "fp", execute);
    const second = await store.run("k1", "fp", execute);
    expect(first).toMatchObject({ replayed: false, stored: { status: 200, body: { n: 1 } } });
    expect(second).toMatchObject({ replayed: true, stored: { body: { n: 1 } } });
    expect(runs).toBe(1);

    const reopened = await IdempotencyStore.open(file);
    expect(await reopened.run("k1", "fp", execute)).toMatchObject({ replayed: true, stored: { body: { n: 1 } } });
    expect(runs).toBe(1);
    expect((await fsp.readdir(path.dirname(file))).filter((name) => name.includes(".tmp-"))).toEqual([]);
  });

  it("concurrent duplicates share one in-flight execution", async () => {
    const store = await IdempotencyStore.open(path.join(await makeTempDir(), "i.json"));
    let runs = 0;
    const execute = async () => {
      runs += 1;
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { status: 200, body: { ok: true } };
    };
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => store.run("same", "fp", execute)));
    expect(runs).toBe(1);
    expect(outcomes.filter((o) => !o.replayed)).toHaveLength(1);
    expect(outcomes.filter((o) => o.replayed)).toHaveLength(7);
  });

  it("a key reused for a different request is a conflict", async () => {
    const store = await IdempotencyStore.open(path.join(await makeTempDir(), "i.json"));
    await store.run("k", "approve", async () => ({ status: 200, body: {} }));
    const error = await store.run("k", "cancel", async () => ({ status: 200, body: {} })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdapterError);
    expect((error as AdapterError).code).toBe("idempotency_key_conflict");
  });

  it("a thrown execution stores nothing", async () => {
    const store = await IdempotencyStore.open(path.join(await makeTempDir(), "i.json"));
    await expect(store.run("k", "fp", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(store.get("k")).toBeUndefined();
    expect(await store.run("k", "fp", async () => ({ status: 200, body: { ok: true } }))).toMatchObject({ replayed: false });
  });

  it("is bounded: the oldest keys are forgotten, on disk too", async () => {
    const file = path.join(await makeTempDir(), "i.json");
    const store = await IdempotencyStore.open(file, { maxEntries: 3 });
    for (const key of ["a", "b", "c", "d", "e"]) await store.run(key, "fp", async () => ({ status: 200, body: { key } }));
    expect(store.size).toBe(3);
    expect(store.get("a")).toBeUndefined();
    expect(store.get("e")).toBeDefined();
    const onDisk = JSON.parse(await fsp.readFile(file, "utf8")) as { version: number; entries: Array<{ key: string }> };
    expect(onDisk.version).toBe(1);
    expect(onDisk.entries.map((e) => e.key)).toEqual(["c", "d", "e"]);
    const reopened = await IdempotencyStore.open(file, { maxEntries: 2 });
    expect(reopened.size).toBe(2);
  });

  it("a corrupt store file is an error, not a silent reset", async () => {
    const file = path.join(await makeTempDir(), "i.json");
    await fsp.writeFile(file, "{oops");
    await expect(IdempotencyStore.open(file)).rejects.toMatchObject({ code: "invalid_artifact" });
  });
});
