// Over 350 lines: one fake of the documented Sprites API (docs/sprites.md): sprites, exec, fs, processes,
// checkpoints, limits and sleep share one in-memory Sprite model.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, promises as fsp, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { encodeFrame, FRAME_EXIT, FRAME_STDERR, FRAME_STDOUT } from "../../src/transports/sprites-exec";
import { handleCheckpoints, newCheckpointState, type CheckpointState } from "./fake-sprites-checkpoints";
import { wakeRefusal, type OrgLimits } from "./fake-sprites-limits";

// A local stand-in for the Fly.io Sprites API (docs/sprites.md) that is as strict as the
// documentation, so a client that passes here does what the real API expects:
// - GET /v1/sprites/{name} (never wakes the Sprite, never counts as activity); fs/read, fs/list and fs/write
//   with BOTH `path` and `workingDir` required (400 otherwise), errors `{error, code: "ENOENT"..., path}`;
//   POST .../exec (`cmd` repeated, `path` required) answering one frame per HTTP chunk (0x01 stdout, 0x02 stderr,
//   0x03 exit code); `max_run_after_disconnect` (non-TTY default 10 s) kills a command that outlives its
//   connection; 429 answers carry `Retry-After` and `{error, message, retry_after_seconds}`.
// - The lifecycle: a Sprite with no request, no open exec stream and no live Task for `idleMs` goes warm (every
//   process it runs gets SIGSTOP, open exec streams are cut), and `coldAfterMs` later cold (every process is
//   killed, a new boot id); an fs/exec request wakes it (SIGCONT from warm; a delay from cold).
// - The Tasks API (docs/sprites.md) on a unix socket "inside" the Sprite: POST/PUT/DELETE/GET /v1/tasks.
// - The organisation's running/warm limits (`limits`, fake-sprites-limits.ts): a request that would wake a
//   Sprite beyond them is refused with 429, Retry-After and the SDK's error body, and the Sprite stays asleep.
// - Checkpoints (fake-sprites-checkpoints.ts): create, list (with the "Current" entry), restore (files rewound,
//   processes stopped, a new boot id).
// Each Sprite is a temp directory; exec really runs the argv with the Sprite's environment: SPRITE_API_SOCK
// (the Tasks socket; /.sprite/api.sock in a real Sprite), SUPERLOOP_OPS_BOOT_ID_FILE (the Sprite's boot id;
// /proc/sys/kernel/random/boot_id in a real one — exec argv and fs paths naming that file are mapped to it) and
// a marker variable by which the fake finds every process of the Sprite (setsid'd ones included) in /proc.

export const REAL_BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id";

export interface FakeTask {
  name: string;
  startedAt: number;
  expiresAt: number;
}

export interface FakeRequest {
  at: number;
  method: string;
  path: string;
  cmds: string[];
  /** the caller's x-trace-id header, if any */
  traceId: string | null;
}

export interface FakeSprite {
  name: string;
  /** The Sprite's filesystem: repos live under it (paths are real host paths). */
  dir: string;
  status: "cold" | "warm" | "running";
  labels: string[];
  /** Hibernated: the next fs/exec request waits `coldDelayMs`, then the Sprite is running. */
  coldDelayMs: number;
  /** Quiet time (no request, exec stream or live Task) before the Sprite goes warm. */
  idleMs: number;
  /** Time warm before the Sprite goes cold. */
  coldAfterMs: number;
  /** Default `max_run_after_disconnect` for non-TTY exec (the documented 10 s). */
  maxRunAfterDisconnectMs: number;
  /** Fail the next N requests to this Sprite with this status (429 carries Retry-After). */
  failNext: { status: number; count: number; retryAfterSec?: number; body?: string } | null;
  /** Every request to this Sprite answers this status while set (a persistent outage). */
  failAlways: { status: number; body?: string } | null;
  /** Delay every request to this Sprite by this many ms (timeouts). */
  delayMs: number;
  /** Drop the exit frame from exec answers. */
  dropExitFrame: boolean;
  /** Current boot id (changes on every cold boot). */
  bootId: string;
  /** Tasks held through the Sprite's Tasks API socket. */
  tasks: Map<string, FakeTask>;
  /** Every Tasks API call, `${method} ${path}` (tests check a Task was taken and released). */
  taskLog: string[];
  /** Lifecycle transitions with their time: `warm`, `cold`, `running`. */
  transitions: { at: number; to: "cold" | "warm" | "running" }[];
  /** The Tasks API socket path (SPRITE_API_SOCK inside the Sprite). */
  socketPath: string;
  /** Last time something counted as activity (a request, an exec stream, a live task). */
  lastActivity: number;
  openExecs: number;
  /** Checkpoints taken of this Sprite, and where its live filesystem comes from. */
  checkpoints: CheckpointState;
}

