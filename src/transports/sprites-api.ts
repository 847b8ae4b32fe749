import path from "node:path";
import { currentTraceId, traceHeader } from "../observability/trace";
import type { z } from "zod";
import {
  AdapterError,
  cursorForkError,
  pageWithoutEventsFile,
  buildControlArgv,
  envelopeFromLine,
  lastSummaryEntry,
  loopPaths,
  MAX_LINE_BYTES,
  parseEventLine,
  sha256Hex,
  type ControlResult,
  type EventCursor,
  type EventsPage,
  type EventsPageError,
  type RuntimeFacts,
} from "../../agent";
import { relativeArtifactPaths, summarizeIssues } from "../../agent/artifacts";
import { supervisorFacts } from "../../agent/runtime-facts";
import { BOOT_ID_PATH, supervisorRecordPath } from "../../agent/supervise";
import { isRunArgvForRepo } from "../../agent/process-info";
import { decodeUtf8 } from "../../agent/file-io";
import { MAX_JSON_ARTIFACT_BYTES } from "../../agent/limits";
import { ActiveRunSchema, ApprovalSchema, HeartbeatSchema, RunSummarySchema, SuperloopStateSchema, type ActiveRun } from "../contract";
import type { SpriteStatus } from "../generated/prisma/enums";
import { tokenFromEnv } from "./config";
import { DEFAULT_RETRY, describeHttpError, parseJsonBody, retryableStatus, sendWithRetry, sleep, type HttpResponse, type RetryPolicy } from "./http";
import { decodeFrames, ExecProtocolError, execQuery, type ExecOutcome } from "./sprites-exec";
import { supervisorScript, supervisorScriptPath } from "./supervisor-script";
import { AwakeMeter } from "./awake-meter";
import { describeSpriteLimit, spriteLimitOf } from "./sprite-limits";
import { restoreSince, type RestoreFact } from "./sprite-checkpoints";
import { TransportError, type ControlRequest, type RunTarget, type SpriteObservation, type Transport } from "./transport";

// SPRITES_API: nothing of ours runs inside the Sprite. Status comes from the Sprites REST API, JSON artifacts
// through fs/read, and everything byte-ranged or process-related through exec of plain argv (stat, dd, cat,
// kill, the superloop CLI). New events cost a read from the cursor's byte offset, never the whole log, and
// envelopes are built with the agent's helpers so they equal the local transport's for the same bytes.

export interface SpritesApiOptions {
  baseUrl: string;
  /** The Sprite's name in the Sprites API. */
  spriteName: string;
  /** Name of the environment variable holding the API token. */
  tokenEnv?: string | undefined;
  superloopBin: string;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  controlTimeoutMs?: number;
  retry?: RetryPolicy;
  /** Bytes read after the cursor per request; above MAX_LINE_BYTES so any valid line fits in one read. */
  readChunkBytes?: number;
  /** START runs the loop under the supervisor written into the Sprite (default true; see supervisor-script.ts). */
  supervise?: boolean;
  /** The Sprite's node, which runs the supervisor script (default `node` on its PATH). */
  nodeBin?: string;
}

const STATUS: Record<string, SpriteStatus> = { cold: "COLD", warm: "WARM", running: "RUNNING" };
/** Bytes read before the cursor to find the last ingested line (longer lines take a second read). */
const BACK_WINDOW = 64 * 1024;
const STAT_FORMAT = "%n|%s|%.9Y|%F";
const STATS_REUSE_MS = 1_000;
const MAX_OUTPUT_CHARS = 64 * 1024;

interface FileStat {
  size: number;
  mtimeMs: number;
  type: string;
}

interface RunCache {
  stats?: { at: number; files: Map<string, FileStat>; text: string };
  pid?: number | null;
  fingerprint?: string;
  /** The last command-line verdict, for one process (pid + start time): a process's command line is checked once. */
  runProcess?: { key: string; isRun: boolean };
}

