import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";

// GraphiQL from local files: Yoga's own page loads its scripts from a CDN (blank without internet, and a
// third-party script in a page that holds an admin token). The same GraphiQL build ships in the npm package
// @graphql-yoga/graphiql (one self-contained UMD bundle, its CSS and the editor's web workers); we serve those
// files from node_modules under /graphiql/ with a Content-Security-Policy that allows nothing but this origin.
// Only the names in the asset table are served: no request path reaches the file system.

const require = createRequire(import.meta.url);

/** Everything from 'self'. Styles also inline: the editor injects <style> elements (still nothing from elsewhere). */
export const GRAPHIQL_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HEADERS = { "content-security-policy": GRAPHIQL_CSP, "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" } as const;

// Monaco asks for a worker by label; each comes from its own file here (no fetch-into-blob as on the CDN page).
const BOOT = `self.MonacoEnvironment = {
  globalAPI: false,
  getWorkerUrl: function (_id, label) {
    return label === "json" ? "/graphiql/json.worker.js" : label === "graphql" ? "/graphiql/graphql.worker.js" : "/graphiql/editor.worker.js";
  },
};
`;
const START = `YogaGraphiQL.renderYogaGraphiQL(document.getElementById("root"), JSON.parse(document.getElementById("graphiql-options").textContent));\n`;

const FILES: Record<string, { file: string; type: string } | { body: string; type: string }> = {
  "/graphiql/graphiql.css": { file: "dist/graphiql.css", type: "text/css; charset=utf-8" },
  "/graphiql/yoga-graphiql.umd.js": { file: "dist/yoga-graphiql.umd.js", type: "text/javascript; charset=utf-8" },
  "/graphiql/editor.worker.js": { file: "dist/monacoeditorwork/editor.worker.bundle.js", type: "text/javascript; charset=utf-8" },
  "/graphiql/json.worker.js": { file: "dist/monacoeditorwork/json.worker.bundle.js", type: "text/javascript; charset=utf-8" },
  "/graphiql/graphql.worker.js": { file: "dist/monacoeditorwork/graphql.worker..bundle.js", type: "text/javascript; charset=utf-8" },
  "/graphiql/env.js": { body: BOOT, type: "text/javascript; charset=utf-8" },
  "/graphiql/start.js": { body: START, type: "text/javascript; charset=utf-8" },
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page. Options go in as JSON data (never as script), with `<` escaped so nothing can close the element. */
export function graphiqlPage(title: string, endpoint: string): string {
  const options = JSON.stringify({ title, endpoint, subscriptionsProtocol: "WS" }).replace(/</g, "\\u003c");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/graphiql/graphiql.css"></head><body id="body" class="no-focus-outline"><div id="root">Loading ${escapeHtml(title)}…</div><script type="application/json" id="graphiql-options">${options}</script><script src="/graphiql/env.js"></script><script src="/graphiql/yoga-graphiql.umd.js"></script><script src="/graphiql/start.js"></script></body></html>`;
}

/** Yoga's rule: a browser GET of the endpoint (it accepts text/html) gets the IDE, anything else the API. */
export function wantsGraphiQL(req: IncomingMessage): boolean {
  return req.method === "GET" && (req.headers.accept ?? "").includes("text/html");
}

export interface GraphiQL {
  /** true when it answered the request */
  handle(req: IncomingMessage, res: ServerResponse, urlPath: string): Promise<boolean>;
}

export function createGraphiQL(opts: { endpoint: string; title: () => Promise<string> }): GraphiQL {
  const dir = path.dirname(require.resolve("@graphql-yoga/graphiql/package.json"));
  const cache = new Map<string, Buffer>();
  const asset = async (name: string): Promise<Buffer | null> => {
    const entry = FILES[name];
    if (!entry) return null;
    let body = cache.get(name);
    if (!body) {
      body = "body" in entry ? Buffer.from(entry.body) : await readFile(path.join(dir, entry.file));
      cache.set(name, body);
    }
    return body;
  };
  return {
    async handle(req, res, urlPath) {
      if (urlPath === opts.endpoint && wantsGraphiQL(req)) {
        const html = graphiqlPage(await opts.title(), opts.endpoint);
        res.writeHead(200, { ...HEADERS, "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(html);
        return true;
      }
      if (!urlPath.startsWith("/graphiql/")) return false;
      const body = await asset(urlPath).catch(() => null);
      if (!body) {
        res.writeHead(404, { ...HEADERS, "content-type": "text/plain; charset=utf-8" }).end("not found\n");
        return true;
      }
      res.writeHead(200, { ...HEADERS, "content-type": FILES[urlPath].type, "cache-control": "public, max-age=3600" }).end(req.method === "HEAD" ? undefined : body);
      return true;
    },
  };
}
