import { createHash, timingSafeEqual } from "node:crypto";
import type http from "node:http";
import type { z } from "zod";
import type { AdapterErrorCode } from "../src/contract";

// The agent's HTTP plumbing: the token check, JSON answers and error bodies, query and body parsing with their
// limits. agent-server.ts routes the requests.

const MAX_BODY_BYTES = 64 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** Constant-time comparison: hashing first makes the lengths equal, so timingSafeEqual never throws or leaks length. */
export function tokenMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined || presented.length === 0) return false;
  return timingSafeEqual(digest(expected), digest(presented));
}

export function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  if (Array.isArray(value)) return value[0];
  return value;
}

export function presentedToken(req: http.IncomingMessage): string | undefined {
  const auth = headerValue(req, "authorization");
  if (auth !== undefined && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, "").trim();
  const header = headerValue(req, "x-ops-token");
  return header?.trim();
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
    "cache-control": "no-store",
  });
  res.end(payload);
}

export function errorBody(code: string, message: string, extra: Record<string, unknown> = {}, traceId: string | null = null): Record<string, unknown> {
  const body: Record<string, unknown> = { ok: false, error: { code, message, ...extra } };
  if (traceId !== null) body["traceId"] = traceId;
  return body;
}

export function queryObject(url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of url.searchParams) if (!(key in out)) out[key] = value;
  return out;
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.map(String).join(".") ?? "";
  const code: AdapterErrorCode = field === "loopId" && typeof value === "object" && value !== null && "loopId" in value ? "invalid_loop_id" : "invalid_request";
  throw new HttpError(400, code, `invalid ${what}: ${field.length > 0 ? `${field}: ` : ""}${issue?.message ?? "bad input"}`);
}

export async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > MAX_BODY_BYTES) throw new HttpError(413, "payload_too_large", `request body above ${MAX_BODY_BYTES} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}
