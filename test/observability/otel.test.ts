import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { otelTraceId } from "../../src/observability/otel";
import type { RunningServer } from "../../src/server";
import { writeRecordingStub } from "../agent/agent-client";
import { startReceiver, type Receiver } from "../support/alert-receiver";
import { repoFromRecording } from "../support/fixtures";
import { register, sync } from "../support/runs";
import { startTestServer } from "../support/server";

// OpenTelemetry traces over OTLP/HTTP to a real local receiver (OTEL_EXPORTER_OTLP_ENDPOINT): the request span
// carries the request's trace id (and the caller's span as parent for a traceparent), the control dispatch it
// causes is a child span in the same trace.

let server: RunningServer;
let rx: Receiver;

beforeAll(async () => {
  const stub = await writeRecordingStub();
  rx = await startReceiver();
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000", SUPERLOOP_BIN: stub.bin, OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: "ops-otel-test" });
});
afterAll(async () => {
  await server?.close();
  await rx?.close();
});

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: { stringValue?: string } }[];
}
function spans(): (OtlpSpan & { service: string | undefined })[] {
  return rx.requests
    .filter((r) => r.path === "/v1/traces")
    .flatMap((r) =>
      (r.json.resourceSpans as { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[]).flatMap((rs) =>
        rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => ({ ...s, service: rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue }))),
      ),
    );
}
const attr = (s: OtlpSpan, key: string) => s.attributes.find((a) => a.key === key)?.value.stringValue;

async function post(query: string, variables: Record<string, unknown>, headers: Record<string, string>) {
  const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as { data?: Record<string, any> };
}

describe("OpenTelemetry over OTLP", () => {
  it("a request with a traceparent is a server span in that trace, child of the caller's span", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    await post(`{ __typename }`, {}, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    await rx.waitFor(() => spans().some((s) => s.traceId === traceId), 10_000, "the exported span");
    const s = spans().find((x) => x.traceId === traceId)!;
    expect(s).toMatchObject({ name: "POST /graphql", parentSpanId: "00f067aa0ba902b7", service: "ops-otel-test" });
    expect(attr(s, "superloop.trace_id")).toBe(traceId);
    expect(rx.requests.find((r) => r.path === "/v1/traces")!.headers["content-type"]).toContain("application/json");
  });

  it("requestControl's trace id: the request span and the control dispatch under it share it; a non-hex id is kept as an attribute", async () => {
    const run = await register(server, "otel-1", repoFromRecording("approval"));
    expect((await sync(server, run.id)).state).toBe("AWAITING_APPROVAL");
    const trace = "otel-trace-from-caller-7";
    const r = await post(
      `mutation($input: RequestControlInput!) { requestControl(input: $input) { __typename ... on ControlIntent { traceId } } }`,
      { input: { runId: run.id, intent: "APPROVE", note: "traced" } },
      { "X-Trace-Id": trace },
    );
    expect(r.data!.requestControl).toMatchObject({ traceId: trace });
    const id = otelTraceId(trace);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    await rx.waitFor(() => spans().filter((s) => s.traceId === id).length >= 2, 10_000, "request and dispatch spans");
    const mine = spans().filter((s) => s.traceId === id);
    const request = mine.find((s) => s.name === "POST /graphql")!;
    const dispatch = mine.find((s) => s.name === "control.dispatch")!;
    expect(dispatch.parentSpanId).toBe(request.spanId);
    expect(attr(request, "superloop.trace_id")).toBe(trace);
    expect(attr(dispatch, "superloop.intent_kind")).toBe("APPROVE");
    expect(attr(dispatch, "superloop.transport")).toBe("LOCAL");
  });
});
