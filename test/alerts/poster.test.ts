import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostTimeout } from "../../src/alerts/http-post";
import { WorkerPoster } from "../../src/alerts/poster";
import { createLogger } from "../../src/util/log";

// The alert sender thread: real POSTs to a real HTTP server made from the worker thread, with the answers,
// Retry-After, deadlines and connection errors coming back to the dispatcher as the in-process POST gives them.

let server: Server;
let url: string;
const bodies: string[] = [];
const lines: string[] = [];
const poster = new WorkerPoster(createLogger("debug", (l) => lines.push(l)));

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      if (req.url === "/slow") return; // never answered
      bodies.push(body);
      if (req.url === "/busy") res.writeHead(429, { "retry-after": "7" }).end();
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await poster.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("alert sender thread", () => {
  it("sends from its own thread: statuses, Retry-After, deadlines and connection errors come back", async () => {
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => poster.post(`${url}/ok`, { "content-type": "application/json" }, JSON.stringify({ i }), 5000)));
    expect(poster.threaded).toBe(true);
    expect(many.every((r) => r.status === 204)).toBe(true);
    expect(bodies.map((b) => JSON.parse(b).i).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(await poster.post(`${url}/busy`, {}, "{}", 5000)).toEqual({ status: 429, retryAfter: "7" });
    await expect(poster.post(`${url}/slow`, {}, "{}", 300)).rejects.toBeInstanceOf(PostTimeout);
    await expect(poster.post("http://127.0.0.1:1/refused", {}, "{}", 2000)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    expect(poster.threaded).toBe(true);
    expect(lines.filter((l) => l.includes("sender thread"))).toEqual([]);
  });
});
