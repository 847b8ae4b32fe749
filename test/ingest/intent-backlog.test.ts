import { describe, expect, it } from "vitest";
import type { ControlIntent } from "../../src/generated/prisma/client";
import { advanceIntents } from "../../src/ingest/intents";
import type { EventRow } from "../../src/ingest/rows";
import { EMPTY_RUNTIME } from "../../src/ingest/stored-facts";
import { emptyEventFacts } from "../../src/lifecycle/event-facts";
import type { RunFacts } from "../../src/lifecycle/types";

// The dispatch of an intent and the poller race: evidence ingested while the intent was still REQUESTED
// (the poller skips those) must still reach it once it is DISPATCHED, through the stored backlog.
const now = new Date("2026-11-24T10:00:05Z");
const intent = (over: Partial<ControlIntent>): ControlIntent => ({
  id: "i1",
  runId: "r1",
  kind: "REJECT",
  stage: "DISPATCHED",
  idempotencyKey: "k-123456789",
  requestedBy: "op",
  note: null,
  resumeAfterApprove: false,
  traceId: "t",
  evidence: [],
  error: null,
  observedLine: 10,
  deadlineAt: new Date("2026-11-24T10:01:00Z"),
  requestedAt: new Date("2026-11-24T10:00:00Z"),
  dispatchedAt: new Date("2026-11-24T10:00:00Z"),
  acceptedAt: null,
  confirmedAt: null,
  endedAt: null,
  updatedAt: now,
  ...over,
});
const row = (line: number, name: string, status: string | null = null, payload: Record<string, unknown> | null = null): EventRow => ({
  line,
  timestamp: new Date("2026-11-24T10:00:01Z"),
  name,
  role: null,
  status,
  message: null,
  runtimeRunId: "x",
  iteration: 1,
  payload,
  text: JSON.stringify({ event: name }),
  packed: JSON.stringify({ event: name }),
});
const facts: RunFacts = {
  loopId: "demo-loop",
  now,
  runtime: EMPTY_RUNTIME,
  events: emptyEventFacts(),
  control: { cancelAcceptedAt: null, pauseConfirmedAt: null, startDispatchedAt: null },
  ingest: { status: "OK", error: null, regression: null },
  sprite: { status: "RUNNING" },
  thresholds: { staleAfterMs: 300_000 },
};

describe("intent evidence backlog", () => {
  it("offers stored lines after observedLine, not only this poll's", () => {
    const backlog = [row(11, "role_end"), row(12, "approval_decision", "rejected", { status: "rejected" })];
    const [u] = advanceIntents([intent({})], facts, [], now, backlog, 12);
    expect(u).toMatchObject({ id: "i1", expectedStage: "DISPATCHED", stage: "CONFIRMED", observedLine: 12 });
  });

  it("does not offer lines the intent has already seen", () => {
    const backlog = [row(9, "approval_decision", "rejected", { status: "rejected" })];
    const updates = advanceIntents([intent({ observedLine: 10 })], facts, [], now, backlog, 10);
    expect(updates).toEqual([]);
  });

  it("advances observedLine without a stage change when nothing proves anything yet", () => {
    const [u] = advanceIntents([intent({})], facts, [row(11, "role_end")], now, [], 11);
    expect(u).toMatchObject({ stage: "DISPATCHED", expectedStage: "DISPATCHED", observedLine: 11, stamps: [] });
  });
});
