import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { startTestServer } from "../support/server";
import { errorCode, rawRequest } from "./http";

// Issue 13 item 3: in open mode (no OPS_TOKENS, every caller is admin) a web page the operator visits must not be
// able to drive the API: no form-encoded or text/plain POSTs, no GET mutations, no CORS for foreign origins, no
// graphql-ws from foreign origins, no answers to a rebound DNS name.

let server: RunningServer;
const ALLOWED = "http://dashboard.example:8080";

beforeAll(async () => {
  server = await startTestServer({ OPS_ALLOWED_ORIGINS: ALLOWED });
});
afterAll(async () => {
  await server?.close();
});

const purge = `mutation { removeSprite(sprite: "victim", purge: true) { __typename } }`;
const repo = mkdtempSync(path.join(tmpdir(), "ops-csrf-"));
const register = `mutation { registerSprite(input: { name: "csrf", transport: LOCAL, repoPath: ${JSON.stringify(repo)}, loopId: "demo-loop" }) { __typename } }`;

async function spriteNames(): Promise<string[]> {
  const r = await gql(server.url, `{ sprites { edges { node { name } } } }`);
  expect(r.errors).toBeUndefined();
  return (r.data!.sprites.edges as { node: { name: string } }[]).map((e) => e.node.name);
}

describe("CSRF and origin safety in open mode", () => {
  it("a form-encoded or text/plain POST (what a cross-site <form> can send) is refused with 415 and runs nothing", async () => {
    const form = await rawRequest(server.url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `query=${encodeURIComponent(register)}` });
    expect(form.status).toBe(415);
    expect(errorCode(form.body)).toBe("UNSUPPORTED_MEDIA_TYPE");
    const text = await rawRequest(server.url, { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ query: register }) });
    expect(text.status).toBe(415);
    const multipart = await rawRequest(server.url, {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=x" },
      body: `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: register })}\r\n--x--\r\n`,
    });
    expect(multipart.status).toBe(415);
    expect(await spriteNames()).not.toContain("csrf");
  });

  it("a mutation over GET is refused", async () => {
    const r = await rawRequest(`${server.url}?query=${encodeURIComponent(purge)}`);
    expect(r.status).toBe(405);
    expect(r.body).not.toMatch(/"removeSprite"/);
  });

  it("a request from a foreign Origin is refused (403), and CORS never reflects it", async () => {
    const post = await rawRequest(server.url, { method: "POST", headers: { "content-type": "application/json", origin: "http://evil.example" }, body: JSON.stringify({ query: register }) });
    expect(post.status).toBe(403);
    expect(errorCode(post.body)).toBe("ORIGIN_NOT_ALLOWED");
    expect(post.headers["access-control-allow-origin"]).toBeUndefined();
    const preflight = await rawRequest(server.url, {
      method: "OPTIONS",
      headers: { origin: "http://evil.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
    expect(preflight.headers["access-control-allow-credentials"]).toBeUndefined();
    expect(await spriteNames()).not.toContain("csrf");
  });

  it("the server's own origin works; a configured origin gets CORS for itself only", async () => {
    const host = new URL(server.url).host;
    const same = await rawRequest(server.url, { method: "POST", headers: { "content-type": "application/json", origin: `http://${host}` }, body: JSON.stringify({ query: `{ fleet { sprites } }` }) });
    expect(same.status).toBe(200);
    const preflight = await rawRequest(server.url, { method: "OPTIONS", headers: { origin: ALLOWED, "access-control-request-method": "POST" } });
    expect(preflight.headers["access-control-allow-origin"]).toBe(ALLOWED);
    const allowed = await rawRequest(server.url, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", origin: ALLOWED },
      body: JSON.stringify({ query: `{ fleet { sprites } }` }),
    });
    expect(allowed.status).toBe(200);
    expect(allowed.headers["access-control-allow-origin"]).toBe(ALLOWED);
  });

  it("a rebound DNS name (Host not loopback) is refused on a loopback bind, on every path", async () => {
    const port = new URL(server.url).port;
    for (const p of ["/graphql", "/", "/ready"]) {
      const r = await rawRequest(server.url.replace("/graphql", p), { headers: { host: `attacker.example:${port}` } });
      expect(r.status).toBe(421);
      expect(errorCode(r.body)).toBe("HOST_NOT_ALLOWED");
    }
    for (const h of [`localhost:${port}`, `127.0.0.1:${port}`]) {
      expect((await rawRequest(server.url.replace("/graphql", "/health"), { headers: { host: h } })).status).toBe(200);
    }
  });

  it("graphql-ws refuses a foreign Origin at the upgrade and accepts a client without one", async () => {
    const wsUrl = server.url.replace(/^http/, "ws");
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(wsUrl, "graphql-transport-ws", { headers: { origin: "http://evil.example" } });
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => resolve(101));
      ws.on("error", () => {});
    });
    expect(refused).toBe(403);
    const ok = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(wsUrl, "graphql-transport-ws");
      ws.on("open", () => {
        ws.close();
        resolve(true);
      });
      ws.on("error", () => resolve(false));
    });
    expect(ok).toBe(true);
  });

  it("control: the same mutation as application/json without a foreign Origin does run (the refusals above are not vacuous)", async () => {
    const r = await gql(server.url, register);
    expect(r.data?.registerSprite).toEqual({ __typename: "RegisterSpritePayload" });
    expect(await spriteNames()).toContain("csrf");
  });
});