export interface FakeSpritesApi {
  url: string;
  token: string;
  sprites: Map<string, FakeSprite>;
  /** Requests seen: `${method} ${path}` with the query's cmd list for exec (never the token). */
  log: string[];
  /** The same requests with their time and Sprite-relative detail. */
  requests: FakeRequest[];
  create(name: string, opts?: Partial<Omit<FakeSprite, "name" | "tasks" | "taskLog" | "transitions" | "socketPath" | "checkpoints">>): FakeSprite;
  destroy(name: string): void;
  /** Cold now (processes killed, new boot id); the next fs/exec request pays `delayMs` to boot. */
  hibernate(name: string, delayMs?: number): void;
  /** Force a lifecycle transition now. */
  goWarm(name: string): void;
  goCold(name: string): void;
  /** pids of the Sprite's processes (found by its environment marker). */
  processes(name: string): number[];
  /** The organisation's running/warm limits, enforced when a request would wake a Sprite (fake-sprites-limits.ts). */
  limits: OrgLimits;
  /** Called before an exec runs its command (a test changes the Sprite's files at an exact point of a poll). */
  beforeExec: ((sprite: FakeSprite, cmds: string[]) => void | Promise<void>) | null;
  close(): Promise<void>;
}

const FRAME_MAX = 32 * 1024;
const MARKER = "FAKE_SPRITE_MARKER";
const MAX_TASK_MS = 60 * 60 * 1000;

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function inside(dir: string, target: string): boolean {
  const rel = path.relative(dir, target);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** Go-style duration ("10s", "5m", "1h", "1500ms") or plain seconds → ms; null when unreadable. */
export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  return Math.round(n * (unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000));
}

function fsError(res: http.ServerResponse, status: number, code: string, message: string, p: string): void {
  sendJson(res, status, { error: message, code, path: p });
}

