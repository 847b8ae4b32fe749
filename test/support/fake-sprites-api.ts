import { spawn } from "node:child_process";
import { mkdtempSync, promises as fsp, realpathSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { encodeFrame, FRAME_EXIT, FRAME_STDERR, FRAME_STDOUT } from "../../src/transports/sprites-exec";

// A local stand-in for the Fly.io Sprites API (shared/docs/DOMAIN.md §7), exactly the endpoints the
// sprites_api transport uses: GET /v1/sprites/{name}, GET .../fs/read?path=, POST .../exec?cmd=...
// Each Sprite is a temp directory; exec really runs the argv (child_process.spawn, cwd = `dir` or the
// Sprite's directory) and streams one frame per HTTP chunk. Faults are injected per Sprite.

export interface FakeSprite {
  name: string;
  /** The Sprite's filesystem: repos live under it (paths are real host paths). */
  dir: string;
  status: "cold" | "warm" | "running";
  /** Hibernated: the next fs/exec request waits `coldDelayMs`, then the Sprite is running. */
  coldDelayMs: number;
  /** Fail the next N requests to this Sprite with this status (429 carries Retry-After). */
  failNext: { status: number; count: number; retryAfterSec?: number; body?: string } | null;
  /** Every request to this Sprite answers this status while set (a persistent outage). */
  failAlways: { status: number; body?: string } | null;
  /** Delay every request to this Sprite by this many ms (timeouts). */
  delayMs: number;
  /** Drop the exit frame from exec answers. */
  dropExitFrame: boolean;
}

export interface FakeSpritesApi {
  url: string;
  token: string;
  sprites: Map<string, FakeSprite>;
  /** Requests seen: `${method} ${path}` with the query's cmd list for exec (never the token). */
  log: string[];
  create(name: string, opts?: Partial<Omit<FakeSprite, "name">>): FakeSprite;
  destroy(name: string): void;
  hibernate(name: string, delayMs?: number): void;
  close(): Promise<void>;
}

const FRAME_MAX = 32 * 1024;

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function inside(dir: string, target: string): boolean {
  const rel = path.relative(dir, target);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

export async function startFakeSpritesApi(opts: { token?: string } = {}): Promise<FakeSpritesApi> {
  const token = opts.token ?? "fake-sprites-token";
  const sprites = new Map<string, FakeSprite>();
  const log: string[] = [];
  const children = new Set<ReturnType<typeof spawn>>();

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake.invalid");
    const m = /^\/v1\/sprites\/([^/]+)(\/fs\/read|\/exec)?$/.exec(url.pathname);
    const cmds = url.searchParams.getAll("cmd");
    log.push(`${req.method} ${url.pathname}${cmds.length ? ` ${JSON.stringify(cmds)}` : ""}`);
    if ((req.headers.authorization ?? "") !== `Bearer ${token}`) return sendJson(res, 401, { error: "unauthorized" });
    if (!m) return sendJson(res, 404, { error: "not found" });
    const sprite = sprites.get(decodeURIComponent(m[1]!));
    if (!sprite) return sendJson(res, 404, { error: "sprite not found" });
    if (sprite.delayMs > 0) await new Promise((r) => setTimeout(r, sprite.delayMs));
    if (sprite.failAlways) return sendJson(res, sprite.failAlways.status, JSON.parse(sprite.failAlways.body ?? `{"error":"injected ${sprite.failAlways.status}"}`));
    if (sprite.failNext && sprite.failNext.count > 0) {
      sprite.failNext.count--;
      const f = sprite.failNext;
      if (f.count === 0) sprite.failNext = null;
      return sendJson(res, f.status, { error: `injected ${f.status}` }, f.retryAfterSec !== undefined ? { "retry-after": String(f.retryAfterSec) } : {});
    }
    const endpoint = m[2];
    if (!endpoint) {
      if (req.method !== "GET") return sendJson(res, 405, { error: "method not allowed" });
      return sendJson(res, 200, { id: `id-${sprite.name}`, name: sprite.name, organization: "fake", url: `https://${sprite.name}.sprites.app`, status: sprite.status, created_at: "2026-11-24T00:00:00Z", updated_at: "2026-11-24T00:00:00Z" });
    }
    // fs and exec wake a hibernated Sprite: the first request pays for it.
    if (sprite.status === "cold") {
      await new Promise((r) => setTimeout(r, sprite.coldDelayMs));
      sprite.status = "running";
    }
    if (endpoint === "/fs/read") {
      if (req.method !== "GET") return sendJson(res, 405, { error: "method not allowed" });
      const p = url.searchParams.get("path") ?? "";
      const abs = path.resolve(url.searchParams.get("workingDir") ?? sprite.dir, p);
      if (!inside(sprite.dir, abs)) return sendJson(res, 404, { error: "file not found" });
      try {
        const bytes = await fsp.readFile(abs);
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length });
        res.end(bytes);
      } catch {
        sendJson(res, 404, { error: "file not found" });
      }
      return;
    }
    if (req.method !== "POST") return sendJson(res, 405, { error: "method not allowed" });
    for await (const _ of req) void _; // stdin is not used here
    if (cmds.length === 0) return sendJson(res, 400, { error: "cmd is required" });
    const cwd = url.searchParams.get("dir") ?? sprite.dir;
    res.writeHead(200, { "content-type": "application/octet-stream", "transfer-encoding": "chunked" });
    const write = (type: number, data: Buffer) => {
      for (let i = 0; i < data.length; i += FRAME_MAX) res.write(encodeFrame(type, data.subarray(i, i + FRAME_MAX)));
    };
    const child = spawn(cmds[0]!, cmds.slice(1), { cwd, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    child.stdout.on("data", (d: Buffer) => write(FRAME_STDOUT, d));
    child.stderr.on("data", (d: Buffer) => write(FRAME_STDERR, d));
    const code = await new Promise<number>((resolve) => {
      child.once("error", (e) => {
        write(FRAME_STDERR, Buffer.from(`${cmds[0]}: ${e.message}\n`));
        resolve(127);
      });
      child.once("close", (c, signal) => resolve(c ?? (signal ? 128 + 9 : 1)));
    });
    children.delete(child);
    if (!sprite.dropExitFrame) res.write(encodeFrame(FRAME_EXIT, Buffer.from([code & 0xff])));
    res.end();
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(e) });
      else res.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    token,
    sprites,
    log,
    create(name, o = {}) {
      const dir = o.dir ?? realpathSync(mkdtempSync(path.join(tmpdir(), `fake-sprite-${name}-`)));
      const sprite: FakeSprite = { name, dir, status: "running", coldDelayMs: 0, failNext: null, failAlways: null, delayMs: 0, dropExitFrame: false, ...o };
      sprites.set(name, sprite);
      return sprite;
    },
    destroy(name) {
      sprites.delete(name);
    },
    hibernate(name, delayMs = 500) {
      const s = sprites.get(name);
      if (s) {
        s.status = "cold";
        s.coldDelayMs = delayMs;
      }
    },
    async close() {
      for (const c of children) c.kill("SIGKILL");
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
