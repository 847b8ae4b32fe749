import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withTrace } from "../../src/observability/trace";
import type { RunningServer } from "../../src/server";
import { SpritesApiTransport } from "../../src/transports/sprites-api";
import { createLogger } from "../../src/util/log";
import { writeRecordingStub } from "../agent/agent-client";
import { startReceiver, type Receiver } from "../support/alert-receiver";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";
import { repoFromRecording } from "../support/fixtures";
import { waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// A trace id sent with requestControl on a SPRITES_API Sprite: on the intent, on the Sprites API requests the
// dispatch makes (x-trace-id), on every log line of the work (dispatch and the intent's later stages), and on
// the alert the intent raises when it fails (payload and header).

let server: RunningServer;
let api: FakeSpritesApi;
let rx: Receiver;
let repo: string;
const lines: string[] = [];

beforeAll(async () => {
  const stub = await writeRecordingStub();
  api = await startFakeSpritesApi();
  repo = repoFromRecording("approval");
  api.create("trace-api", { dir: repo });
  process.env.TEST_TRACE_SPRITES_TOKEN = api.token;
  rx = await startReceiver();
  const dir = mkdtempSync(path.join(tmpdir(), "ops-trace-api-"));
  const fleet = path.join(dir, "fleet.json");
  writeFileSync(fleet, JSON.stringify({ sprites: [], alerts: { sinks: { hook: { type: "webhook", url: `${rx.url}/hook` } }, routing: { routes: [{ category: "intent_failed", sinks: ["hook"] }] } } }));
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000", SPRITES_API_URL: api.url, SUPERLOOP_BIN: stub.bin, OPS_FLEET_FILE: fleet }, { log: createLogger("debug", (l) => lines.push(l)) });
});
afterAll(async () => {
  await server?.close();
  await api?.close();
  await rx?.close();
});

async function post(query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as { data?: Record<string, any> };
}

const REQUEST = `mutation($input: RequestControlInput!) { requestControl(input: $input) { __typename ... on ControlIntent { id traceId stage } ... on Error { message } } }`;
const traced = (trace: string) => lines.map((l) => JSON.parse(l) as { msg: string; traceId?: string; to?: string }).filter((l) => l.traceId === trace);

describe("trace ids through the Sprites API", () => {
  it("reach the Sprites API request headers, the intent, the log lines and the alert the failed intent raises", async () => {
    const reg = await post(`mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`, {
      i: { name: "trace-api", transport: "SPRITES_API", spritesApiTokenEnv: "TEST_TRACE_SPRITES_TOKEN", repoPath: repo, loopId: "demo-loop" },
    });
    const runId = reg.data!.registerSprite.run.id as string;
    const raw = Buffer.from(runId, "base64").toString().split(":").slice(1).join(":");
    await waitFor(
      async () => (await server.app.ingestor.syncRun(raw), (await server.app.db.run.findUniqueOrThrow({ where: { id: raw } })).state),
      (s) => s === "AWAITING_APPROVAL",
      10_000,
      "AWAITING_APPROVAL",
    );

    // The stub superloop refuses any command whose arguments contain FAIL: the intent ends FAILED.
    const trace = "trace-sprites-api-0042";
    const before = api.requests.length;
    const r = await post(REQUEST, { input: { runId, intent: "REJECT", note: "FAIL on purpose" } }, { "X-Trace-Id": trace });
    expect(r.data!.requestControl).toMatchObject({ __typename: "ControlIntent", traceId: trace });
    const intentId = r.data!.requestControl.id as string;
    const intent = await waitFor(
      () => server.app.db.controlIntent.findFirstOrThrow({ where: { traceId: trace } }),
      (i) => i.stage === "FAILED",
      10_000,
      "the intent to fail",
    );
    expect(intent.id).toBe(Buffer.from(intentId, "base64").toString().split(":").slice(1).join(":"));

    // Every Sprites API call of the dispatch carried the trace id: the exec of the superloop command among them.
    const calls = api.requests.slice(before).filter((q) => q.traceId === trace);
    expect(calls.some((q) => q.method === "POST" && q.path.endsWith("/exec") && q.cmds.some((c) => c.includes("reject")))).toBe(true);
    // Earlier work (the registration's own trace, the poller) does not carry it.
    expect(api.requests.slice(0, before).every((q) => q.traceId !== trace)).toBe(true);

    // Log lines of the work: the dispatch and the intent's end.
    await waitFor(
      async () => traced(trace),
      (t) => t.some((l) => l.msg === "control intent advanced" && l.to === "FAILED") || t.some((l) => l.msg === "control intent dispatched"),
      5000,
      "traced log lines",
    );
    expect(traced(trace).map((l) => l.msg)).toContain("control intent dispatched");

    // The alert for the failed intent carries the same trace id.
    await rx.waitFor((q) => q.some((x) => x.path === "/hook"), 5000, "the intent_failed alert");
    const alert = rx.requests.find((x) => x.path === "/hook")!;
    expect(alert.json).toMatchObject({ condition: "intent_failed", traceId: trace });
    expect(alert.headers["x-trace-id"]).toBe(trace);
  });

  it("envelopes read from the Sprites API inside traced work carry its trace id; outside it, none", async () => {
    const t = new SpritesApiTransport({ baseUrl: api.url, spriteName: "trace-api", tokenEnv: "TEST_TRACE_SPRITES_TOKEN", superloopBin: "superloop.sh" });
    const target = { runId: "trace-envelopes", spriteName: "trace-api", repoPath: repo, loopId: "demo-loop" };
    const zero = { line: 0, byteOffset: 0, lastLineHash: null };
    const traced = await withTrace("trace-envelope-9", () => t.readEvents(target, zero, 5));
    expect(traced.envelopes.length).toBeGreaterThan(0);
    expect(traced.envelopes.every((e) => e.traceId === "trace-envelope-9")).toBe(true);
    const plain = await t.readEvents({ ...target, runId: "untraced-envelopes" }, zero, 5);
    expect(plain.envelopes.every((e) => e.traceId === undefined)).toBe(true);
    await t.close?.();
  });
});
