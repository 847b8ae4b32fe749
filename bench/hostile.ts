// npm run bench:hostile — what refusing a hostile request costs the manager: the server-side time (request
// arrival to the end of the answer) of the 2.2 MB unauthenticated query (413), the 352 KB unauthenticated query
// (401) and the same from a viewer (MAX_TOKENS), each the fastest and the median of ROUNDS tries, and whether
// /health kept answering meanwhile. The limits' behaviour is tested in test/hostile/request-limits.test.ts;
// this is where their speed is measured. Last line: one JSON object.
import type { IncomingMessage, ServerResponse } from "node:http";
import { request } from "node:http";
import { benchServer, percentile, round } from "./support";

const ROUNDS = Number(process.env.ROUNDS ?? 20);
const VIEWER = "bench-viewer-token";
const server = await benchServer({ OPS_TOKENS: `bench:viewer:${VIEWER}` });

function send(body: string, token?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(server.url, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    // the server may answer (413) and close before it has read a large body
    req.on("error", (e: NodeJS.ErrnoException) => (e.code === "EPIPE" || e.code === "ECONNRESET" ? undefined : reject(e)));
    req.end(body);
  });
}

/** Server-side milliseconds per try (arrival of the request to the end of its answer). */
async function measure(body: string, token?: string): Promise<{ status: number; fastestMs: number; p50Ms: number; maxMs: number }> {
  const times: number[] = [];
  let status = 0;
  for (let i = 0; i < ROUNDS; i++) {
    let serverMs = NaN;
    const onRequest = (_req: IncomingMessage, res: ServerResponse) => {
      const started = performance.now();
      res.once("finish", () => (serverMs = performance.now() - started));
    };
    server.http.prependListener("request", onRequest);
    try {
      status = await send(body, token);
    } finally {
      server.http.off("request", onRequest);
    }
    times.push(serverMs);
  }
  times.sort((a, b) => a - b);
  return { status, fastestMs: round(times[0], 2), p50Ms: round(percentile(times, 50), 2), maxMs: round(times[times.length - 1], 2) };
}

const typenames = (bytes: number) => JSON.stringify({ query: `{ ${"__typename ".repeat(Math.ceil(bytes / 11))}}` });

// /health answers while the hostile requests are refused (an event loop freeze would show here)
let healthWorst = 0;
let healthFailures = 0;
let probing = true;
const probe = (async () => {
  while (probing) {
    const t = performance.now();
    try {
      const res = await fetch(server.url.replace("/graphql", "/health"), { signal: AbortSignal.timeout(5_000) });
      if (res.status !== 200) healthFailures++;
      await res.arrayBuffer();
    } catch {
      healthFailures++;
    }
    healthWorst = Math.max(healthWorst, performance.now() - t);
    await new Promise((r) => setTimeout(r, 20));
  }
})();

const huge = await measure(typenames(2.2e6));
const unauthenticated = await measure(typenames(352_000));
const viewer = await measure(typenames(352_000), VIEWER);
probing = false;
await probe;
await server.close();

const result = {
  bench: "hostile",
  rounds: ROUNDS,
  unauthenticated2_2MB: huge,
  unauthenticated352KB: unauthenticated,
  viewer352KB: viewer,
  healthWorstMs: round(healthWorst, 1),
  healthFailures,
  under50ms: huge.fastestMs < 50 && unauthenticated.fastestMs < 50 && viewer.fastestMs < 50,
};
console.log(JSON.stringify(result));
process.exit(0);
