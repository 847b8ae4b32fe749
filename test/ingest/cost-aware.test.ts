import { describe, expect, it } from "vitest";
import { IDLE_SPRITE_RECHECK_MS, sendNothing, statusOnly, type PollSituation } from "../../src/ingest/cost-aware";

// Cost-aware polling as a table: when the manager sends nothing, stops at the status, or reads the files.

const NOW = 1_000_000_000;
const idle: PollSituation = { transport: "SPRITES_API", keepAwake: false, dirty: false, transportFailures: 0, lastReadAt: NOW - 1_000, now: NOW };
const service = { ...idle, transport: "SPRITE_SERVICE" as const };

describe("statusOnly (after the status poll)", () => {
  it.each([
    ["SPRITES_API, idle run, awake Sprite, read recently", idle, "RUNNING", true],
    ["SPRITES_API, live or watched run", { ...idle, keepAwake: true }, "RUNNING", false],
    ["SPRITES_API, something changed", { ...idle, dirty: true }, "RUNNING", false],
    ["SPRITES_API, after a transport failure", { ...idle, transportFailures: 1 }, "RUNNING", false],
    ["SPRITES_API, the recheck is due", { ...idle, lastReadAt: NOW - IDLE_SPRITE_RECHECK_MS }, "RUNNING", false],
    ["a WARM Sprite is never read, even for a watched run", { ...idle, keepAwake: true }, "WARM", true],
    ["a COLD Sprite is never read, even when dirty", { ...idle, dirty: true }, "COLD", true],
    ["SPRITES_API, MISSING: go on (the run fails as sprite_missing)", idle, "MISSING", false],
    ["SPRITE_SERVICE decides before the status (sendNothing)", service, "RUNNING", false],
    ["LOCAL always reads", { ...idle, transport: "LOCAL" as const }, "RUNNING", false],
  ] as const)("%s", (_name, s, status, want) => expect(statusOnly(s, status)).toBe(want));
});

describe("sendNothing (before any request)", () => {
  it.each([
    ["SPRITE_SERVICE, idle run, last seen RUNNING, read recently", service, "RUNNING", true],
    ["SPRITE_SERVICE, live or watched run", { ...service, keepAwake: true }, "RUNNING", false],
    ["SPRITE_SERVICE, synced or an intent", { ...service, dirty: true }, "RUNNING", false],
    ["SPRITE_SERVICE, failing: keep asking", { ...service, transportFailures: 2 }, "RUNNING", false],
    ["SPRITE_SERVICE, last seen UNREACHABLE: keep asking", service, "UNREACHABLE", false],
    ["SPRITE_SERVICE, the recheck is due", { ...service, lastReadAt: NOW - IDLE_SPRITE_RECHECK_MS - 1 }, "RUNNING", false],
    ["SPRITES_API: its status read is not activity", idle, "RUNNING", false],
  ] as const)("%s", (_name, s, status, want) => expect(sendNothing(s, status)).toBe(want));
});