function parseArtifact<S extends z.ZodType>(bytes: Buffer, relativePath: string, schema: S): z.infer<S> {
  const text = decodeUtf8(bytes);
  if (text === null) throw new AdapterError("invalid_utf8", `${relativePath} is not valid UTF-8`, { path: relativePath });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new AdapterError("invalid_json", `invalid JSON in ${relativePath}: ${(e as Error).message}; the runtime may be mid-write, retry, or inspect the file`, {
      path: relativePath,
    });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new AdapterError("invalid_artifact", `${relativePath} does not have the expected shape: ${summarizeIssues(result.error)}`, { path: relativePath });
  }
  return result.data;
}

/** `/proc/<pid>/stat` lines (several files cat'ed together) → pid → one-letter state. */
/** pid → its state letter and start time (clock ticks since boot: a reused pid has another) from /proc/<pid>/stat lines. */
function procStates(text: string): Map<number, { state: string; start: string }> {
  const out = new Map<number, { state: string; start: string }>();
  for (const line of text.split("\n")) {
    const close = line.lastIndexOf(")");
    const pid = Number(line.slice(0, line.indexOf(" ")));
    if (close === -1 || !Number.isSafeInteger(pid)) continue;
    const fields = line.slice(close + 2).split(" "); // fields[0] is field 3 (state), fields[19] field 22 (starttime)
    if (fields[0]) out.set(pid, { state: fields[0], start: fields[19] ?? "" });
  }
  return out;
}

const truncate = (text: string) => (text.length > MAX_OUTPUT_CHARS ? text.slice(-MAX_OUTPUT_CHARS) : text);
const lastLine = (text: string) => (text.trim().split("\n").pop() ?? "").slice(0, 300);

export class SpritesApiTransport implements Transport {
  readonly kind = "SPRITES_API" as const;
  private readonly base: string;
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly controlTimeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly chunk: number;
  private readonly runs = new Map<string, RunCache>();
  private lastStatus: SpriteStatus = "UNKNOWN";
  /** fs and exec requests are activity (they wake and keep the Sprite awake); GET /v1/sprites/{name} is not. */
  private readonly awake = new AwakeMeter();

