import path from "node:path";
import { MAX_JSON_ARTIFACT_BYTES } from "../../agent/limits";
import { traceHeader } from "../observability/trace";
import { AwakeMeter } from "./awake-meter";
import { tokenFromEnv } from "./config";
import { describeHttpError, retryableStatus, sendWithRetry, type HttpResponse, type RetryPolicy } from "./http";
import { describeSpriteLimit, spriteLimitOf } from "./sprite-limits";
import { decodeFrames, ExecProtocolError, execQuery, type ExecOutcome } from "./sprites-exec";
import { TransportError } from "./transport";

// The Sprites REST API for one Sprite, as the SPRITES_API transport uses it: authenticated requests with retry,
// exec of plain argv, fs/read and fs/write. Failures become TransportErrors (an org limit, a refused token, a
// missing Sprite are final; a 5xx is retryable); fs and exec requests are counted as activity (they wake the
// Sprite and keep it awake), the status and checkpoint reads are not.

export interface SpritesApiClientOptions {
  baseUrl: string;
  spriteName: string;
  tokenEnv: string | undefined;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  retry: RetryPolicy;
}

export const lastLine = (text: string) => (text.trim().split("\n").pop() ?? "").slice(0, 300);

export class SpritesApiClient {
  private readonly base: string;
  /** fs and exec requests are activity (they wake and keep the Sprite awake); GET /v1/sprites/{name} is not. */
  readonly awake = new AwakeMeter();

  constructor(private readonly opts: SpritesApiClientOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, "");
  }

  get spriteName(): string {
    return this.opts.spriteName;
  }

  spritePath(suffix = ""): string {
    return `/v1/sprites/${encodeURIComponent(this.opts.spriteName)}${suffix}`;
  }

  async send(pathAndQuery: string, opts: { method?: "GET" | "POST" | "PUT"; body?: Buffer; timeoutMs?: number; replayable: boolean; maxBodyBytes?: number }): Promise<HttpResponse> {
    if (this.opts.tokenEnv === undefined) throw new TransportError("token_missing", "spritesApiTokenEnv is not configured for this Sprite", false);
    const token = tokenFromEnv(this.opts.tokenEnv);
    if (!token.ok) throw new TransportError("token_missing", token.message, false);
    const res = await sendWithRetry(
      {
        url: new URL(this.base + pathAndQuery),
        method: opts.method ?? "GET",
        headers: { authorization: `Bearer ${token.token ?? ""}`, accept: "application/json, application/octet-stream", ...traceHeader() },
        ...(opts.body !== undefined ? { body: opts.body } : opts.method === "POST" ? { body: Buffer.alloc(0) } : {}),
        connectTimeoutMs: this.opts.connectTimeoutMs,
        totalTimeoutMs: opts.timeoutMs ?? this.opts.requestTimeoutMs,
        ...(opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {}),
      },
      this.opts.retry,
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
  async exec(argv: string[], opts: { dir?: string; timeoutMs?: number; replayable: boolean }): Promise<ExecOutcome> {
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
  async readFile(absolutePath: string, workingDir: string): Promise<Buffer | null> {
    this.awake.touch();
    const res = await this.send(`${this.spritePath("/fs/read")}?${new URLSearchParams({ path: absolutePath, workingDir }).toString()}`, {
      replayable: true,
      maxBodyBytes: MAX_JSON_ARTIFACT_BYTES,
    });
    if (res.status === 404) return null;
    if (res.status !== 200) throw new TransportError("http_error", `fs/read ${path.basename(absolutePath)}: ${describeHttpError(res)}`, false, { status: res.status });
    return res.body;
  }

  /** Writes a file (fs/write), creating its directories, with the given mode. */
  async writeFile(absolutePath: string, workingDir: string, text: string, mode: string, what: string): Promise<void> {
    const query = new URLSearchParams({ path: absolutePath, workingDir, mkdirParents: "true", mode });
    this.awake.touch();
    const res = await this.send(`${this.spritePath("/fs/write")}?${query.toString()}`, { method: "PUT", body: Buffer.from(text, "utf8"), replayable: true });
    if (res.status !== 200 && res.status !== 201 && res.status !== 204) {
      throw new TransportError("http_error", `fs/write of ${what}: ${describeHttpError(res)}`, false, { status: res.status });
    }
  }

  /** `count` bytes of the file from `offset` (fewer at its end); null when the file does not exist. */
  async readRange(file: string, offset: number, count: number): Promise<Buffer | null> {
    const out = await this.exec(["dd", `if=${file}`, "iflag=skip_bytes,count_bytes", `skip=${offset}`, `count=${count}`, "bs=65536", "status=none"], { replayable: true });
    if (out.exitCode !== 0) {
      const err = out.stderr.toString("utf8");
      if (/No such file/i.test(err)) return null;
      throw new TransportError("exec_failed", `dd exited with ${out.exitCode}: ${lastLine(err)}`, true);
    }
    return out.stdout;
  }
}
