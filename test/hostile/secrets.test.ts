import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { RUN_FIELDS, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// Issue 13 item 4: an admin cannot make the manager send its own secrets anywhere, nor reach link-local/metadata
// addresses, and what a peer answers never lands in viewer-readable fields (beyond a code and a length).

const PEER_SECRET = "PEER-SECRET-aws_secret_access_key=AKIA0123456789";
let server: RunningServer;
let peer: Server;
let peerUrl: string;
let peerHits = 0;

function listen(s: Server): Promise<string> {
  return new Promise((r) => s.listen(0, "127.0.0.1", () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  // the default token-name policy (OPS_SECRET_, SPRITES_TOKEN), not the tests' wider one; 127.0.0.3 denied
  server = await startTestServer({ OPS_SECRET_ENV_PREFIXES: "OPS_SECRET_,SPRITES_TOKEN", OPS_AGENT_URL_DENY: "127.0.0.3/32,forbidden.example", OPS_POLL_INTERVAL_MS: "200" });
  // a hostile peer: every answer carries text that must never be shown
  peer = createServer((req, res) => {
    peerHits += 1;
    if (req.url?.startsWith("/healthz")) res.writeHead(500, { "content-type": "text/plain" }).end(`upstream exploded: ${PEER_SECRET}`);
    else if (req.url?.startsWith("/ops/facts")) res.writeHead(200, { "content-type": "text/html" }).end(`<html>${PEER_SECRET}</html>`);
    else res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "internal", message: PEER_SECRET } }));
  });
  peerUrl = await listen(peer);
});
afterAll(async () => {
  await server?.close();
  peer?.close();
});

const REGISTER = `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename
  ... on RegisterSpritePayload { run { id } } ... on InvalidInput { field message } ... on Error { message } } }`;
const register = (i: Record<string, unknown>) => gql(server.url, REGISTER, { i: { transport: "SPRITE_SERVICE", repoPath: "/home/sprite/repo", loopId: "demo-loop", ...i } });

describe("secrets and destinations", () => {
  it("a token variable must have an allowed prefix and can never be one of the manager's settings", async () => {
    for (const [name, pattern] of [
      ["OPS_TOKENS", /manager's own settings/],
      ["DATABASE_URL", /manager's own settings/],
      ["PGPASSWORD", /manager's own settings/],
      ["HOME_TOKEN", /allowed prefix/],
    ] as const) {
      const r = await register({ name: `tok-${name.toLowerCase().replace(/_/g, "-")}`, agentUrl: peerUrl, agentTokenEnv: name });
      expect(r.data!.registerSprite, name).toMatchObject({ __typename: "InvalidInput", field: "agentTokenEnv", message: expect.stringMatching(pattern) });
    }
    const api = await gql(server.url, REGISTER, { i: { name: "api-tok", transport: "SPRITES_API", repoPath: "/r", loopId: "demo-loop", spritesApiTokenEnv: "OPS_TOKENS" } });
    expect(api.data!.registerSprite).toMatchObject({ __typename: "InvalidInput", field: "spritesApiTokenEnv" });
    const ok = await register({ name: "tok-ok", agentUrl: peerUrl, agentTokenEnv: "OPS_SECRET_AGENT_1" });
    expect(ok.data!.registerSprite.__typename).toBe("RegisterSpritePayload");
    // and an update cannot sneak it in either
    const upd = await gql(server.url, `mutation { updateSprite(name: "tok-ok", input: { agentTokenEnv: "OPS_TOKENS" }) { __typename ... on InvalidInput { field } } }`);
    expect(upd.data!.updateSprite).toEqual({ __typename: "InvalidInput", field: "agentTokenEnv" });
  });

  it("link-local, metadata and denied destinations are refused at registration", async () => {
    for (const url of [
      "http://169.254.169.254/latest",
      "http://[fe80::1]:8787",
      "http://metadata.google.internal",
      "http://0.0.0.0:8787",
      "http://[::ffff:169.254.169.254]/",
      "http://127.0.0.3:80",
      "http://forbidden.example",
    ]) {
      const r = await register({ name: `dst-${Math.random().toString(36).slice(2, 8)}`, agentUrl: url });
      expect(r.data!.registerSprite, url).toMatchObject({ __typename: "InvalidInput", field: "agentUrl" });
    }
  });

  it("a host name resolving to a denied address is refused when connecting: no byte reaches it, the reason is named", async () => {
    // "localhost" is allowed by name; on this machine it resolves to 127.0.0.1, so deny that whole range for one server
    const local = await startTestServer({ OPS_AGENT_URL_DENY: "127.0.0.0/8,::1/128", OPS_POLL_INTERVAL_MS: "200" });
    let victimHits = 0;
    const victim = createServer((_req, res) => {
      victimHits += 1;
      res.end("{}");
    });
    try {
      const port = new URL(await listen(victim)).port;
      const r = await gql(local.url, REGISTER, { i: { name: "rebind", transport: "SPRITE_SERVICE", repoPath: "/r", loopId: "demo-loop", agentUrl: `http://localhost:${port}` } });
      expect(r.data!.registerSprite.__typename).toBe("RegisterSpritePayload");
      const runId = r.data!.registerSprite.run.id as string;
      const run = await waitFor(
        async () => (await gql(local.url, `query($id: ID!) { run(id: $id) { ... on Run { ${RUN_FIELDS} } } }`, { id: runId })).data!.run,
        (v) => v.health.reasons.length > 0,
        20_000,
        "a health reason",
      );
      expect(JSON.stringify(run)).toMatch(/resolves to (127\.0\.0\.1|::1)/);
      expect(victimHits).toBe(0);
    } finally {
      await local.close();
      victim.close();
    }
  });

  it("a peer's answers never reach viewer-readable fields: only a status, a code and a length", async () => {
    const r = await register({ name: "hostile-peer", agentUrl: peerUrl });
    const runId = r.data!.registerSprite.run.id as string;
    await waitFor(
      async () => (await gql(server.url, `query($id: ID!) { run(id: $id) { ... on Run { ${RUN_FIELDS} } } }`, { id: runId })).data!.run,
      (v) => v.health.reasons.length > 0,
      20_000,
      "a health reason",
    );
    const everything = await gql(
      server.url,
      `query($id: ID!) { run(id: $id) { ... on Run { ${RUN_FIELDS} sprite { name status } } } sprites { edges { node { name status } } } interventions { reasons { code message } } }`,
      { id: runId },
    );
    const text = JSON.stringify(everything);
    expect(peerHits).toBeGreaterThan(0);
    expect(text).not.toContain("PEER-SECRET");
    expect(text).not.toContain("exploded");
    expect(text).toMatch(/not JSON \(\d+ bytes\)|HTTP 500 \((code \w+, )?\d+ bytes\)/);
  });
});
