// Over 350 lines: one HTTP/1.1 client for the remote transports (connect with DNS pinning, TLS, framing, chunked
// bodies, timeouts, URL redaction) and the retry loop over it; the retry half is the seam for a later split.
import dns from "node:dns";
import net from "node:net";
import tls from "node:tls";
import { TransportError } from "./transport";

// A small HTTP/1.1 client shared by the remote transports. Why not fetch: the Sprites exec protocol puts one
// frame in each HTTP chunk, and fetch (undici) does not preserve chunk boundaries; we also want a real connect
// timeout separate from the total one. One connection per request (`Connection: close`): requests are rare
// (a few per run per poll interval) and a fresh socket never carries state from a failed request.

export interface HttpRequest {
  url: URL;
  method?: "GET" | "POST" | "PUT" | "HEAD";
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Time allowed to establish the TCP (and TLS) connection. */
  connectTimeoutMs: number;
  /** Time allowed for the whole exchange, connect included. */
  totalTimeoutMs: number;
  signal?: AbortSignal;
  /** Answers larger than this fail instead of exhausting memory. */
  maxBodyBytes?: number;
  /** Checks each address the host resolves to (or the literal address) before connecting; a reason refuses it. */
  refuseAddress?: (address: string, host: string) => string | null;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as sent, one Buffer per HTTP chunk (one Buffer in all for a Content-Length body). */
  chunks: Buffer[];
  body: Buffer;
}

const DEFAULT_MAX_BODY = 64 * 1024 * 1024;
const CRLF = Buffer.from("\r\n");

/** Whether a failure happened before the request could have reached the server (safe to retry anything). */
export function neverSent(error: unknown): boolean {
  return error instanceof TransportError && error.details["sent"] === false;
}

function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** Incremental HTTP/1.1 response parser: headers, then a chunked, Content-Length or read-to-close body. */
class ResponseParser {
  private buf: Buffer = Buffer.alloc(0);
  status = 0;
  headers: Record<string, string> = {};
  chunks: Buffer[] = [];
  private bodyBytes = 0;
  private phase: "head" | "chunk-size" | "chunk-data" | "chunk-crlf" | "trailers" | "length" | "close" | "done" = "head";
  private remaining = 0;

  constructor(
    private readonly maxBody: number,
    private readonly head: boolean,
  ) {}

  get done(): boolean {
    return this.phase === "done";
  }

  get readsToClose(): boolean {
    return this.phase === "close";
  }

