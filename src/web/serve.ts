import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import type { Logger } from "../util/log";

// The dashboard: a few static files and one esbuild bundle, built once when the server starts and kept in
// memory. Only the names in the asset table are served, so no request path ever reaches the file system
// (nothing to traverse), and the dashboard can only use what any API client can: the public /graphql.

const WEB_DIR = path.resolve(import.meta.dirname, "../../web");

interface Asset {
  body: Buffer;
  type: string;
}

export interface WebAssets {
  /** resolves when the bundle is built (or failed: then the failure is served as a 503) */
  ready: Promise<void>;
  /** true when it answered the request */
  handle(req: IncomingMessage, res: ServerResponse, urlPath: string): boolean;
}

// The page may talk to its own origin only (HTTP and WebSocket), run only its own script, load nothing else.
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
} as const;

async function bundle(): Promise<Buffer> {
  // esbuild is a dev dependency: a production install without it still serves the API.
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [path.join(WEB_DIR, "src/main.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    write: false,
    legalComments: "none",
    logLevel: "silent",
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error("esbuild produced no output");
  return Buffer.from(out.contents);
}

async function buildAssets(): Promise<Map<string, Asset>> {
  const [html, css, js] = await Promise.all([readFile(path.join(WEB_DIR, "index.html")), readFile(path.join(WEB_DIR, "styles.css")), bundle()]);
  return new Map<string, Asset>([
    ["/", { body: html, type: "text/html; charset=utf-8" }],
    ["/ui/styles.css", { body: css, type: "text/css; charset=utf-8" }],
    ["/ui/app.js", { body: js, type: "text/javascript; charset=utf-8" }],
  ]);
}

// One build per process: several servers in one process (tests, replicas) share it.
let building: Promise<Map<string, Asset>> | null = null;

export function createWebAssets(log: Logger): WebAssets {
  let assets: Map<string, Asset> | null = null;
  let failure: string | null = null;
  const started = Date.now();
  building ??= buildAssets();
  const ready = building.then(
    (built) => {
      assets = built;
      log.debug("dashboard built", { ms: Date.now() - started, bytes: built.get("/ui/app.js")?.body.length });
    },
    (e: unknown) => {
      failure = e instanceof Error ? e.message : String(e);
      log.warn("dashboard unavailable: its bundle could not be built", { error: failure });
    },
  );

  const send = (req: IncomingMessage, res: ServerResponse, status: number, type: string, body: Buffer | string) => {
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), "cache-control": "no-cache", ...SECURITY_HEADERS });
    res.end(req.method === "HEAD" ? undefined : body);
  };

  return {
    ready,
    handle(req, res, urlPath) {
      if (urlPath !== "/" && !urlPath.startsWith("/ui/")) return false;
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD" }).end();
        return true;
      }
      void ready.then(() => {
        if (failure !== null) return send(req, res, 503, "text/plain; charset=utf-8", `dashboard unavailable: ${failure}\n`);
        const asset = assets?.get(urlPath);
        if (!asset) return send(req, res, 404, "text/plain; charset=utf-8", "not found\n");
        send(req, res, 200, asset.type, asset.body);
      });
      return true;
    },
  };
}
