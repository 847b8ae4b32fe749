// bench:query's HTTP client, in a worker thread: a client is another process in production, so its requests, the
// parsing of its responses and its garbage stay off the event loop and the heap of the manager being measured.
// Each message is one case: `warmup` calls, then `samples` timed calls; it answers with the times (ms).
import http from "node:http";
import { parentPort, workerData } from "node:worker_threads";

export interface ClientCall {
  id: number;
  query: string;
  variables: Record<string, unknown>;
  warmup: number;
  samples: number;
}
export type ClientAnswer = { id: number; times: number[] } | { id: number; error: string };

const endpoint = new URL((workerData as { url: string }).url);
// node:http on one keep-alive connection: fetch (undici's streams, AbortSignals, a Request per call) cost several
// times its CPU per call.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function post(body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: endpoint.hostname, port: endpoint.port, path: endpoint.pathname, method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function gql(query: string, variables: Record<string, unknown>): Promise<void> {
  const body = JSON.parse(await post(JSON.stringify({ query, variables }))) as { errors?: { message: string }[] };
  if (body.errors?.length) throw new Error(`${query.slice(0, 60)}: ${body.errors[0].message}`);
}

parentPort?.on("message", (m: ClientCall | "stop") => {
  if (m === "stop") {
    agent.destroy();
    parentPort?.close();
    return;
  }
  void (async () => {
    try {
      for (let i = 0; i < m.warmup; i++) await gql(m.query, m.variables);
      const times: number[] = [];
      for (let i = 0; i < m.samples; i++) {
        const s = performance.now();
        await gql(m.query, m.variables);
        times.push(performance.now() - s);
      }
      parentPort?.postMessage({ id: m.id, times } satisfies ClientAnswer);
    } catch (e) {
      parentPort?.postMessage({ id: m.id, error: (e as Error).message } satisfies ClientAnswer);
    }
  })();
});