async function readBody(req: http.IncomingMessage, max = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new Error("body too large");
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function startFakeSpritesApi(opts: { token?: string; idleMs?: number; coldAfterMs?: number; maxRunAfterDisconnectMs?: number } = {}): Promise<FakeSpritesApi> {
  const token = opts.token ?? "fake-sprites-token";
  const sprites = new Map<string, FakeSprite>();
  const log: string[] = [];
  const requests: FakeRequest[] = [];
  const children = new Set<ChildProcess>();
  const socketRoot = mkdtempSync(path.join(tmpdir(), "fsa-"));
  const taskServers = new Map<string, http.Server>();
  const streams = new Map<string, Set<http.ServerResponse>>();
  const instance = randomUUID().slice(0, 8);
  const markerOf = (s: FakeSprite) => `${instance}:${s.name}`;
  const bootFile = (s: FakeSprite) => path.join(socketRoot, `${s.name}.boot_id`);

  function processes(s: FakeSprite): number[] {
    const want = Buffer.from(`${MARKER}=${markerOf(s)}\0`);
    const out: number[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const env = readFileSync(`/proc/${entry}/environ`);
        if (env.includes(want)) out.push(Number(entry));
      } catch {
        // gone, or not ours to read
      }
    }
    return out;
  }
  // Scans until no new process shows up: a process forked while the first scan ran gets the signal too.
  const signalAll = (s: FakeSprite, signal: NodeJS.Signals) => {
    const done = new Set<number>();
    for (let round = 0; round < 5; round++) {
      const fresh = processes(s).filter((pid) => !done.has(pid));
      if (fresh.length === 0) return;
      for (const pid of fresh) {
        done.add(pid);
        try {
          process.kill(pid, signal);
        } catch {
          // exited meanwhile
        }
      }
    }
  };
  const transition = (s: FakeSprite, to: FakeSprite["status"]) => {
    s.status = to;
    s.transitions.push({ at: Date.now(), to });
  };

  function goWarm(s: FakeSprite): void {
    if (s.status !== "running") return;
    signalAll(s, "SIGSTOP");
    for (const r of streams.get(s.name) ?? []) r.destroy();
    transition(s, "warm");
  }
  function goCold(s: FakeSprite): void {
    if (s.status === "cold") return;
    signalAll(s, "SIGKILL");
    for (const r of streams.get(s.name) ?? []) r.destroy();
    s.tasks.clear();
    s.bootId = randomUUID();
    writeFileSync(bootFile(s), `${s.bootId}\n`);
    transition(s, "cold");
  }
  async function wake(s: FakeSprite): Promise<void> {
    if (s.status === "warm") {
      signalAll(s, "SIGCONT");
      transition(s, "running");
    } else if (s.status === "cold") {
      await new Promise((r) => setTimeout(r, s.coldDelayMs));
      if (s.status === "cold") transition(s, "running");
    }
    s.lastActivity = Date.now();
  }

  // The lifecycle clock: activity is an open exec stream or a live Task; otherwise the quiet time since the
  // last request decides.
  const tick = setInterval(() => {
    const now = Date.now();
    for (const s of sprites.values()) {
      for (const [name, t] of s.tasks) if (t.expiresAt <= now) s.tasks.delete(name);
      if (s.openExecs > 0 || s.tasks.size > 0) {
        s.lastActivity = now;
        continue;
      }
      if (s.status === "running" && now - s.lastActivity >= s.idleMs) goWarm(s);
      else if (s.status === "warm") {
        const last = s.transitions[s.transitions.length - 1];
        if (now - (last?.at ?? now) >= s.coldAfterMs) goCold(s);
      }
    }
  }, 50);

  function tasksServer(s: FakeSprite): http.Server {
    const server = http.createServer((req, res) => {
      void (async () => {
        const url = new URL(req.url ?? "/", "http://sprite");
        s.taskLog.push(`${req.method} ${url.pathname}`);
        const m = /^\/v1\/tasks(?:\/([^/]+))?$/.exec(url.pathname);
        if (!m) return sendJson(res, 404, { error: "not found" });
        const name = m[1] ? decodeURIComponent(m[1]) : null;
        const now = Date.now();
        const view = (t: FakeTask) => ({ name: t.name, started_at: new Date(t.startedAt).toISOString(), expires_at: new Date(t.expiresAt).toISOString() });
        if (req.method === "GET" && name === null) return sendJson(res, 200, { tasks: [...s.tasks.values()].filter((t) => t.expiresAt > now).map(view) });
        if (req.method === "DELETE" && name !== null) {
          const had = s.tasks.delete(name);
          if (!had) return sendJson(res, 404, { error: "task not found" });
          res.writeHead(204).end();
          return;
        }
        if ((req.method === "POST" && name === null) || (req.method === "PUT" && name !== null)) {
          let body: { name?: unknown; expire?: unknown };
          try {
            body = JSON.parse((await readBody(req)).toString("utf8") || "{}") as typeof body;
          } catch {
            return sendJson(res, 400, { error: "invalid JSON body" });
          }
          const taskName = name ?? (typeof body.name === "string" ? body.name : "");
          const expireMs = typeof body.expire === "string" ? parseDuration(body.expire) : null;
          if (!taskName) return sendJson(res, 400, { error: "name is required" });
          if (expireMs === null || expireMs <= 0 || expireMs > MAX_TASK_MS) return sendJson(res, 400, { error: "expire must be a duration of at most 1h" });
          const existing = s.tasks.get(taskName);
          if (req.method === "POST" && existing && existing.expiresAt > now) return sendJson(res, 409, { error: "task already exists" });
          const task = { name: taskName, startedAt: existing?.startedAt ?? now, expiresAt: now + expireMs };
          s.tasks.set(taskName, task);
          s.lastActivity = now;
          return sendJson(res, req.method === "POST" ? 201 : 200, view(task));
        }
        return sendJson(res, 405, { error: "method not allowed" });
      })().catch((e: unknown) => sendJson(res, 500, { error: String(e) }));
    });
    server.listen(s.socketPath);
    return server;
  }

  async function handleFs(s: FakeSprite, op: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const p = url.searchParams.get("path");
    const wd = url.searchParams.get("workingDir");
    if (p === null || p === "" || wd === null || wd === "") {
      return sendJson(res, 400, { error: "path and workingDir are required", code: "EINVAL", path: p ?? "" });
    }
    if (!path.isAbsolute(wd)) return fsError(res, 400, "EINVAL", "workingDir must be absolute", p);
    const requested = path.resolve(wd, p);
    const abs = requested === REAL_BOOT_ID_PATH ? bootFile(s) : requested;
    if (abs !== bootFile(s) && !inside(s.dir, abs)) return fsError(res, 404, "ENOENT", "no such file or directory", p);
    if (op === "read") {
      if (req.method !== "GET") return sendJson(res, 405, { error: "method not allowed" });
      try {
        const bytes = await fsp.readFile(abs);
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length });
        res.end(bytes);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? "EIO";
        fsError(res, code === "ENOENT" ? 404 : code === "EISDIR" ? 400 : 500, code, (e as Error).message, p);
      }
      return;
    }
    if (op === "list") {
      if (req.method !== "GET") return sendJson(res, 405, { error: "method not allowed" });
      try {
        const entries = await fsp.readdir(abs, { withFileTypes: true });
        return sendJson(
          res,
          200,
          entries.map((e) => ({ name: e.name, path: path.join(abs, e.name), isDir: e.isDirectory() })),
        );
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? "EIO";
        return fsError(res, code === "ENOENT" ? 404 : 500, code, (e as Error).message, p);
      }
    }
    // write
    if (req.method !== "PUT") return sendJson(res, 405, { error: "method not allowed" });
    const body = await readBody(req);
    if (url.searchParams.get("mkdirParents") === "true") mkdirSync(path.dirname(abs), { recursive: true });
    const modeText = url.searchParams.get("mode");
    try {
      await fsp.writeFile(abs, body, modeText ? { mode: parseInt(modeText, 8) } : {});
      if (modeText) await fsp.chmod(abs, parseInt(modeText, 8));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "EIO";
      return fsError(res, code === "ENOENT" ? 404 : 500, code, (e as Error).message, p);
    }
    return sendJson(res, 200, { path: abs, size: body.length });
  }

  async function handleExec(s: FakeSprite, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== "POST") return sendJson(res, 405, { error: "method not allowed" });
    const cmds = url.searchParams.getAll("cmd").map((c) => (c === REAL_BOOT_ID_PATH ? bootFile(s) : c));
    const wantStdin = url.searchParams.get("stdin") === "true";
    const stdin = await readBody(req);
    if (cmds.length === 0) return sendJson(res, 400, { error: "cmd is required" });
    if (!url.searchParams.get("path")) return sendJson(res, 400, { error: "path is required" });
    const tty = url.searchParams.get("tty") === "true";
    const mrad = url.searchParams.get("max_run_after_disconnect");
    let maxRunMs: number | null = tty ? null : s.maxRunAfterDisconnectMs;
    if (mrad !== null) {
      const ms = parseDuration(mrad);
      if (ms === null) return sendJson(res, 400, { error: "max_run_after_disconnect must be a duration" });
      maxRunMs = ms === 0 ? null : ms; // 0 = run forever
    }
    const env: NodeJS.ProcessEnv = { ...process.env, [MARKER]: markerOf(s), SPRITE_API_SOCK: s.socketPath, SUPERLOOP_OPS_BOOT_ID_FILE: bootFile(s) };
    for (const kv of url.searchParams.getAll("env")) {
      const eq = kv.indexOf("=");
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    const cwd = url.searchParams.get("dir") ?? s.dir;
    await api.beforeExec?.(s, cmds);
    res.writeHead(200, { "content-type": "application/octet-stream", "transfer-encoding": "chunked" });
    res.flushHeaders();
    const open = streams.get(s.name) ?? new Set();
    streams.set(s.name, open);
    open.add(res);
    s.openExecs++;
    let connected = true;
    const write = (type: number, data: Buffer) => {
      if (!connected) return;
      for (let i = 0; i < data.length; i += FRAME_MAX) res.write(encodeFrame(type, data.subarray(i, i + FRAME_MAX)));
    };
    // detached: the command leads its own process group, which max_run_after_disconnect kills as a whole
    // (a setsid'd grandchild has left that group and survives it, as on a real Sprite).
    const child = spawn(cmds[0], cmds.slice(1), { cwd, env, detached: true, stdio: [wantStdin ? "pipe" : "ignore", "pipe", "pipe"] });
    children.add(child);
    if (wantStdin && child.stdin) child.stdin.end(stdin);
    let exited = false;
    const onDisconnect = () => {
      if (!connected) return;
      connected = false;
      s.openExecs--;
      open.delete(res);
      if (exited || maxRunMs === null) return;
      setTimeout(() => {
        if (exited || child.pid === undefined) return;
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }, maxRunMs).unref();
    };
    res.on("close", onDisconnect);
    child.stdout!.on("data", (d: Buffer) => write(FRAME_STDOUT, d));
    child.stderr!.on("data", (d: Buffer) => write(FRAME_STDERR, d));
    const code = await new Promise<number>((resolve) => {
      child.once("error", (e) => {
        write(FRAME_STDERR, Buffer.from(`${cmds[0]}: ${e.message}\n`));
        resolve(127);
      });
      child.once("close", (c, signal) => resolve(c ?? (signal ? 128 + 9 : 1)));
    });
    exited = true;
    children.delete(child);
    if (connected) {
      if (!s.dropExitFrame) res.write(encodeFrame(FRAME_EXIT, Buffer.from([code & 0xff])));
      res.end();
    }
    s.lastActivity = Date.now();
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake.invalid");
    const m = /^\/v1\/sprites\/([^/]+)(\/fs\/(?:read|list|write)|\/exec|\/checkpoints?(?:\/[^/]+(?:\/restore)?)?)?$/.exec(url.pathname);
    const cmds = url.searchParams.getAll("cmd");
    log.push(`${req.method} ${url.pathname}${cmds.length ? ` ${JSON.stringify(cmds)}` : ""}`);
    const traceHeader = req.headers["x-trace-id"];
    requests.push({ at: Date.now(), method: req.method ?? "GET", path: url.pathname, cmds, traceId: typeof traceHeader === "string" ? traceHeader : null });
    if ((req.headers.authorization ?? "") !== `Bearer ${token}`) return sendJson(res, 401, { error: "unauthorized" });
    if (!m) return sendJson(res, 404, { error: "not found" });
    const sprite = sprites.get(decodeURIComponent(m[1]));
    if (!sprite) return sendJson(res, 404, { error: "sprite not found" });
    if (sprite.delayMs > 0) await new Promise((r) => setTimeout(r, sprite.delayMs));
    if (sprite.failAlways) return sendJson(res, sprite.failAlways.status, JSON.parse(sprite.failAlways.body ?? `{"error":"injected ${sprite.failAlways.status}"}`));
    if (sprite.failNext && sprite.failNext.count > 0) {
      sprite.failNext.count--;
      const f = sprite.failNext;
      if (f.count === 0) sprite.failNext = null;
      if (f.status === 429) {
        const after = f.retryAfterSec ?? 1;
        const body = f.body ? (JSON.parse(f.body) as unknown) : { error: "rate_limited", message: "rate limit exceeded", retry_after_seconds: after };
        return sendJson(res, 429, body, { "retry-after": String(after) });
      }
      return sendJson(res, f.status, f.body ? JSON.parse(f.body) : { error: `injected ${f.status}` }, f.retryAfterSec !== undefined ? { "retry-after": String(f.retryAfterSec) } : {});
    }
    const endpoint = m[2];
    if (endpoint?.startsWith("/checkpoint")) {
      const body = await readBody(req);
      const reboot = () => {
        // a restore stops every process and boots the Sprite anew (like a cold boot, but running at once)
        signalAll(sprite, "SIGKILL");
        for (const r of streams.get(sprite.name) ?? []) r.destroy();
        sprite.tasks.clear();
        sprite.bootId = randomUUID();
        writeFileSync(bootFile(sprite), `${sprite.bootId}\n`);
        transition(sprite, "running");
        sprite.lastActivity = Date.now();
      };
      if (handleCheckpoints(endpoint, req.method ?? "GET", body, res, { dir: sprite.dir, store: path.join(socketRoot, `${sprite.name}.checkpoints`), state: sprite.checkpoints, reboot })) return;
      return sendJson(res, 404, { error: "not found" });
    }
    if (!endpoint) {
      if (req.method !== "GET") return sendJson(res, 405, { error: "method not allowed" });
      // Reading the Sprite's record never wakes it and is not activity.
      return sendJson(res, 200, {
        id: `id-${sprite.name}`,
        name: sprite.name,
        organization: "fake",
        url: `https://${sprite.name}.sprites.app`,
        status: sprite.status,
        labels: sprite.labels,
        created_at: "2026-11-24T00:00:00Z",
        updated_at: "2026-11-24T00:00:00Z",
      });
    }
    // fs and exec wake a hibernated Sprite: the first request pays for it, unless the org's limits forbid it.
    const refusal = wakeRefusal(
      api.limits,
      sprite.status,
      [...sprites.values()].filter((o) => o !== sprite).map((o) => o.status),
    );
    if (refusal) return sendJson(res, refusal.status, refusal.body, refusal.headers);
    await wake(sprite);
    try {
      if (endpoint.startsWith("/fs/")) return await handleFs(sprite, endpoint.slice(4), url, req, res);
      return await handleExec(sprite, url, req, res);
    } finally {
      sprite.lastActivity = Date.now();
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(e) });
      else res.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;

  const get = (name: string) => sprites.get(name);
  const api: FakeSpritesApi = {
    beforeExec: null,
    limits: { running: null, warm: null, retryAfterSeconds: 30 },
    url: `http://127.0.0.1:${port}`,
    token,
    sprites,
    log,
    requests,
    create(name, o = {}) {
      const dir = o.dir ?? realpathSync(mkdtempSync(path.join(tmpdir(), `fake-sprite-${name}-`)));
      const sprite: FakeSprite = {
        name,
        dir,
        status: "running",
        labels: [],
        coldDelayMs: 0,
        idleMs: opts.idleMs ?? 30_000,
        coldAfterMs: opts.coldAfterMs ?? 5 * 60_000,
        maxRunAfterDisconnectMs: opts.maxRunAfterDisconnectMs ?? 10_000,
        failNext: null,
        failAlways: null,
        delayMs: 0,
        dropExitFrame: false,
        bootId: randomUUID(),
        lastActivity: Date.now(),
        openExecs: 0,
        ...o,
        tasks: new Map(),
        checkpoints: newCheckpointState(new Date().toISOString()),
        taskLog: [],
        transitions: [],
        socketPath: path.join(socketRoot, `${name}.sock`),
      };
      writeFileSync(bootFile(sprite), `${sprite.bootId}\n`);
      sprites.set(name, sprite);
      rmSync(sprite.socketPath, { force: true });
      taskServers.set(name, tasksServer(sprite));
      return sprite;
    },
    destroy(name) {
      const s = sprites.get(name);
      if (s) signalAll(s, "SIGKILL");
      sprites.delete(name);
      taskServers.get(name)?.close();
      taskServers.delete(name);
    },
    hibernate(name, delayMs = 500) {
      const s = get(name);
      if (s) {
        goCold(s);
        s.coldDelayMs = delayMs;
      }
    },
    goWarm(name) {
      const s = get(name);
      if (s) goWarm(s);
    },
    goCold(name) {
      const s = get(name);
      if (s) goCold(s);
    },
    processes(name) {
      const s = get(name);
      return s ? processes(s) : [];
    },
    async close() {
      clearInterval(tick);
      for (const s of sprites.values()) signalAll(s, "SIGKILL");
      for (const c of children) c.kill("SIGKILL");
      for (const ts of taskServers.values()) ts.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(socketRoot, { recursive: true, force: true });
    },
  };
  return api;
}
