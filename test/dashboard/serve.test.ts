import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { startTestServer } from "../support/server";

// The dashboard's files: served from memory by name only, with content types and a strict CSP; everything
// else (including every way of spelling "..") is a 404, and the API keeps working next to it.

let server: RunningServer;
let base: string;
beforeAll(async () => {
  server = await startTestServer();
  base = server.url.replace(/\/graphql$/, "");
});
afterAll(() => server?.close());

/** A raw request: fetch() would normalise "/ui/../x" before sending it. */
function raw(method: string, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.path = path;
    req.end();
  });
}

describe("dashboard assets", () => {
  it("serves the page at / with a CSP that only allows its own origin", async () => {
    const r = await raw("GET", "/");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(r.body).toContain('<main id="main"');
    expect(r.body).toContain('src="/ui/app.js"');
    expect(r.headers["content-security-policy"]).toContain("default-src 'none'");
    expect(r.headers["content-security-policy"]).toContain("connect-src 'self'");
    expect(r.headers["x-content-type-options"]).toBe("nosniff");
  });

  it("serves the bundle and the stylesheet with their types; the bundle is small and self-contained", async () => {
    const js = await raw("GET", "/ui/app.js");
    expect(js.status).toBe(200);
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.body.length).toBeLessThan(80_000);
    expect(js.body).not.toMatch(/\bimport\s*["'(]/); // bundled: no bare module imports left for the browser
    expect(js.body).toContain("graphql-transport-ws");
    const css = await raw("GET", "/ui/styles.css");
    expect(css.status).toBe(200);
    expect(css.headers["content-type"]).toBe("text/css; charset=utf-8");
    const head = await raw("HEAD", "/ui/app.js");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect(Number(head.headers["content-length"])).toBe(Buffer.byteLength(js.body));
  });

  it.each([
    "/ui/",
    "/ui/nope.js",
    "/ui/../package.json",
    "/ui/..%2fpackage.json",
    "/ui/%2e%2e/%2e%2e/package.json",
    "/ui/%2e%2e%2fsrc%2fserver.ts",
    "/ui//etc/passwd",
    "/ui/app.js/../../package.json",
    "/ui/src/main.ts",
    "/ui/index.html",
  ])("answers 404 for %s", async (p) => {
    const r = await raw("GET", p);
    expect(r.status).toBe(404);
    expect(r.body).not.toContain('superloop-ops"');
  });

  it("refuses other methods", async () => {
    expect((await raw("POST", "/")).status).toBe(405);
    expect((await raw("DELETE", "/ui/app.js")).status).toBe(405);
  });

  it("leaves /graphql, /health and /ready to the API", async () => {
    const r = await gql(server.url, "{ __typename }");
    expect(r.data).toEqual({ __typename: "Query" });
    expect((await raw("GET", "/health")).status).toBe(200);
    expect((await raw("GET", "/graphql?query=%7B__typename%7D")).status).toBe(200);
  });
});
