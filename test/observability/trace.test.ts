import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentServer, type AgentServer } from "../../agent";
import { incomingTraceId } from "../../src/observability/trace";
import type { RunningServer } from "../../src/server";
import { createLogger } from "../../src/util/log";
import { SIM } from "../control/helpers";
import { repoFromRecording } from "../support/fixtures";
import { startTestServer } from "../support/server";
import { startFaultProxy, type FaultProxy } from "../sprites/support/fault-proxy";

// A trace id sent with requestControl is the intent's trace id, reaches the agent as x-trace-id and marks the
// log lines of the work it caused; without one, a fresh id is generated and echoed.

let server: RunningServer;
let agent: AgentServer;
let proxy: FaultProxy;
const lines: string[] = [];

beforeAll(async () => {
  process.env.TEST_TRACE_AGENT_TOKEN = "trace-agent-secret";
  agent = createAgentServer({ repoPath: repoFromRecording("approval"), token: "trace-agent-secret", port: 0, superloopBin: SIM });
  const { port } = await agent.listen();
  proxy = await startFaultProxy(`http://127.0.0.1:${port}`);
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "500" }, { log: createLogger("debug", (l) => lines.push(l)) });
});
afterAll(async () => {
  await server?.close();
  await proxy?.close();
  await agent?.close();
});

async function post(query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query, variables }) });
  return { header: res.headers.get("x-trace-id"), body: (await res.json()) as { data?: Record<string, any>; errors?: unknown } };
}

describe("trace ids", () => {
  it("parses X-Trace-Id and W3C traceparent; rejects junk", () => {
    const h = (m: Record<string, string>) => (n: string) => m[n] ?? null;
    expect(incomingTraceId(h({ "x-trace-id": "abc-123" }))).toBe("abc-123");
    expect(incomingTraceId(h({ traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }))).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(incomingTraceId(h({ traceparent: "00-00000000000000000000000000000000-b7ad6b7169203331-01" }))).toBeNull();
    expect(incomingTraceId(h({ "x-trace-id": "bad id\n" }))).toBeNull();
    expect(incomingTraceId(h({}))).toBeNull();
  });

  it("requestControl's X-Trace-Id is on the intent, in the agent's request headers and in the log lines", async () => {
    const reg = await post(`mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename ... on RegisterSpritePayload { run { id state } } ... on Error { message } } }`, {
      i: { name: "traced", transport: "SPRITE_SERVICE", repoPath: "/ignored/by/agent", loopId: "demo-loop", agentUrl: proxy.url, agentTokenEnv: "TEST_TRACE_AGENT_TOKEN" },
    });
    const runId = reg.body.data!.registerSprite.run.id as string;
    for (let i = 0; i < 200; i++) {
      const r = await post(`query($id: ID!) { run(id: $id) { ... on Run { state } } }`, { id: runId });
      if (r.body.data!.run.state === "AWAITING_APPROVAL") break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const trace = "trace-from-caller-0001";
    const r = await post(
      `mutation($input: RequestControlInput!) { requestControl(input: $input) { __typename ... on ControlIntent { id traceId } ... on Error { message } } }`,
      { input: { runId, intent: "APPROVE", note: "traced approve" } },
      { "X-Trace-Id": trace },
    );
    expect(r.header).toBe(trace);
    expect(r.body.data!.requestControl).toMatchObject({ __typename: "ControlIntent", traceId: trace });
    const control = proxy.seen.filter((s) => s.method === "POST");
    expect(control.length).toBeGreaterThan(0);
    expect(control.every((s) => s.traceId === trace)).toBe(true);
    const traced = lines.map((l) => JSON.parse(l) as { msg: string; traceId?: string }).filter((l) => l.traceId === trace);
    expect(traced.map((l) => l.msg)).toContain("control intent dispatched");
  });

  it("a request without a trace id gets a generated one, echoed in the response", async () => {
    const a = await post(`{ __typename }`, {});
    const b = await post(`{ __typename }`, {}, { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
    expect(a.header).toMatch(/^[0-9a-f]{32}$/);
    expect(b.header).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
  });
});
