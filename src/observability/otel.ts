import { AsyncLocalStorage } from "node:async_hooks";
import { createHash, randomBytes } from "node:crypto";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type IdGenerator } from "@opentelemetry/sdk-trace-base";
import type { Logger } from "../util/log";
import { currentTraceId } from "./trace";

// Optional OpenTelemetry traces, exported over OTLP/HTTP (JSON) when OTEL_EXPORTER_OTLP_ENDPOINT is set. A span's
// trace id IS the work's trace id (src/observability/trace.ts): a 32-hex id (generated, or from a W3C traceparent)
// is used as is, any other X-Trace-Id is hashed to 32 hex and kept verbatim as the attribute superloop.trace_id,
// so a trace in the tracing backend and the log lines, intents and alerts of that work carry the same id.

const HEX32 = /^[0-9a-f]{32}$/;

/** The OpenTelemetry trace id for one of our trace ids. */
export function otelTraceId(traceId: string): string {
  const lower = traceId.toLowerCase();
  if (HEX32.test(lower) && !/^0+$/.test(lower)) return lower;
  return createHash("sha256").update(traceId).digest("hex").slice(0, 32);
}

/** New spans take the current work's trace id instead of a random one. */
const idGenerator: IdGenerator = {
  generateTraceId: () => otelTraceId(currentTraceId() ?? randomBytes(16).toString("hex")),
  generateSpanId: () => randomBytes(8).toString("hex"),
};

interface Active {
  provider: BasicTracerProvider;
  tracer: Tracer;
}
let active: Active | null = null;
/** The span the current work runs in, so spans it opens nest under it (no OTel context manager needed). */
const spans = new AsyncLocalStorage<Span>();

export interface OtelSettings {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_SERVICE_NAME?: string | undefined;
}

/** Starts exporting when an endpoint is configured; the returned shutdown flushes what is buffered. */
export function startTracing(settings: OtelSettings, log: Logger, replicaId: string): { shutdown(): Promise<void> } | null {
  const endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return null;
  const exporter = new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, "")}/v1/traces` });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": settings.OTEL_SERVICE_NAME ?? "superloop-ops", "service.instance.id": replicaId }),
    idGenerator,
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 500, maxExportBatchSize: 512, maxQueueSize: 4096 })],
  });
  const mine: Active = { provider, tracer: provider.getTracer("superloop-ops") };
  active = mine;
  log.info("OpenTelemetry traces exported over OTLP", { endpoint });
  return {
    async shutdown() {
      if (active === mine) active = null;
      await provider.shutdown().catch((e: unknown) => log.warn("OpenTelemetry shutdown failed", { error: (e as Error).message }));
    },
  };
}

/**
 * Runs `fn` inside a span (when tracing is on): nested under the current span, or under the caller's span id
 * from its traceparent, or as the root of the work's trace. Errors mark the span and are rethrown.
 */
export async function inSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>, opts: { kind?: SpanKind; remoteParentSpanId?: string | null } = {}): Promise<T> {
  const a = active;
  if (!a) return fn();
  const traceId = currentTraceId();
  const parentSpan = spans.getStore();
  let parent: Context = ROOT_CONTEXT;
  if (parentSpan) parent = trace.setSpan(ROOT_CONTEXT, parentSpan);
  else if (traceId && opts.remoteParentSpanId) {
    parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: otelTraceId(traceId), spanId: opts.remoteParentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
  }
  const span = a.tracer.startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: { ...(traceId ? { "superloop.trace_id": traceId } : {}), ...attributes } }, parent);
  try {
    return await spans.run(span, fn);
  } catch (e) {
    span.recordException(e as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
    throw e;
  } finally {
    span.end();
  }
}

export { SpanKind };
