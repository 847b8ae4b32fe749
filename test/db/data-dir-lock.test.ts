import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DataDirLockedError, holderIsLive, LOCK_FILE, lockDataDir, processStartTicks } from "../../src/db/data-dir-lock";

// The data-dir lock: one embedded manager per data directory; a lock whose holder is gone is taken over.

const host = os.hostname();
const holder = { pid: 4242, startTicks: 100, host, startedAt: "t" };

describe("holderIsLive (pure)", () => {
  it.each([
    ["holder process gone", { alive: false, startTicks: null, host }, false],
    ["same pid, same start time", { alive: true, startTicks: 100, host }, true],
    ["pid reused by a later process", { alive: true, startTicks: 999, host }, false],
    ["start time unknowable: trust the pid", { alive: true, startTicks: null, host }, true],
    ["another host (shared data dir): never stolen", { alive: false, startTicks: null, host: "elsewhere" }, true],
  ])("%s", (_name, now, live) => {
    expect(holderIsLive(holder, now)).toBe(live);
  });
});

describe("lockDataDir", () => {
  it("refuses a live holder, takes over a dead one, and releases only its own lock", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ops-lock-"));
    const file = path.join(dir, LOCK_FILE);

    // A live holder: a real process that is not us (the test runner that forked this worker).
    const live = { pid: process.ppid, startTicks: processStartTicks(process.ppid), host, startedAt: "2026-11-30T00:00:00.000Z" };
    writeFileSync(file, JSON.stringify(live));
    expect(() => lockDataDir(dir)).toThrow(DataDirLockedError);
    expect(() => lockDataDir(dir)).toThrow(`another superloop-ops manager (pid ${process.ppid}, started 2026-11-30T00:00:00.000Z) is using the data directory ${dir}`);

    // A dead holder (kill -9 left the file): taken over, and reported as such.
    const dead = spawnSync(process.execPath, ["-e", "0"]);
    const deadPid = dead.pid;
    writeFileSync(file, JSON.stringify({ pid: deadPid, startTicks: 1, host, startedAt: "x" }));
    const lock = lockDataDir(dir);
    expect(lock.tookOver?.pid).toBe(deadPid);
    expect(JSON.parse(readFileSync(file, "utf8")).pid).toBe(process.pid);
    lock.release();
    expect(existsSync(file)).toBe(false);

    // A garbled lock (a crash while writing it) does not block forever.
    writeFileSync(file, "{not json");
    const again = lockDataDir(dir);
    expect(again.tookOver).toBeNull();
    // A successor's lock is never removed by a late release of ours.
    writeFileSync(file, JSON.stringify({ ...live }));
    again.release();
    expect(existsSync(file)).toBe(true);
  });
});
