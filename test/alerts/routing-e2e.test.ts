import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { startReceiver, type Receiver } from "../support/alert-receiver";
import { gql } from "../support/clients";
import { FIXTURES, repoFromRecording } from "../support/fixtures";
import { register, sync } from "../support/runs";
import { startTestServer } from "../support/server";

// Label selectors, reminders and quiet hours through a real server and a real receiver: runs change state
// through real ingest, the dispatcher routes. Quiet hours are judged by a fake wall clock (StartOptions.
// alertsWallClock) set two seconds before the window ends, so the deferred alert goes out within the test.

let server: RunningServer;
let rx: Receiver;
/** fake wall clock = real time + offset */
let offsetMs = 0;

beforeAll(async () => {
  rx = await startReceiver();
  const dir = mkdtempSync(path.join(tmpdir(), "ops-alerts-routing-"));
  const file = path.join(dir, "fleet.json");
  writeFileSync(
    file,
    JSON.stringify({
      sprites: [],
      alerts: {
        sinks: {
          labeled: { type: "webhook", url: `${rx.url}/labeled` },
          remind: { type: "webhook", url: `${rx.url}/remind` },
          quiet: { type: "webhook", url: `${rx.url}/quiet` },
        },
        routing: {
          routes: [
            { category: "run_failed", labels: { team: "blue" }, sinks: ["labeled"] },
            // 0.01 min = 600 ms: a few reminders within a second or two
            { category: "awaiting_approval", sprites: ["remind-*"], sinks: ["remind"], reminderMinutes: 0.01 },
            { category: ["awaiting_approval", "run_failed"], sprites: ["quiet-*"], sinks: ["quiet"], quietHours: { start: "22:00", end: "07:00", allowSeverity: "critical" } },
          ],
        },
      },
    }),
  );
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000", OPS_FLEET_FILE: file }, { alertsWallClock: () => new Date(Date.now() + offsetMs) });
});
afterAll(async () => {
  await server?.close();
  await rx?.close();
});

const at = (p: string) => rx.requests.filter((r) => r.path === p);

/** A Sprite registered on an empty repo (nothing to alert about), labelled, then given a recording. */
async function labelledRun(name: string, labels: string[], recording: string) {
  const repo = mkdtempSync(path.join(tmpdir(), "ops-alerts-routing-repo-"));
  mkdirSync(path.join(repo, ".superloop"));
  const run = await register(server, name, repo);
  await server.app.pool.query(`UPDATE "Sprite" SET labels = $2::text[] WHERE name = $1`, [name, labels]);
  cpSync(path.join(FIXTURES, recording, ".superloop"), path.join(repo, ".superloop"), { recursive: true });
  return run;
}

describe("label selectors", () => {
  it("a route with labels {team: blue} hears a blue Sprite's failure and not a red one's", async () => {
    const red = await labelledRun("lab-red", ["team=red"], "failure");
    const blue = await labelledRun("lab-blue", ["team=blue", "tier=prod"], "failure");
    expect((await sync(server, red.id)).state).toBe("FAILED");
    expect((await sync(server, blue.id)).state).toBe("FAILED");
    await rx.waitFor(() => at("/labeled").length >= 1, 5000, "the blue alert");
    await new Promise((r) => setTimeout(r, 500));
    expect(at("/labeled").map((r) => [r.json.condition, r.json.sprite.name])).toEqual([["run_failed", "lab-blue"]]);
  });
});

describe("reminders", () => {
  it("an open condition is re-sent as `reminder` after the route's interval, same dedup key", async () => {
    const run = await register(server, "remind-1", repoFromRecording("approval"));
    expect((await sync(server, run.id)).state).toBe("AWAITING_APPROVAL");
    await rx.waitFor(() => at("/remind").filter((r) => r.json.event === "reminder").length >= 2, 10_000, "two reminders");
    const got = at("/remind").map((r) => r.json);
    expect(got[0]).toMatchObject({ event: "trigger", condition: "awaiting_approval" });
    expect(new Set(got.map((j) => j.dedupKey))).toEqual(new Set([`superloop-ops:run:${run.raw}:awaiting_approval`]));
    // spaced by the interval, not a burst
    const times = at("/remind").map((r) => r.at);
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(500);
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(500);
  });
});

describe("quiet hours", () => {
  it("a warning inside the window is deferred to its end (not dropped); a critical one goes out at once", async () => {
    // The fake clock reads 06:59:57 UTC now: inside 22:00-07:00, three seconds before its end.
    const fakeNow = new Date();
    fakeNow.setUTCHours(6, 59, 57, 0);
    offsetMs = fakeNow.getTime() - Date.now();
    const windowEndsReal = Date.now() + 3000;
    const warn = await register(server, "quiet-warn", repoFromRecording("approval"));
    const crit = await register(server, "quiet-crit", repoFromRecording("failure"));
    expect((await sync(server, warn.id)).state).toBe("AWAITING_APPROVAL");
    expect((await sync(server, crit.id)).state).toBe("FAILED");
    await rx.waitFor(() => at("/quiet").length >= 1, 5000, "the critical alert");
    expect(at("/quiet").map((r) => [r.json.condition, r.json.severity])).toEqual([["run_failed", "critical"]]);
    expect(at("/quiet")[0].at).toBeLessThan(windowEndsReal);
    const rows = (await gql(server.url, `{ alertDeliveries(sink: "quiet") { condition attempts nextAttemptAt } }`)).data!.alertDeliveries as {
      condition: string;
      attempts: number;
      nextAttemptAt: string;
    }[];
    const waiting = rows.filter((d) => d.condition === "awaiting_approval");
    expect(waiting).toEqual([{ condition: "awaiting_approval", attempts: 0, nextAttemptAt: expect.any(String) }]);
    // deferred to the end of the window (07:00:00 on the fake clock = windowEndsReal), within clock rounding
    expect(Math.abs(Date.parse(waiting[0].nextAttemptAt) - windowEndsReal)).toBeLessThan(1000);
    await rx.waitFor(() => at("/quiet").length >= 2, 10_000, "the deferred warning");
    const deferred = at("/quiet")[1];
    expect(deferred.json).toMatchObject({ event: "trigger", condition: "awaiting_approval", severity: "warning" });
    expect(deferred.at).toBeGreaterThanOrEqual(windowEndsReal - 1000);
    offsetMs = 0;
  });
});
