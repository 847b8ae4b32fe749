import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRAPHIQL_CSP } from "../../src/web/graphiql";
import type { RunningServer } from "../../src/server";
import { startDemoServer } from "../demo/demo-server";
import { startTestServer } from "../support/server";

// GraphiQL works with the network cable pulled: the page names no external URL, every file it loads comes from
// this server (npm package @graphql-yoga/graphiql), and a Content-Security-Policy allows only this origin.
// In a real browser with every other origin blocked, the IDE renders and introspects the schema; the title
// says DEMO while demo Sprites exist.

const CHROMIUM = "/usr/bin/chromium";
const skipBrowser = !existsSync(CHROMIUM) && !process.env.CI;

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer();
}, 60_000);
afterAll(async () => {
  await server?.close();
});

const page = async (s: RunningServer) => fetch(s.url, { headers: { accept: "text/html" } });

describe("GraphiQL from local assets", () => {
  it("the page has no external URL, a same-origin CSP, and every asset it names is served", async () => {
    const res = await page(server);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toBe(GRAPHIQL_CSP);
    expect(GRAPHIQL_CSP).not.toMatch(/https?:|\*|unsafe-eval/);
    const html = await res.text();
    expect(html).not.toMatch(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i); // no absolute or protocol-relative URL
    expect(html).toContain("<title>superloop-ops</title>");
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((u) => !u.startsWith("data:"));
    expect(assets.sort()).toEqual(["/graphiql/env.js", "/graphiql/graphiql.css", "/graphiql/start.js", "/graphiql/yoga-graphiql.umd.js"]);
    for (const a of [...assets, "/graphiql/editor.worker.js", "/graphiql/json.worker.js", "/graphiql/graphql.worker.js"]) {
      const r = await fetch(new URL(a, server.url));
      expect(r.status, a).toBe(200);
      expect((await r.arrayBuffer()).byteLength, a).toBeGreaterThan(100);
    }
    expect((await fetch(new URL("/graphiql/../package.json", server.url))).status).not.toBe(200);
    // The API itself is untouched: a POST still runs queries.
    const api = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ __typename }" }) });
    expect(await api.json()).toEqual({ data: { __typename: "Query" } });
  });

  describe.skipIf(skipBrowser)("in a browser with every other origin blocked", () => {
    let context: BrowserContext;
    afterAll(async () => {
      await context?.close();
    });

    it("renders the IDE and introspects the schema: no request to another origin, no CSP violation, no page error", { timeout: 90_000 }, async () => {
      context = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), "ops-chromium-")), {
        executablePath: CHROMIUM,
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
      });
      const origin = new URL(server.url).origin;
      const foreign: string[] = [];
      await context.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith(origin) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
        foreign.push(url);
        return route.abort();
      });
      const tab = context.pages()[0] ?? (await context.newPage());
      const problems: string[] = [];
      tab.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
      tab.on("console", (m) => {
        if (m.type() === "error" || /Content Security Policy|Refused to/.test(m.text())) problems.push(`console: ${m.text()}`);
      });
      const introspection = tab.waitForRequest((r) => r.url().startsWith(server.url) && r.method() === "POST" && (r.postData() ?? "").includes("IntrospectionQuery"), { timeout: 60_000 });
      await tab.goto(server.url);
      await tab.waitForSelector(".graphiql-container", { timeout: 60_000 });
      await introspection;
      await tab.waitForSelector(".monaco-editor", { timeout: 30_000 });
      expect(await tab.title()).toBe("superloop-ops");
      expect(foreign).toEqual([]);
      expect(problems).toEqual([]);
    });
  });

  it("the title says DEMO while demo Sprites exist", { timeout: 60_000 }, async () => {
    const { server: demo } = await startDemoServer();
    try {
      expect(await (await page(demo)).text()).toContain("<title>superloop-ops · DEMO</title>");
    } finally {
      await demo.close();
    }
  });
});
