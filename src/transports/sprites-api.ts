import path from "node:path";
import type { z } from "zod";
import { buildControlArgv, lastSummaryEntry, loopPaths, MAX_LINE_BYTES, sha256Hex } from "../../agent";
import { relativeArtifactPaths } from "../../agent/artifacts";
import { supervisorFacts } from "../../agent/runtime-facts";
import { BOOT_ID_PATH, supervisorRecordPath } from "../../agent/supervise";
import { MAX_JSON_ARTIFACT_BYTES } from "../../agent/limits";
import {
  ActiveRunSchema,
  AdapterError,
  ApprovalSchema,
  HeartbeatSchema,
  RunSummarySchema,
  SuperloopStateSchema,
  type ControlResult,
  type EventCursor,
  type EventsPage,
  type RuntimeFacts,
} from "../contract";
import type { SpriteStatus } from "../generated/prisma/enums";
import { DEFAULT_RETRY, describeHttpError, parseJsonBody, type RetryPolicy } from "./http";
import { restoreSince, type RestoreFact } from "./sprite-checkpoints";
import { parseArtifact } from "./sprites-api-artifacts";
import { lastLine, SpritesApiClient } from "./sprites-api-client";
import { readEventsPage } from "./sprites-api-events";
import { liveness, signalRun } from "./sprites-api-process";
import { supervisorScript, supervisorScriptPath } from "./supervisor-script";
import { TransportError, type ControlRequest, type RunTarget, type SpriteObservation, type Transport } from "./transport";

// SPRITES_API: nothing of ours runs inside the Sprite. Status comes from the Sprites REST API, JSON artifacts
// through fs/read, and everything byte-ranged or process-related through exec of plain argv (stat, dd, cat,
// kill, the superloop CLI). New events cost a read from the cursor's byte offset, never the whole log, and
// envelopes are built with the agent's helpers so they equal the local transport's for the same bytes. The API
// client is sprites-api-client.ts, the events page sprites-api-events.ts, processes and signals
// sprites-api-process.ts.

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

const truncate = (text: string) => (text.length > MAX_OUTPUT_CHARS ? text.slice(-MAX_OUTPUT_CHARS) : text);
export class SpritesApiTransport implements Transport {
  readonly kind = "SPRITES_API" as const;
  private readonly api: SpritesApiClient;
  private readonly controlTimeoutMs: number;
  private readonly chunk: number;
  private readonly runs = new Map<string, RunCache>();
  private lastStatus: SpriteStatus = "UNKNOWN";

  constructor(private readonly opts: SpritesApiOptions) {
    this.api = new SpritesApiClient({
      baseUrl: opts.baseUrl,
      spriteName: opts.spriteName,
      tokenEnv: opts.tokenEnv,
      connectTimeoutMs: opts.connectTimeoutMs ?? 5_000,
      // A hibernated Sprite wakes on the first fs/exec request: give that one time.
      requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
      retry: opts.retry ?? DEFAULT_RETRY,
    });
    this.controlTimeoutMs = opts.controlTimeoutMs ?? 150_000;
    this.chunk = Math.max(opts.readChunkBytes ?? 2 * 1024 * 1024, MAX_LINE_BYTES + 2);
  }

  private cache(runId: string): RunCache {
    let c = this.runs.get(runId);
    if (!c) this.runs.set(runId, (c = {}));
    return c;
  }

  async spriteStatus(): Promise<SpriteObservation> {
    const res = await this.api.send(this.api.spritePath(), { replayable: true });
    if (res.status === 404) {
      this.lastStatus = "MISSING";
      return { status: "MISSING", detail: `Sprite ${this.api.spriteName} does not exist (404)` };
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
    const out = await this.api.exec(argv, { replayable: true });
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
      const bytes = await this.api.readFile(absolute, p.repoPath);
      return bytes === null ? null : parseArtifact(bytes, relative, schema);
    };
    const [state, activeRun, approval, summary, heartbeat] = await Promise.all([
      read(p.state, rel.state, SuperloopStateSchema),
      read(p.activeRun, rel.activeRun, ActiveRunSchema),
      read(p.approval, rel.approval, ApprovalSchema),
      read(p.runSummary, rel.runSummary, RunSummarySchema),
      read(p.heartbeat, rel.heartbeat, HeartbeatSchema),
    ]);
    const { alive, stopped } = await liveness(this.api, activeRun, p.repoPath, cache);
    cache.pid = alive ? (activeRun?.pid ?? null) : null;
    const recordPath = supervisorRecordPath(p.repoPath, p.loopId);
    const recordBytes = stats.files.get(recordPath)?.type === "regular file" ? await this.api.readFile(recordPath, p.repoPath) : null;
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
    const out = await this.api.exec(["cat", BOOT_ID_PATH], { replayable: true });
    const id = out.stdout.toString("utf8").trim();
    return out.exitCode === 0 && id.length > 0 ? id : null;
  }

  /** Writes the one-file supervisor into the Sprite (fs/write) unless the same bytes are there already. */
  private async installSupervisor(repoPath: string): Promise<string> {
    const script = await supervisorScript();
    const file = supervisorScriptPath(repoPath);
    const existing = await this.api.readFile(file, repoPath).catch(() => null);
    if (existing !== null && sha256Hex(existing) === script.sha256) return file;
    await this.api.writeFile(file, repoPath, script.text, "0755", "the supervisor");
    return file;
  }

  async readEvents(target: RunTarget, cursor: EventCursor, limit: number): Promise<EventsPage> {
    const p = loopPaths(target.repoPath, target.loopId);
    return readEventsPage(this.api, p, cursor, limit, { chunk: this.chunk, stat: this.runs.get(target.runId)?.stats?.files.get(p.events) });
  }

  async control(target: RunTarget, request: ControlRequest): Promise<ControlResult> {
    const p = loopPaths(target.repoPath, target.loopId);
    if (request.intent === "pause" || request.intent === "resume") return signalRun(this.api, request.intent, p.activeRun, p.loopId, p.repoPath);
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
      const out = await this.api.exec(["sh", "-c", script, "superloop-start", logFile, ...launch], { dir: p.repoPath, timeoutMs: this.controlTimeoutMs, replayable: false });
      const base = { intent: "start" as const, argv, exitCode: out.exitCode, stdout: truncate(out.stdout.toString("utf8")), stderr: truncate(out.stderr.toString("utf8")), logFile };
      if (out.exitCode === 0) return { ...base, ok: true };
      return { ...base, ok: false, error: { code: "control_failed", message: `cannot start ${path.basename(argv[0])}: exit ${out.exitCode}: ${lastLine(base.stderr)}` } };
    }
    const out = await this.api.exec(argv, { dir: p.repoPath, timeoutMs: this.controlTimeoutMs, replayable: false });
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

  /** GET .../checkpoints is an API read, not a request to the Sprite: it neither wakes it nor counts as activity. */
  async restoredSince(_target: RunTarget, since: Date): Promise<RestoreFact | null> {
    const res = await this.api.send(this.api.spritePath("/checkpoints"), { replayable: true, maxBodyBytes: MAX_JSON_ARTIFACT_BYTES });
    if (res.status !== 200) return null;
    return restoreSince(parseJsonBody(res, "GET /v1/sprites/{name}/checkpoints"), since);
  }

  takeAwakeMs(): number {
    return this.api.awake.take();
  }

  async close(): Promise<void> {
    this.runs.clear();
  }
}
