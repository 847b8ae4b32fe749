import http from "node:http";
import https from "node:https";

// One POST with a hard deadline over keep-alive connections (node:http: cheaper per request than fetch, which
// matters when thousands of alerts go out next to ingest). Resolves with the status and Retry-After; rejects
// on connection errors and on the deadline.

const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 256 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

export class PostTimeout extends Error {
  override name = "TimeoutError";
}

export function post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<{ status: number; retryAfter: string | null }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === "https:" ? https : http;
    const payload = Buffer.from(body);
    const req = mod.request(u, { method: "POST", headers: { ...headers, "content-length": String(payload.length) }, agent: agents[u.protocol as keyof typeof agents] }, (res) => {
      // The answer's body is not needed: read (and drop) at most 64 KiB of it so the connection can be reused.
      let seen = 0;
      res.on("data", (d: Buffer) => {
        seen += d.length;
        if (seen > 65_536) res.destroy();
      });
      res.on("end", () => done(() => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] ?? null })));
      res.on("error", () => done(() => resolve({ status: res.statusCode ?? 0, retryAfter: null })));
      res.on("close", () => done(() => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] ?? null })));
    });
    let settled = false;
    const timer = setTimeout(() => {
      req.destroy(new PostTimeout(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    function done(f: () => void) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    }
    req.on("error", (e) => done(() => reject(e)));
    req.end(payload);
  });
}