  /** Feeds bytes; throws on a malformed answer. */
  push(data: Buffer): void {
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    for (;;) {
      if (this.phase === "head") {
        const end = this.buf.indexOf("\r\n\r\n");
        if (end === -1) {
          if (this.buf.length > 64 * 1024) throw new Error("response headers too large");
          return;
        }
        const lines = this.buf.subarray(0, end).toString("latin1").split("\r\n");
        const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
        if (!statusLine) throw new Error(`not an HTTP/1.x response: ${JSON.stringify((lines[0] ?? "").slice(0, 60))}`);
        this.status = Number(statusLine[1]);
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(":");
          if (colon > 0) this.headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        this.buf = this.buf.subarray(end + 4);
        if (this.status === 100) {
          this.headers = {};
          continue;
        }
        const te = this.headers["transfer-encoding"]?.toLowerCase();
        const length = this.headers["content-length"];
        if (this.head || this.status === 204 || this.status === 304) this.phase = "done";
        else if (te !== undefined && te.includes("chunked")) this.phase = "chunk-size";
        else if (length !== undefined) {
          if (!/^\d+$/.test(length)) throw new Error("bad Content-Length");
          this.remaining = Number(length);
          this.phase = this.remaining === 0 ? "done" : "length";
        } else this.phase = "close";
        continue;
      }
      if (this.phase === "chunk-size") {
        const end = this.buf.indexOf(CRLF);
        if (end === -1) return;
        const size = parseInt(this.buf.subarray(0, end).toString("latin1").split(";")[0].trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw new Error("bad chunk size");
        this.buf = this.buf.subarray(end + 2);
        if (size === 0) {
          this.phase = "trailers";
          continue;
        }
        this.grow(size);
        this.remaining = size;
        this.phase = "chunk-data";
        continue;
      }
      if (this.phase === "chunk-data") {
        if (this.buf.length < this.remaining) return;
        this.chunks.push(Buffer.from(this.buf.subarray(0, this.remaining)));
        this.buf = this.buf.subarray(this.remaining);
        this.phase = "chunk-crlf";
        continue;
      }
      if (this.phase === "chunk-crlf") {
        if (this.buf.length < 2) return;
        this.buf = this.buf.subarray(2);
        this.phase = "chunk-size";
        continue;
      }
      if (this.phase === "trailers") {
        const end = this.buf.indexOf(CRLF);
        if (end === -1) return;
        this.buf = this.buf.subarray(end + 2);
        if (end === 0) this.phase = "done";
        continue;
      }
      if (this.phase === "length") {
        if (this.buf.length === 0) return;
        const take = this.buf.subarray(0, this.remaining);
        this.grow(take.length);
        this.chunks.push(Buffer.from(take));
        this.remaining -= take.length;
        this.buf = this.buf.subarray(take.length);
        if (this.remaining === 0) this.phase = "done";
        return;
      }
      if (this.phase === "close") {
        if (this.buf.length === 0) return;
        this.grow(this.buf.length);
        this.chunks.push(Buffer.from(this.buf));
        this.buf = Buffer.alloc(0);
        return;
      }
      return;
    }
  }

  end(): void {
    if (this.phase === "close") this.phase = "done";
  }

  private grow(n: number): void {
    this.bodyBytes += n;
    if (this.bodyBytes > this.maxBody) throw new Error(`response body above ${this.maxBody} bytes`);
  }
}

/**
 * One HTTP/1.1 exchange. Failures are TransportErrors: `unreachable` (connect failed or timed out: never sent),
 * `timeout` (total time exceeded), `aborted`, `protocol_error`. HTTP error statuses are returned, not thrown.
 */
export function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  const { url } = req;
  const secure = url.protocol === "https:";
  if (!secure && url.protocol !== "http:") {
    return Promise.reject(new TransportError("invalid_config", `unsupported URL scheme ${url.protocol}`, false, { sent: false }));
  }
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const method = req.method ?? "GET";
  const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, "utf8");
  const headers: Record<string, string> = {
    host: url.host,
    connection: "close",
    "user-agent": "superloop-ops",
    ...req.headers,
  };
  if (body !== undefined || method === "POST" || method === "PUT") headers["content-length"] = String(body?.length ?? 0);
  const head =
    `${method} ${url.pathname}${url.search} HTTP/1.1\r\n` +
    Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("") +
    "\r\n";
  const where = redactUrl(url);

  const refuse = req.refuseAddress;
  if (refuse && net.isIP(host)) {
    const why = refuse(host, host);
    if (why) return Promise.reject(new TransportError("destination_denied", why, false, { sent: false }));
  }
  // A host name is checked on what it resolves to, at connect time: the answer may differ from registration's.
  const lookup: net.LookupFunction | undefined = refuse
    ? (hostname, options, callback) =>
        dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
          if (err) return (callback as (e: Error) => void)(err);
          const list = addresses;
          for (const a of list) {
            const why = refuse(a.address, hostname);
            if (why) return (callback as (e: Error) => void)(Object.assign(new Error(why), { code: "EDESTINATIONDENIED" }));
          }
          if (options.all) (callback as (e: null, a: dns.LookupAddress[]) => void)(null, list);
          else (callback as (e: null, a: string, f: number) => void)(null, list[0].address, list[0].family);
        })
    : undefined;

  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    let connected = false;
    const parser = new ResponseParser(req.maxBodyBytes ?? DEFAULT_MAX_BODY, method === "HEAD");
    const socket: net.Socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ["http/1.1"], ...(lookup ? { lookup } : {}) })
      : net.connect({ host, port, ...(lookup ? { lookup } : {}) });

    const finish = (error: TransportError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(totalTimer);
      req.signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve({ status: parser.status, headers: parser.headers, chunks: parser.chunks, body: Buffer.concat(parser.chunks) });
    };
    const onAbort = (): void => finish(new TransportError("aborted", `request to ${where} aborted`, false, { sent: connected }));
    const connectTimer = setTimeout(() => finish(new TransportError("unreachable", `cannot connect to ${url.host} within ${req.connectTimeoutMs} ms`, true, { sent: false })), req.connectTimeoutMs);
    const totalTimer = setTimeout(() => finish(new TransportError("timeout", `${method} ${where} took longer than ${req.totalTimeoutMs} ms`, true, { sent: connected })), req.totalTimeoutMs);
    if (req.signal?.aborted) return onAbort();
    req.signal?.addEventListener("abort", onAbort, { once: true });

    socket.once(secure ? "secureConnect" : "connect", () => {
      connected = true;
      clearTimeout(connectTimer);
      socket.write(head);
      if (body !== undefined && body.length > 0) socket.write(body);
    });
    socket.on("data", (data: Buffer) => {
      try {
        parser.push(data);
      } catch (e) {
        finish(new TransportError("protocol_error", `malformed HTTP answer from ${url.host}: ${(e as Error).message}`, true, { sent: true }));
        return;
      }
      if (parser.done) finish(null);
    });
    socket.once("end", () => {
      parser.end();
      if (parser.done) finish(null);
      else finish(new TransportError("connection_closed", `${url.host} closed the connection before the answer was complete`, true, { sent: true }));
    });
    socket.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EDESTINATIONDENIED") return finish(new TransportError("destination_denied", e.message, false, { sent: false }));
      const code = e.code ?? "ERR";
      const sent = connected;
      finish(
        new TransportError(sent ? "connection_reset" : "unreachable", `${sent ? "connection to" : "cannot connect to"} ${url.host} failed: ${code} ${e.message}`.trim(), true, { sent, errno: code }),
      );
    });
  });
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  signal?: AbortSignal;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 200, maxDelayMs: 5_000 };

