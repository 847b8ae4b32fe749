import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";

// Trace ids: one per unit of work, from the caller when it sends one (X-Trace-Id, or the trace-id of a W3C
// traceparent), generated otherwise. The id travels in AsyncLocalStorage through everything the work does, so
// every log line of it carries the id (src/util/log.ts) without passing it by hand, and intents created by it
// store it (ControlIntent.traceId), whence it goes to the agent (x-trace-id) and into alert payloads.

const storage = new AsyncLocalStorage<{ traceId: string }>();

/** Printable, header-safe, bounded: what the agent accepts too (the agent's TRACE_ID_PATTERN is 1-256 printable). */
const TRACE_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

export const newTraceId = (): string => randomBytes(16).toString("hex");

/** The caller's trace id from request headers, or null when it sent none (or nothing usable). */
export function incomingTraceId(get: (name: string) => string | null | undefined): string | null {
  const explicit = get("x-trace-id")?.trim();
  if (explicit && TRACE_ID.test(explicit)) return explicit;
  const m = TRACEPARENT.exec(get("traceparent")?.trim().toLowerCase() ?? "");
  if (m && !/^0+$/.test(m[1])) return m[1];
  return null;
}

/** The caller's span id from a W3C traceparent (the parent of our request span), when its trace id is the one used. */
export function incomingParentSpanId(get: (name: string) => string | null | undefined): string | null {
  const explicit = get("x-trace-id")?.trim();
  if (explicit && TRACE_ID.test(explicit)) return null;
  const m = TRACEPARENT.exec(get("traceparent")?.trim().toLowerCase() ?? "");
  return m && !/^0+$/.test(m[1]) && !/^0+$/.test(m[2]) ? m[2] : null;
}

export function withTrace<T>(traceId: string, fn: () => T): T {
  return storage.run({ traceId }, fn);
}

export function currentTraceId(): string | null {
  return storage.getStore()?.traceId ?? null;
}

/** `x-trace-id` for outgoing calls made by traced work (Sprites API, agent), empty outside it. */
export function traceHeader(): Record<string, string> {
  const t = currentTraceId();
  return t ? { "x-trace-id": t } : {};
}