  constructor(private readonly opts: SpritesApiOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, "");
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    // A hibernated Sprite wakes on the first fs/exec request: give that one time.
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.controlTimeoutMs = opts.controlTimeoutMs ?? 150_000;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.chunk = Math.max(opts.readChunkBytes ?? 2 * 1024 * 1024, MAX_LINE_BYTES + 2);
  }

  private cache(runId: string): RunCache {
    let c = this.runs.get(runId);
    if (!c) this.runs.set(runId, (c = {}));
    return c;
  }

  private spritePath(suffix = ""): string {
    return `/v1/sprites/${encodeURIComponent(this.opts.spriteName)}${suffix}`;
  }

  private async send(pathAndQuery: string, opts: { method?: "GET" | "POST" | "PUT"; body?: Buffer; timeoutMs?: number; replayable: boolean; maxBodyBytes?: number }): Promise<HttpResponse> {
    if (this.opts.tokenEnv === undefined) throw new TransportError("token_missing", "spritesApiTokenEnv is not configured for this Sprite", false);
    const token = tokenFromEnv(this.opts.tokenEnv);
    if (!token.ok) throw new TransportError("token_missing", token.message, false);
    const res = await sendWithRetry(
      {
        url: new URL(this.base + pathAndQuery),
        method: opts.method ?? "GET",
        headers: { authorization: `Bearer ${token.token ?? ""}`, accept: "application/json, application/octet-stream", ...traceHeader() },
        ...(opts.body !== undefined ? { body: opts.body } : opts.method === "POST" ? { body: Buffer.alloc(0) } : {}),
        connectTimeoutMs: this.connectTimeoutMs,
        totalTimeoutMs: opts.timeoutMs ?? this.requestTimeoutMs,
        ...(opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {}),
      },
      this.retry,
      // An org limit is not a blip: retrying within this request cannot help, the operator must see it.
      { replayable: opts.replayable, isFinal: (r) => spriteLimitOf(r) !== null },
    );
    const limit = spriteLimitOf(res);
    if (limit !== null) {
      const action = pathAndQuery.slice(this.spritePath().length).split("?")[0].replace(/^\//, "") || "reading the Sprite";
      throw new TransportError("sprite_limit_exceeded", describeSpriteLimit(limit, action), false, {
        status: 429,
        limit: limit.code,
        ...(limit.limit !== null ? { limitValue: limit.limit } : {}),
        ...(limit.current !== null ? { current: limit.current } : {}),
        ...(limit.retryAfterSeconds !== null ? { retryAfterSeconds: limit.retryAfterSeconds } : {}),
      });
    }
    if (res.status === 401 || res.status === 403) {
      throw new TransportError("unauthorized", `Sprites API refused the token in ${this.opts.tokenEnv}: ${describeHttpError(res)}`, false, { status: res.status });
    }
    if (retryableStatus(res.status)) throw new TransportError("http_error", `Sprites API answered ${describeHttpError(res)}`, true, { status: res.status });
    return res;
  }

  /** Runs argv inside the Sprite. Reads are replayable; control commands are not (no idempotency on exec). */
  private async exec(argv: string[], opts: { dir?: string; timeoutMs?: number; replayable: boolean }): Promise<ExecOutcome> {
    this.awake.touch();
    const res = await this.send(`${this.spritePath("/exec")}?${execQuery(argv, opts.dir)}`, {
      method: "POST",
      replayable: opts.replayable,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
    if (res.status === 404) throw new TransportError("sprite_missing", `Sprite ${this.opts.spriteName} not found (exec)`, false, { status: 404 });
    if (res.status !== 200) throw new TransportError("http_error", `exec ${argv[0]}: ${describeHttpError(res)}`, false, { status: res.status });
    try {
      return decodeFrames(res.chunks);
    } catch (e) {
      if (e instanceof ExecProtocolError) throw new TransportError("exec_incomplete", `exec ${argv[0]}: ${e.message}`, true);
      throw e;
    }
  }

  /**
   * Raw file bytes, null when the file does not exist. The API requires `workingDir` next to `path` (400
   * without it, as both official SDKs always send it): the run's repo, against which the absolute path resolves
   * to itself.
   */
  private async readFile(absolutePath: string, workingDir: string): Promise<Buffer | null> {
    this.awake.touch();
    const res = await this.send(`${this.spritePath("/fs/read")}?${new URLSearchParams({ path: absolutePath, workingDir }).toString()}`, {
      replayable: true,
      maxBodyBytes: MAX_JSON_ARTIFACT_BYTES,
    });
    if (res.status === 404) return null;
    if (res.status !== 200) throw new TransportError("http_error", `fs/read ${path.basename(absolutePath)}: ${describeHttpError(res)}`, false, { status: res.status });
    return res.body;
  }

  async spriteStatus(): Promise<SpriteObservation> {
    const res = await this.send(this.spritePath(), { replayable: true });
    if (res.status === 404) {
      this.lastStatus = "MISSING";
      return { status: "MISSING", detail: `Sprite ${this.opts.spriteName} does not exist (404)` };
    }
    if (res.status !== 200) throw new TransportError("http_error", `GET sprite: ${describeHttpError(res)}`, false, { status: res.status });
    const body = parseJsonBody(res, "GET /v1/sprites/{name}") as { status?: unknown; name?: unknown; labels?: unknown };
    if (typeof body !== "object" || body === null || typeof body.status !== "string") {
      throw new TransportError("invalid_payload", "GET /v1/sprites/{name}: answer has no status", false);
    }
    this.lastStatus = STATUS[body.status] ?? "UNKNOWN";
    const labels = Array.isArray(body.labels) ? body.labels.filter((l): l is string => typeof l === "string" && l.length <= 200).slice(0, 50) : undefined;
    return {
      status: this.lastStatus,
      ...(this.lastStatus === "UNKNOWN" ? { detail: `unknown Sprite status ${JSON.stringify(body.status)}` } : {}),
      ...(labels !== undefined ? { labels } : {}),
    };
  }

  private async statFiles(target: RunTarget, cache: RunCache): Promise<{ files: Map<string, FileStat>; text: string }> {
    const p = loopPaths(target.repoPath, target.loopId);
    const argv = ["stat", "-c", STAT_FORMAT, p.loopDir, p.events, p.state, p.activeRun, p.approval, p.runSummary, p.heartbeat, supervisorRecordPath(p.repoPath, p.loopId)];
    // A live pid's /proc directory folds liveness into the fingerprint (a crash changes nothing on disk).
    if (cache.pid) argv.push(`/proc/${cache.pid}`);
    const out = await this.exec(argv, { replayable: true });
    if (out.exitCode > 1) throw new TransportError("exec_failed", `stat exited with ${out.exitCode}: ${lastLine(out.stderr.toString("utf8"))}`, true);
    const text = out.stdout.toString("utf8");
    const files = new Map<string, FileStat>();
    for (const line of text.split("\n")) {
      const [name, size, mtime, type] = line.split("|");
      if (name && size && mtime && type) files.set(name, { size: Number(size), mtimeMs: Number(mtime) * 1000, type });
    }
    cache.stats = { at: Date.now(), files, text };
    return cache.stats;
  }

  /** One exec of `stat` over every artifact. A hibernated Sprite changes nothing: keep its last fingerprint. */
  async fingerprint(target: RunTarget): Promise<string | null> {
    const cache = this.cache(target.runId);
    if (this.lastStatus === "COLD" && cache.fingerprint !== undefined) return cache.fingerprint;
    const { text } = await this.statFiles(target, cache);
    cache.fingerprint = text;
    return text;
  }

  async readFacts(target: RunTarget): Promise<RuntimeFacts> {
    const cache = this.cache(target.runId);
    const p = loopPaths(target.repoPath, target.loopId);
    const rel = relativeArtifactPaths(p);
    const stats = cache.stats && Date.now() - cache.stats.at < STATS_REUSE_MS ? cache.stats : await this.statFiles(target, cache);
    cache.stats = undefined;
    const read = async <S extends z.ZodType>(absolute: string, relative: string, schema: S): Promise<z.infer<S> | null> => {
      if (!stats.files.has(absolute)) return null;
      const bytes = await this.readFile(absolute, p.repoPath);
      return bytes === null ? null : parseArtifact(bytes, relative, schema);
    };
    const [state, activeRun, approval, summary, heartbeat] = await Promise.all([
      read(p.state, rel.state, SuperloopStateSchema),
      read(p.activeRun, rel.activeRun, ActiveRunSchema),
      read(p.approval, rel.approval, ApprovalSchema),
      read(p.runSummary, rel.runSummary, RunSummarySchema),
      read(p.heartbeat, rel.heartbeat, HeartbeatSchema),
    ]);
    const { alive, stopped } = await this.liveness(activeRun, p.repoPath, cache);
    cache.pid = alive ? (activeRun?.pid ?? null) : null;
    const recordPath = supervisorRecordPath(p.repoPath, p.loopId);
    const recordBytes = stats.files.get(recordPath)?.type === "regular file" ? await this.readFile(recordPath, p.repoPath) : null;
    const supervisor = recordBytes === null ? null : supervisorFacts(recordBytes.toString("utf8"), p.loopId, await this.bootId());
    return {
      state,
      activeRun,
      activeRunAlive: alive,
      processStopped: stopped,
      approval,
      lastSummary: lastSummaryEntry(summary),
      heartbeat,
      eventsFileExists: stats.files.get(p.events)?.type === "regular file",
      loopDirExists: stats.files.get(p.loopDir)?.type === "directory",
      ...(supervisor !== null ? { supervisor } : {}),
    };
  }

  /** The Sprite's boot id now (a new one after every cold boot). */
  private async bootId(): Promise<string | null> {
    const out = await this.exec(["cat", BOOT_ID_PATH], { replayable: true });
    const id = out.stdout.toString("utf8").trim();
    return out.exitCode === 0 && id.length > 0 ? id : null;
  }

  /** Writes the one-file supervisor into the Sprite (fs/write) unless the same bytes are there already. */
  private async installSupervisor(repoPath: string): Promise<string> {
    const script = await supervisorScript();
    const file = supervisorScriptPath(repoPath);
    const existing = await this.readFile(file, repoPath).catch(() => null);
    if (existing !== null && sha256Hex(existing) === script.sha256) return file;
    const query = new URLSearchParams({ path: file, workingDir: repoPath, mkdirParents: "true", mode: "0755" });
    this.awake.touch();
    const res = await this.send(`${this.spritePath("/fs/write")}?${query.toString()}`, { method: "PUT", body: Buffer.from(script.text, "utf8"), replayable: true });
    if (res.status !== 200 && res.status !== 201 && res.status !== 204) {
      throw new TransportError("http_error", `fs/write of the supervisor: ${describeHttpError(res)}`, false, { status: res.status });
    }
    return file;
  }

  /** Same meaning as the agent's isProcessAlive/isProcessStopped, read through one `cat /proc/.../stat`. */
  private async liveness(activeRun: ActiveRun | null, repoPath: string, cache: RunCache): Promise<{ alive: boolean | null; stopped: boolean | null }> {
    const pid = activeRun?.pid ?? null;
    if (pid === null || !Number.isSafeInteger(pid) || pid <= 0) return { alive: null, stopped: null };
    const leader = activeRun?.pgid ?? pid;
    const files = [`/proc/${pid}/stat`];
    if (leader !== pid && Number.isSafeInteger(leader) && leader > 0) files.push(`/proc/${leader}/stat`);
    const out = await this.exec(["cat", ...files], { replayable: true });
    const states = procStates(out.stdout.toString("utf8"));
    const own = states.get(pid);
    // A live pid running something else is not the run (pids are reused, e.g. after a cold boot): the same
    // command-line check as the local adapter's isRunProcessAlive, read once per process rather than every poll.
    let alive = own !== undefined && own.state !== "Z";
    if (own !== undefined && alive) {
      const key = `${pid}:${own.start}`;
      if (cache.runProcess?.key !== key) cache.runProcess = { key, isRun: (await this.runLeader(pid, repoPath)) === "run" };
      alive = cache.runProcess.isRun;
    }
    const leaderState = states.get(leader)?.state;
    const stopped = !alive || leaderState === undefined ? null : leaderState === "T" || leaderState === "t";
    return { alive, stopped };
  }

  /** `count` bytes of the file from `offset` (fewer at its end); null when the file does not exist. */
  private async readRange(file: string, offset: number, count: number): Promise<Buffer | null> {
    const out = await this.exec(["dd", `if=${file}`, "iflag=skip_bytes,count_bytes", `skip=${offset}`, `count=${count}`, "bs=65536", "status=none"], { replayable: true });
    if (out.exitCode !== 0) {
      const err = out.stderr.toString("utf8");
      if (/No such file/i.test(err)) return null;
      throw new TransportError("exec_failed", `dd exited with ${out.exitCode}: ${lastLine(err)}`, true);
    }
    return out.stdout;
  }

  async readEvents(target: RunTarget, cursor: EventCursor, limit: number): Promise<EventsPage> {
    const p = loopPaths(target.repoPath, target.loopId);
    const source = { repoPath: p.repoPath, loopId: p.loopId };
    const emittedAt = new Date().toISOString();
    const start = Math.max(0, cursor.byteOffset - BACK_WINDOW);
    const requested = cursor.byteOffset - start + this.chunk;
    const bytes = await this.readRange(p.events, start, requested);
    if (bytes === null) return pageWithoutEventsFile(cursor);
    const eof = bytes.length < requested;
    const seenSize = start + bytes.length;
    const rel = cursor.byteOffset - start;
    let lastLineHash = cursor.lastLineHash;

    if (cursor.line > 0) {
      const expected = { line: cursor.line, byteOffset: cursor.byteOffset, lastLineHash: cursor.lastLineHash };
      if (seenSize < cursor.byteOffset) {
        throw cursorForkError(`events.jsonl is ${seenSize} bytes, shorter than the cursor at byte ${cursor.byteOffset} (line ${cursor.line})`, { expected, actual: { fileSize: seenSize } });
      }
      if (bytes[rel - 1] !== 0x0a) {
        throw cursorForkError(`events.jsonl has no line end at byte ${cursor.byteOffset} where line ${cursor.line} ended`, {
          expected,
          actual: { fileSize: seenSize, byteAtCursor: bytes[rel - 1] ?? null },
        });
      }
      let line: Buffer | null = null;
      const nl = rel >= 2 ? bytes.lastIndexOf(0x0a, rel - 2) : -1;
      if (nl !== -1 || start === 0) line = bytes.subarray(nl + 1, rel - 1);
      else {
        // The last ingested line is longer than the window: read back as far as a line may be long.
        const backStart = Math.max(0, cursor.byteOffset - MAX_LINE_BYTES - 2);
        const back = await this.readRange(p.events, backStart, cursor.byteOffset - backStart);
        const backNl = back && back.length >= 2 ? back.lastIndexOf(0x0a, back.length - 2) : -1;
        if (back !== null && back.length === cursor.byteOffset - backStart && (backNl !== -1 || backStart === 0)) line = back.subarray(backNl + 1, back.length - 1);
      }
      if (line === null) {
        throw cursorForkError(`the line before byte ${cursor.byteOffset} cannot be the ingested line ${cursor.line}`, { expected, actual: { fileSize: seenSize, reason: "too_long" } });
      }
      const actualHash = sha256Hex(line);
      if (cursor.lastLineHash !== null && actualHash !== cursor.lastLineHash) {
        throw cursorForkError(`line ${cursor.line} of events.jsonl changed since it was ingested (rewrite)`, {
          expected,
          actual: { fileSize: seenSize, lastLineHash: actualHash },
        });
      }
      lastLineHash = actualHash;
    }

    // Forward: complete lines after the cursor, exactly as the agent's reader walks them.
    const good: { line: number; text: string; raw: Parameters<typeof envelopeFromLine>[0]["raw"]; endOffset: number; hash: string }[] = [];
    let pageError: EventsPageError | undefined;
    let hasMore = false;
    let lineNo = cursor.line;
    let from = rel;
    while (from < bytes.length) {
      const nl = bytes.indexOf(0x0a, from);
      if (nl === -1) break;
      if (good.length >= limit) {
        hasMore = true;
        break;
      }
      const lineBytes = bytes.subarray(from, nl);
      const parsed = parseEventLine(lineBytes, lineNo + 1);
      if (!parsed.ok) {
        pageError = { code: parsed.code, message: parsed.message, line: lineNo + 1 };
        break;
      }
      lineNo += 1;
      good.push({ line: lineNo, text: parsed.text, raw: parsed.raw, endOffset: start + nl + 1, hash: sha256Hex(lineBytes) });
      from = nl + 1;
    }
    const stoppedEarly = hasMore || pageError !== undefined;
    const remainder = bytes.length - from;
    if (!stoppedEarly && remainder > MAX_LINE_BYTES) {
      pageError = { code: "line_too_long", message: `line ${lineNo + 1} of events.jsonl exceeds the ${MAX_LINE_BYTES}-byte line limit`, line: lineNo + 1 };
    } else if (!stoppedEarly && !eof) {
      hasMore = good.length > 0; // the read ended inside a line and the file goes on
    }
    const last = good[good.length - 1];
    const cursorLine = last?.line ?? cursor.line;
    const cursorOffset = last?.endOffset ?? cursor.byteOffset;
    const reachedEof = eof && !hasMore && pageError === undefined;

    let eventLineCount = cursorLine;
    if (!reachedEof) {
      for (let i = bytes.indexOf(0x0a, cursorOffset - start); i !== -1; i = bytes.indexOf(0x0a, i + 1)) eventLineCount++;
    }
    const lastNl = bytes.lastIndexOf(0x0a);
    const pendingBytes = eof ? bytes.length - (lastNl === -1 ? 0 : lastNl + 1) : 0;
    const stat = this.runs.get(target.runId)?.stats?.files.get(p.events);

    const page: EventsPage = {
      envelopes: good.map((g) => envelopeFromLine({ raw: g.raw, line: g.line, lineCount: eventLineCount, source, traceId: currentTraceId(), emittedAt })),
      lines: good.map((g) => g.text),
      cursor: {
        line: cursorLine,
        byteOffset: cursorOffset,
        lastLineHash: last?.hash ?? lastLineHash,
        pendingBytes,
        fileSize: eof ? seenSize : Math.max(seenSize, stat?.size ?? 0),
        mtimeMs: stat?.mtimeMs ?? 0,
      },
      eventLineCount,
      eventLineCountExact: eof,
      hasMore,
      eventsFileExists: true,
    };
    if (pageError !== undefined) page.error = pageError;
    return page;
  }

  async control(target: RunTarget, request: ControlRequest): Promise<ControlResult> {
    const p = loopPaths(target.repoPath, target.loopId);
    if (request.intent === "pause" || request.intent === "resume") return this.signal(request.intent, p.activeRun, p.loopId, p.repoPath);
    const argv = buildControlArgv(request.intent, {
      bin: this.opts.superloopBin,
      repoPath: p.repoPath,
      loopId: p.loopId,
      by: request.by,
      ...(request.note ? { note: request.note } : {}),
    });
    if (argv === null) throw new AdapterError("internal_error", `no command for intent ${request.intent}`);
    if (request.intent === "start") {
      // Detached from the exec session (which ends when the command returns), output to a log in the Sprite.
      // The script is a constant: the argv reaches it as positional parameters, never as shell text.
      // Under the supervisor (unless disabled), which holds a Sprites Task while the run lives: a process left
      // behind by exec is not activity, so without it the Sprite goes warm (the run freezes) and later cold (it
      // dies). setsid takes it out of the exec's process group and session, so neither the connection closing
      // nor max_run_after_disconnect (which ends the command exec started) reaches it.
      const logFile = path.join(p.superloopDir, "ops-agent", "logs", `start-${p.loopId}-${new Date().toISOString().replace(/[:.]/g, "-")}.log`);
      const launch = this.opts.supervise === false ? argv : [this.opts.nodeBin ?? "node", await this.installSupervisor(p.repoPath), "--repo", p.repoPath, "--loop", p.loopId, "--", ...argv];
      const script = 'log=$1; shift; mkdir -p "$(dirname "$log")" && exec setsid -f "$@" >>"$log" 2>&1 </dev/null';
      const out = await this.exec(["sh", "-c", script, "superloop-start", logFile, ...launch], { dir: p.repoPath, timeoutMs: this.controlTimeoutMs, replayable: false });
      const base = { intent: "start" as const, argv, exitCode: out.exitCode, stdout: truncate(out.stdout.toString("utf8")), stderr: truncate(out.stderr.toString("utf8")), logFile };
      if (out.exitCode === 0) return { ...base, ok: true };
      return { ...base, ok: false, error: { code: "control_failed", message: `cannot start ${path.basename(argv[0])}: exit ${out.exitCode}: ${lastLine(base.stderr)}` } };
    }
    const out = await this.exec(argv, { dir: p.repoPath, timeoutMs: this.controlTimeoutMs, replayable: false });
    const stdout = truncate(out.stdout.toString("utf8"));
    const stderr = truncate(out.stderr.toString("utf8"));
    const base = { intent: request.intent, argv, exitCode: out.exitCode, stdout, stderr };
    if (out.exitCode === 0) return { ...base, ok: true };
    const detail = lastLine(stderr) || lastLine(stdout);
    return {
      ...base,
      ok: false,
      error: { code: "control_failed", message: `${path.basename(argv[0])} ${argv[1] ?? ""} exited with code ${out.exitCode}${detail ? `: ${detail}` : ""}` },
    };
  }

  private async signal(intent: "pause" | "resume", activeRunPath: string, loopId: string, repoPath: string): Promise<ControlResult> {
    const signal = intent === "pause" ? "SIGSTOP" : "SIGCONT";
    const base = { intent, argv: null, exitCode: null, stdout: "", stderr: "", signal };
    const fail = (code: string, message: string, extra: Record<string, unknown> = {}): ControlResult => ({ ...base, ...extra, ok: false, error: { code, message } });
    const bytes = await this.readFile(activeRunPath, repoPath);
    if (bytes === null) return fail("no_active_run", `no active run: .superloop/active-run.json is missing, nothing to ${intent}`);
    let activeRun: ActiveRun;
    try {
      activeRun = parseArtifact(bytes, ".superloop/active-run.json", ActiveRunSchema);
    } catch (e) {
      return fail(e instanceof AdapterError ? e.code : "io_error", `cannot read .superloop/active-run.json: ${(e as Error).message}`);
    }
    if (typeof activeRun.loop_id === "string" && activeRun.loop_id.length > 0 && activeRun.loop_id !== loopId) {
      return fail("no_active_run", `the active run belongs to loop ${activeRun.loop_id}, not ${loopId}`);
    }
    const pgid = activeRun.pgid ?? activeRun.pid ?? null;
    if (pgid === null || !Number.isSafeInteger(pgid) || pgid < 2) return fail("control_failed", `refusing to signal process group ${String(pgid)} from active-run.json`);
    // A file naming a group is not proof the group is the run (pids are reused; the file may be forged): only a
    // group whose leader is this repo's `superloop run` is signalled, as the local adapter does (docs/runtime.md).
    const leader = await this.runLeader(pgid, repoPath);
    if (leader === "gone") return fail("no_active_run", `process group ${pgid} from active-run.json no longer exists (stale file)`, { pid: pgid });
    if (leader === "other") return fail("control_failed", `refusing to signal process group ${pgid}: it is not this repo's superloop run (pid reused)`, { pid: pgid });
    const out = await this.exec(["kill", "-s", intent === "pause" ? "STOP" : "CONT", "--", `-${pgid}`], { replayable: false });
    if (out.exitCode !== 0) {
      const err = out.stderr.toString("utf8");
      if (/no such process/i.test(err)) return fail("no_active_run", `process group ${pgid} from active-run.json no longer exists (stale file)`, { pid: pgid });
      return fail("control_failed", `cannot send ${signal} to process group ${pgid}: ${lastLine(err)}`, { pid: pgid });
    }
    const want = intent === "pause";
    const deadline = Date.now() + 2_000;
    let observed: boolean | null;
    for (;;) {
      const stat = await this.exec(["cat", `/proc/${pgid}/stat`], { replayable: true });
      const state = procStates(stat.stdout.toString("utf8")).get(pgid)?.state;
      observed = state === undefined ? null : state === "T" || state === "t";
      if (observed === want || observed === null || Date.now() >= deadline) break;
      await sleep(50);
    }
    return { ...base, pid: pgid, ok: true, verified: observed === null ? {} : { processStopped: observed } };
  }

  /** Whether process `pgid` in the Sprite is this repo's `superloop run` (its cwd read only for a relative --repo). */
  private async runLeader(pgid: number, repoPath: string): Promise<"run" | "other" | "gone"> {
    const cmd = await this.exec(["cat", `/proc/${pgid}/cmdline`], { replayable: true });
    const raw = cmd.stdout.toString("utf8");
    if (cmd.exitCode !== 0 || raw.length === 0) return "gone"; // no such process, or a zombie
    const argv = raw.replace(/\0$/, "").split("\0");
    if (isRunArgvForRepo(argv, repoPath, null)) return "run";
    const cwd = await this.exec(["readlink", `/proc/${pgid}/cwd`], { replayable: true });
    const dir = cwd.exitCode === 0 ? cwd.stdout.toString("utf8").trim() : "";
    return dir.length > 0 && isRunArgvForRepo(argv, repoPath, dir) ? "run" : "other";
  }

  /** GET .../checkpoints is an API read, not a request to the Sprite: it neither wakes it nor counts as activity. */
  async restoredSince(_target: RunTarget, since: Date): Promise<RestoreFact | null> {
    const res = await this.send(this.spritePath("/checkpoints"), { replayable: true, maxBodyBytes: MAX_JSON_ARTIFACT_BYTES });
    if (res.status !== 200) return null;
    return restoreSince(parseJsonBody(res, "GET /v1/sprites/{name}/checkpoints"), since);
  }

  takeAwakeMs(): number {
    return this.awake.take();
  }

  async close(): Promise<void> {
    this.runs.clear();
  }
}
