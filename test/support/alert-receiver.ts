import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

// A real HTTP receiver for alert sinks: records every request and answers as the test scripts it.

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  at: number;
}

export type Responder = (req: Received, index: number, res: ServerResponse) => void;

export interface Receiver {
  url: string;
  requests: Received[];
  on(path: string, responder: Responder): void;
  waitFor(pred: (r: Received[]) => boolean, timeoutMs?: number, what?: string): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const requests: Received[] = [];
  const responders = new Map<string, Responder>();
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        /* not JSON */
      }
      const path = (req.url ?? "/").split("?")[0];
      const r: Received = { path, headers: req.headers, body, json, at: Date.now() };
      requests.push(r);
      const i = counts.get(path) ?? 0;
      counts.set(path, i + 1);
      const responder = responders.get(path);
      if (responder) responder(r, i, res);
      else res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    on: (path, responder) => responders.set(path, responder),
    async waitFor(pred, timeoutMs = 10_000, what = "requests") {
      const deadline = Date.now() + timeoutMs;
      while (!pred(requests)) {
        if (Date.now() > deadline)
          throw new Error(`receiver: timed out waiting for ${what}; got ${requests.length}: ${JSON.stringify(requests.map((r) => [r.path, r.json?.event ?? r.json?.event_action]))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return requests;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
