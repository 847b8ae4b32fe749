import { createHash } from "node:crypto";
import {
  AdapterError,
  agentIncompatibility,
  ControlResponseSchema,
  ErrorResponseSchema,
  HealthResponseSchema,
  type ControlResult,
  type EventCursor,
  type EventsPage,
  type RuntimeFacts,
} from "../contract";
import { adapterErrorFromResponse, eventsPageFromResponse, eventsRequestPath, runtimeFactsFromResponse } from "./agent-client";
import { tokenFromEnv } from "./config";
import { peerText } from "../util/peer-text";
import { AwakeMeter } from "./awake-meter";
import { backoffMs, DEFAULT_RETRY, describeHttpError, parseJsonBody, retryableStatus, sendWithRetry, sleep, type HttpResponse, type RetryPolicy } from "./http";
import { TransportError, type ControlRequest, type RunTarget, type SpriteObservation, type Transport, type WatchOptions } from "./transport";

// SPRITE_SERVICE: the agent (agent/agent-server.ts) runs inside the Sprite next to the runtime and serves
// its readers over HTTP. This side turns its answers back into exactly what the local transport gets
// in-process, through the client-side protocol helpers (agent-client.ts), and fails closed on anything else.

export interface SpriteServiceOptions {
  agentUrl: string;
  /** Name of the environment variable holding the agent token; unset = the agent is open (loopback). */
  tokenEnv?: string | undefined;
  connectTimeoutMs?: number;
  /** Total time for a read, on top of any long-poll wait. */
  requestTimeoutMs?: number;
  /** Total time for a control request: the agent waits for the superloop command (cancel waits ~10 s). */
  controlTimeoutMs?: number;
  retry?: RetryPolicy;
  /** How long the agent holds the watch() long poll open. */
  longPollMs?: number;
  /** Every address the agent's host resolves to is checked (SSRF, DNS rebinding); null = allowed. */
  refuseAddress?: (address: string, host: string) => string | null;
  /** Backoff bounds of the watch loop while the agent is down. */
  watchBackoff?: { baseMs: number; maxMs: number };
}

interface FactsAnswer {
  at: number;
  facts: RuntimeFacts;
  fingerprint: string;
}

/** How long a facts answer fetched by fingerprint() serves the readFacts() of the same poll. */
const FACTS_REUSE_MS = 1_000;

/** Only numbers and booleans of an agent's error details travel on (line counts, statuses): no peer text. */
function safeDetails(details: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(details).filter(([, v]) => typeof v === "number" || typeof v === "boolean"));
}

/**
 * The agent's error with its text withheld: the code (one of the agent's fixed codes) and the message's
 * length. The agent is whatever an admin's agentUrl points at; its words must not reach viewer-readable fields.
 */
function withheld(e: AdapterError): AdapterError {
  return new AdapterError(e.code, `agent reported ${e.code} (${e.message.length}-character message withheld)`, safeDetails(e.details));
}

function withheldPage(page: EventsPage): EventsPage {
  if (!page.error) return page;
  const { code, line, message } = page.error;
  return { ...page, error: { ...page.error, message: `agent reported ${code}${line !== undefined ? ` at line ${line}` : ""} (${message.length}-character message withheld)` } };
}

function invalidPayload(message: string, details: Record<string, unknown> = {}): TransportError {
  return new TransportError("invalid_payload", message, false, details);
}

export class SpriteServiceTransport implements Transport {
  readonly kind = "SPRITE_SERVICE" as const;
  private readonly base: string;
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly controlTimeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly longPollMs: number;
  private readonly facts = new Map<string, FactsAnswer>();
  /** Where each run's last complete read ended: the watch loop long-polls after it. */
  private readonly ends = new Map<string, EventCursor>();
  private readonly watchers = new Set<AbortController>();
  /** Every request reaches the Sprite through its URL: activity that keeps it awake (a long poll, all along). */
  private readonly awake = new AwakeMeter();
  /** The agent's protocol as of its last /healthz: null = accepted; control is refused otherwise. */
  private incompatible: string | null = null;

  constructor(private readonly opts: SpriteServiceOptions) {
    this.base = opts.agentUrl.replace(/\/+$/, "");
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15_000;
    this.controlTimeoutMs = opts.controlTimeoutMs ?? 150_000;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.longPollMs = opts.longPollMs ?? 25_000;
  }

  private destination(): { refuseAddress?: (address: string, host: string) => string | null } {
    return this.opts.refuseAddress ? { refuseAddress: this.opts.refuseAddress } : {};
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const token = tokenFromEnv(this.opts.tokenEnv);
    if (!token.ok) throw new TransportError("token_missing", token.message, false);
    return { accept: "application/json", ...(token.token !== null ? { authorization: `Bearer ${token.token}` } : {}), ...extra };
  }

  private async send(...args: Parameters<typeof sendWithRetry>): Promise<HttpResponse> {
    this.awake.touch();
    try {
      return await sendWithRetry(...args);
    } finally {
      this.awake.touch(); // a long poll held the connection open until now
    }
  }

