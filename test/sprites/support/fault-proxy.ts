import http from "node:http";
import type { AddressInfo } from "node:net";

// A reverse proxy in front of a real sprite agent that injects faults: refused/reset connections, error
// statuses (with Retry-After), delays, garbage and rewritten answers. Records what it forwarded (no secrets).

export type Fault =
  | { kind: "pass" }
  | { kind: "reset" }
  | { kind: "status"; status: number; retryAfterSec?: number; times?: number }
  | { kind: "delay"; ms: number }
  | { kind: "garbage" }
  | { kind: "rewrite"; fn: (body: Record<string, unknown>, path: string) => Record<string, unknown> };

export interface FaultProxy {
  url: string;
  fault: Fault;
  /** Only requests whose path matches get the fault; the rest pass. */
  match: RegExp | null;
  seen: { method: string; path: string; idempotencyKey?: string; traceId?: string }[];
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const proxy: FaultProxy = { url: "", fault: { kind: "pass" }, match: null, seen: [], close: async () => {} };
  const server = http.createServer(
    (req, res) =>
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const path = req.url ?? "/";
        const fault: Fault = proxy.match && !proxy.match.test(path) ? { kind: "pass" } : proxy.fault;
        proxy.seen.push({
          method: req.method ?? "GET",
          path,
          ...(typeof req.headers["idempotency-key"] === "string" ? { idempotencyKey: req.headers["idempotency-key"] } : {}),
          ...(typeof req.headers["x-trace-id"] === "string" ? { traceId: req.headers["x-trace-id"] } : {}),
        });
        if (fault.kind === "reset") return req.socket.destroy();
        if (fault.kind === "status") {
          if (fault.times !== undefined && --fault.times <= 0) proxy.fault = { kind: "pass" };
          res.writeHead(fault.status, { "content-type": "application/json", ...(fault.retryAfterSec !== undefined ? { "retry-after": String(fault.retryAfterSec) } : {}) });
          return res.end(JSON.stringify({ ok: false, error: { code: "injected", message: `injected ${fault.status}` } }));
        }
        if (fault.kind === "delay") await new Promise((r) => setTimeout(r, fault.ms));
        if (fault.kind === "garbage") {
          res.writeHead(200, { "content-type": "text/html" });
          return res.end("<html>502 bad gateway</html>");
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host" && k !== "content-length") headers[k] = v;
        try {
          const upstream = await fetch(target + path, { method: req.method ?? "GET", headers, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) });
          let text = await upstream.text();
          if (fault.kind === "rewrite" && upstream.headers.get("content-type")?.includes("json")) {
            text = JSON.stringify(fault.fn(JSON.parse(text) as Record<string, unknown>, path));
          }
          res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
          res.end(text);
        } catch {
          res.writeHead(502).end();
        }
      })(),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return proxy;
}