/** Statuses worth another try: the server says so (408/425/429) or failed on its side (5xx). */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || (status >= 500 && status <= 599);
}

/** Retry-After in ms (seconds or an HTTP date), null when absent or unreadable. */
export function retryAfterMs(headers: Record<string, string>, now = Date.now()): number | null {
  const value = headers["retry-after"];
  if (value === undefined) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Exponential backoff with full jitter: uniform in [base*2^n/2, base*2^n], capped. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new TransportError("aborted", "aborted", false));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new TransportError("aborted", "aborted", false));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface SendOptions {
  /**
   * Whether a request that may have reached the server can be sent again: true for reads and for writes the
   * server deduplicates (an Idempotency-Key); false otherwise, so only never-sent failures are retried.
   */
  replayable: boolean;
  /** A response that must not be retried even with a retryable status (e.g. a control result answered 500). */
  isFinal?: (res: HttpResponse) => boolean;
}

/**
 * Sends with retries on connection errors and 408/425/429/5xx, honouring Retry-After (within maxDelayMs).
 * Returns the last response (possibly still an error status) or throws the last TransportError.
 */
export async function sendWithRetry(req: HttpRequest, policy: RetryPolicy, opts: SendOptions): Promise<HttpResponse> {
  let lastError: unknown = null;
  for (let attempt = 0; attempt < policy.attempts; attempt++) {
    const last = attempt === policy.attempts - 1;
    let wait: number;
    try {
      const res = await httpRequest(req);
      if (last || !retryableStatus(res.status) || opts.isFinal?.(res)) return res;
      const after = retryAfterMs(res.headers);
      if (after !== null && after > policy.maxDelayMs) return res; // the server asks for more patience than we have
      wait = after ?? backoffMs(attempt, policy.baseDelayMs, policy.maxDelayMs);
    } catch (e) {
      lastError = e;
      const retryable = e instanceof TransportError && e.retryable && (opts.replayable || neverSent(e));
      if (last || !retryable) throw e;
      wait = backoffMs(attempt, policy.baseDelayMs, policy.maxDelayMs);
    }
    await sleep(wait, policy.signal ?? req.signal);
  }
  throw lastError instanceof Error ? lastError : new TransportError("unreachable", "request failed", true);
}

/**
 * What of a peer's answer may be repeated in an error (which viewers read in ingest.lastError and health
 * reasons): its status, a code it names if that looks like one, and its size. Never its text: a peer is any
 * URL an admin typed, and its answer could carry anything, another service's secrets included.
 */
export const PEER_CODE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

function peerCode(text: string): string | null {
  try {
    const body = JSON.parse(text) as unknown;
    if (!body || typeof body !== "object") return null;
    const { error, code } = body as { error?: unknown; code?: unknown };
    const candidate = typeof error === "string" ? error : error && typeof error === "object" ? (error as { code?: unknown }).code : code;
    return typeof candidate === "string" && PEER_CODE.test(candidate) ? candidate : null;
  } catch {
    return null;
  }
}

/** JSON body or a TransportError `invalid_payload` naming what came back instead (its size, not its text). */
export function parseJsonBody(res: HttpResponse, what: string): unknown {
  const text = res.body.toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new TransportError("invalid_payload", `${what}: HTTP ${res.status} answer is not JSON (${res.body.length} bytes)`, false, { status: res.status });
  }
}

/** A short, secret-free description of an HTTP error answer: `HTTP 500 (code internal_error, 52 bytes)`. */
export function describeHttpError(res: HttpResponse): string {
  const code = peerCode(res.body.toString("utf8"));
  return `HTTP ${res.status} (${code ? `code ${code}, ` : ""}${res.body.length} bytes)`;
}