  takeAwakeMs(): number {
    return this.awake.take();
  }

  /** A GET with retries; error statuses the caller cannot interpret (401, 5xx, 429...) become TransportErrors. */
  private async get(path: string, opts: { timeoutMs?: number; signal?: AbortSignal; retry?: RetryPolicy } = {}): Promise<HttpResponse> {
    const res = await this.send(
      {
        url: new URL(this.base + path),
        ...this.destination(),
        headers: this.headers(),
        connectTimeoutMs: this.connectTimeoutMs,
        totalTimeoutMs: opts.timeoutMs ?? this.requestTimeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      opts.retry ?? this.retry,
      { replayable: true },
    );
    this.raiseForStatus(res);
    return res;
  }

  private raiseForStatus(res: HttpResponse): void {
    if (res.status === 401 || res.status === 403) {
      const which = this.opts.tokenEnv ? `the token in ${this.opts.tokenEnv}` : "no token (agentTokenEnv is not set)";
      throw new TransportError("unauthorized", `agent refused ${which}: ${describeHttpError(res)}`, false, { status: res.status });
    }
    if (retryableStatus(res.status)) {
      throw new TransportError("http_error", `agent answered ${describeHttpError(res)}`, true, { status: res.status });
    }
  }

  async spriteStatus(): Promise<SpriteObservation> {
    try {
      const res = await this.send(
        { url: new URL(`${this.base}/healthz`), ...this.destination(), headers: { accept: "application/json" }, connectTimeoutMs: this.connectTimeoutMs, totalTimeoutMs: this.requestTimeoutMs },
        { ...this.retry, attempts: Math.min(this.retry.attempts, 2) },
        { replayable: true },
      );
      if (res.status !== 200) return { status: "UNREACHABLE", detail: `GET /healthz: ${describeHttpError(res)}` };
      const body = HealthResponseSchema.safeParse(parseJsonBody(res, "GET /healthz"));
      if (!body.success) return { status: "UNREACHABLE", detail: "GET /healthz did not answer ok: true" };
      this.incompatible = agentIncompatibility(body.data);
      return this.incompatible ? { status: "RUNNING", incompatible: this.incompatible } : { status: "RUNNING" };
    } catch (e) {
      return { status: "UNREACHABLE", detail: (e as Error).message };
    }
  }

  private async fetchFacts(target: RunTarget): Promise<FactsAnswer> {
    const res = await this.get(`/ops/facts?${new URLSearchParams({ loopId: target.loopId }).toString()}`);
    const body = parseJsonBody(res, "GET /ops/facts");
    let parsed;
    try {
      parsed = runtimeFactsFromResponse(res.status, body);
    } catch (e) {
      if (e instanceof AdapterError && e.code === "remote_error") throw invalidPayload(`GET /ops/facts: ${e.message}`);
      if (e instanceof AdapterError) throw withheld(e);
      throw e;
    }
    const source = (body as { source?: { loopId?: unknown } }).source;
    if (source?.loopId !== target.loopId) {
      throw invalidPayload(`GET /ops/facts answered for loop ${peerText(source?.loopId)}, expected ${peerText(target.loopId, 128)}`);
    }
    const fingerprint = createHash("sha256").update(JSON.stringify(parsed)).digest("hex");
    return { at: Date.now(), facts: parsed.facts, fingerprint };
  }

  /** The facts answer doubles as the change detector (it carries the events file's size and mtime). */
  async fingerprint(target: RunTarget): Promise<string> {
    const answer = await this.fetchFacts(target);
    this.facts.set(target.runId, answer);
    return answer.fingerprint;
  }

  async readFacts(target: RunTarget): Promise<RuntimeFacts> {
    const cached = this.facts.get(target.runId);
    this.facts.delete(target.runId);
    if (cached && Date.now() - cached.at < FACTS_REUSE_MS) return cached.facts;
    return (await this.fetchFacts(target)).facts;
  }

  private async fetchEvents(target: RunTarget, cursor: EventCursor, limit: number, waitMs: number, signal?: AbortSignal): Promise<EventsPage> {
    const path = eventsRequestPath({ loopId: target.loopId, cursor, limit, ...(waitMs > 0 ? { waitMs } : {}), includeLines: true });
    const res = await this.get(path, { timeoutMs: this.requestTimeoutMs + waitMs, ...(signal ? { signal } : {}) });
    const body = parseJsonBody(res, "GET /ops/events");
    try {
      return withheldPage(eventsPageFromResponse(res.status, body));
    } catch (e) {
      // A wrong-version or malformed envelope: fail closed, never guess what the agent meant.
      if (e instanceof AdapterError && e.code === "remote_error") throw invalidPayload(`GET /ops/events: ${e.message}`);
      if (e instanceof AdapterError) throw withheld(e);
      throw e;
    }
  }

  async readEvents(target: RunTarget, cursor: EventCursor, limit: number, waitMs = 0): Promise<EventsPage> {
    const page = await this.fetchEvents(target, cursor, limit, waitMs);
    if (!page.error) this.ends.set(target.runId, { line: page.cursor.line, byteOffset: page.cursor.byteOffset, lastLineHash: page.cursor.lastLineHash });
    return page;
  }

  async control(target: RunTarget, request: ControlRequest): Promise<ControlResult> {
    // Never send a control request to an agent whose protocol is not ours: it might mean something else by it.
    // Every poll asks /healthz first, so a polled run's agent is known here without another request.
    if (this.incompatible) throw new TransportError("agent_incompatible", this.incompatible, false);
    const payload = {
      loopId: target.loopId,
      intent: request.intent,
      by: request.by,
      ...(request.note ? { note: request.note } : {}),
      idempotencyKey: request.idempotencyKey,
      traceId: request.traceId,
    };
    // The agent dedupes by key, so a POST that may have reached it can be sent again: it runs at most once.
    const isControlAnswer = (res: HttpResponse): boolean => {
      try {
        return ControlResponseSchema.safeParse(JSON.parse(res.body.toString("utf8"))).success;
      } catch {
        return false;
      }
    };
    const res = await this.send(
      {
        url: new URL(`${this.base}/ops/control`),
        ...this.destination(),
        method: "POST",
        headers: this.headers({
          "content-type": "application/json",
          "idempotency-key": request.idempotencyKey,
          "x-trace-id": request.traceId,
        }),
        body: JSON.stringify(payload),
        connectTimeoutMs: this.connectTimeoutMs,
        totalTimeoutMs: this.controlTimeoutMs,
      },
      this.retry,
      { replayable: true, isFinal: isControlAnswer },
    );
    if (res.status === 401 || res.status === 403) this.raiseForStatus(res);
    const body = parseJsonBody(res, "POST /ops/control");
    const answer = ControlResponseSchema.safeParse(body);
    if (answer.success) {
      if (answer.data.intent !== request.intent) throw invalidPayload(`POST /ops/control answered for intent ${answer.data.intent}, expected ${request.intent}`);
      return answer.data.result;
    }
    if (ErrorResponseSchema.safeParse(body).success && !retryableStatus(res.status)) throw withheld(adapterErrorFromResponse(res.status, body));
    this.raiseForStatus(res);
    throw invalidPayload(`POST /ops/control: HTTP ${res.status} answer does not match the control contract`);
  }

  /**
   * Long-polls the agent after the last position the poller read: when a line lands the agent answers at once
   * and the poller is woken, so remote runs are followed as promptly as local ones. Backs off while the agent is
   * down and wakes the poller when it comes back. An open long poll keeps the Sprite awake (docs/sprites.md), so
   * it is held only while `opts.active()` says the manager means to (a live or watched run); otherwise no
   * request is sent and a long poll in flight is the last one (it ends within longPollMs).
   */
  watch(target: RunTarget, onChange: () => void, opts: WatchOptions = {}): () => void {
    const controller = new AbortController();
    this.watchers.add(controller);
    const backoff = this.opts.watchBackoff ?? { baseMs: 1_000, maxMs: 30_000 };
    const loop = async (): Promise<void> => {
      let failures = 0;
      let firedFor: string | null = null;
      let firedAt = 0;
      while (!controller.signal.aborted) {
        const end = this.ends.get(target.runId);
        const key = end ? `${end.line}:${end.byteOffset}` : null;
        // Nothing read yet, the poller has not caught up with the last wake-up (do not spin), or the Sprite may sleep.
        if (end === undefined || (key === firedFor && Date.now() - firedAt < 30_000) || opts.active?.() === false) {
          await sleep(250, controller.signal).catch(() => undefined);
          continue;
        }
        // The long poll in flight is dropped as soon as the manager no longer means to keep the Sprite awake:
        // an open connection would keep it awake until the agent answers (up to longPollMs).
        const request = new AbortController();
        const stop = () => request.abort();
        controller.signal.addEventListener("abort", stop, { once: true });
        const check = setInterval(() => opts.active?.() === false && request.abort(), 250);
        try {
          const page = await this.fetchEvents(target, end, 1, this.longPollMs, request.signal);
          const recovered = failures > 0;
          failures = 0;
          if (page.envelopes.length > 0 || page.error !== undefined || recovered) {
            firedFor = key;
            firedAt = Date.now();
            onChange();
          }
        } catch (e) {
          if (controller.signal.aborted) break;
          if (request.signal.aborted) continue; // dropped on purpose, not a failure
          failures++;
          if (e instanceof AdapterError) {
            // A fork or a bad line: the poller must see it now; then wait for it to act.
            firedFor = key;
            firedAt = Date.now();
            onChange();
          }
          await sleep(backoffMs(failures - 1, backoff.baseMs, backoff.maxMs), controller.signal).catch(() => undefined);
        } finally {
          clearInterval(check);
          controller.signal.removeEventListener("abort", stop);
        }
      }
    };
    void loop();
    return () => {
      controller.abort();
      this.watchers.delete(controller);
    };
  }

  async close(): Promise<void> {
    for (const controller of this.watchers) controller.abort();
    this.watchers.clear();
  }
}
