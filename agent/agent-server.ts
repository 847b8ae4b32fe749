import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { AGENT_PROTOCOL, AGENT_VERSION, ControlRequestSchema, EventsQuerySchema, FactsQuerySchema, SCHEMA_VERSION, SnapshotQuerySchema, type ControlResult } from "../src/contract";
import { responseCursor } from "./events-response";
import { executeControl, parseIntent } from "./control";
import { AdapterError, errorMessage, httpStatusFor, httpStatusForCode, isAdapterError } from "../src/contract";
import { isoNow } from "./event-envelope";
import { readEventsAfter, statEvents, type EventCursor, type EventsPage, type LineOnlyCursor } from "./events-reader";
import { readRuntimeFacts } from "./runtime-facts";
import { IdempotencyStore } from "./idempotency-store";
import { loopPaths } from "./paths";
import { readSnapshot } from "./snapshot";
import { waitForFileChange } from "./wait-for-change";
import { errorBody, headerValue, HttpError, parseWith, presentedToken, queryObject, readBody, sendJson, tokenMatches } from "./http-io";

export { tokenMatches };

export interface AgentServerOptions {
  repoPath: string;
  /** Shared secret; default env OPS_AGENT_TOKEN. No token (null/empty) = open, for a loopback-only agent. */
  token?: string | null;
  host?: string;
  port?: number;
  /** Where the idempotency store lives. Default `<repo>/.superloop/ops-agent`. */
  stateDir?: string;
  superloopBin?: string;
  controlTimeoutMs?: number;
  /** START runs under this supervisor command (see ExecuteControlOptions.superviseCommand). */
  superviseCommand?: readonly string[] | null;
  logDir?: string;
  /** Upper bound for `waitMs` on /ops/events. */
  maxWaitMs?: number;
  /** One line per request (method, path, status, ms); never headers or bodies. */
  log?: (line: string) => void;
}

export interface AgentServer {
  server: http.Server;
  listen(): Promise<{ port: number }>;
  close(): Promise<void>;
}

export const DEFAULT_MAX_EVENTS = 1_000;
export const MAX_EVENTS_CAP = 10_000;
export const DEFAULT_MAX_WAIT_MS = 30_000;
const TRACE_ID_PATTERN = /^[\x21-\x7e]{1,256}$/;
const UNAUTHORIZED_BODY = { ok: false, error: { code: "unauthorized", message: "missing or invalid token" } } as const;

/** The sprite agent: `/healthz` and `/ops/*`, wire-compatible with the earlier Python sprite service. */
/** Addresses only this machine can reach. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "localhost"]);

export function createAgentServer(opts: AgentServerOptions): AgentServer {
  const repoPath = path.resolve(opts.repoPath);
  const envToken = process.env["OPS_AGENT_TOKEN"];
  const tokenSource = opts.token !== undefined ? opts.token : envToken;
  const token = tokenSource !== undefined && tokenSource !== null && tokenSource.length > 0 ? tokenSource : null;
  const host = opts.host ?? "127.0.0.1";
  // Like the manager: open (no token) only on loopback, where only this machine's users reach it. An open agent
  // on 0.0.0.0 would hand the run's files and its control (cancel, approve) to anyone on the network.
  if (token === null && !LOOPBACK_HOSTS.has(host) && !/^127\.\d+\.\d+\.\d+$/.test(host)) {
    throw new AdapterError("invalid_request", `refusing to listen on ${host} without OPS_AGENT_TOKEN: an open agent may only listen on loopback`, { host });
  }
  const stateDir = opts.stateDir ?? path.join(repoPath, ".superloop", "ops-agent");
  const maxWaitMs = opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  const log = opts.log ?? ((): void => undefined);
  const waits = new Set<AbortController>();
  let storePromise: Promise<IdempotencyStore> | null = null;
  const store = (): Promise<IdempotencyStore> => {
    if (storePromise === null) {
      storePromise = IdempotencyStore.open(path.join(stateDir, "idempotency.json"));
      storePromise.catch(() => {
        storePromise = null; // retry on the next request instead of failing forever
      });
    }
    return storePromise;
  };

  async function handleSnapshot(url: URL, traceId: string | null): Promise<[number, unknown]> {
    const query = parseWith(SnapshotQuerySchema, queryObject(url), "query");
    const snapshot = await readSnapshot({ repoPath, loopId: query.loopId, traceId });
    return [200, snapshot];
  }

  async function handleFacts(url: URL, traceId: string | null): Promise<[number, unknown]> {
    const query = parseWith(FactsQuerySchema, queryObject(url), "query");
    const [facts, eventsStat] = await Promise.all([readRuntimeFacts({ repoPath, loopId: query.loopId }), statEvents({ repoPath, loopId: query.loopId })]);
    return [200, { ok: true, schemaVersion: SCHEMA_VERSION, ...(traceId !== null ? { traceId } : {}), source: { repoPath, loopId: query.loopId }, facts, eventsStat }];
  }

  async function handleEvents(url: URL, traceId: string | null, res: http.ServerResponse): Promise<[number, unknown]> {
    const query = parseWith(EventsQuerySchema, queryObject(url), "query");
    const line = query.cursor ?? 0;
    const cursor: EventCursor | LineOnlyCursor = query.byteOffset !== undefined ? { line, byteOffset: query.byteOffset, lastLineHash: query.lastLineHash ?? null } : { line };
    const limit = Math.min(query.maxEvents === undefined || query.maxEvents === 0 ? DEFAULT_MAX_EVENTS : query.maxEvents, MAX_EVENTS_CAP);
    const read = (): Promise<EventsPage> => readEventsAfter({ repoPath, loopId: query.loopId, cursor, limit, traceId });

    let page = await read();
    const waitMs = Math.min(query.waitMs ?? 0, maxWaitMs);
    if (waitMs > 0 && page.envelopes.length === 0 && page.error === undefined) {
      const paths = loopPaths(repoPath, query.loopId);
      const controller = new AbortController();
      waits.add(controller);
      const onClose = (): void => controller.abort();
      res.once("close", onClose);
      const deadline = Date.now() + waitMs;
      try {
        while (page.envelopes.length === 0 && page.error === undefined && !controller.signal.aborted) {
          const remaining = deadline - Date.now();
          if (remaining <= 0) break;
          const outcome = await waitForFileChange({
            filePath: paths.events,
            watchDirs: [paths.loopDir, paths.superloopDir, repoPath],
            since: { exists: page.eventsFileExists, size: page.cursor.fileSize, mtimeMs: page.cursor.mtimeMs },
            timeoutMs: remaining,
            signal: controller.signal,
          });
          if (outcome !== "changed") break;
          page = await read();
        }
      } finally {
        res.off("close", onClose);
        waits.delete(controller);
      }
    }

    const body: Record<string, unknown> = {
      ok: true,
      schemaVersion: SCHEMA_VERSION,
      ...(traceId !== null ? { traceId } : {}),
      source: { repoPath, loopId: query.loopId },
      events: page.envelopes,
      cursor: responseCursor(page),
      hasMore: page.hasMore,
      eventsFileExists: page.eventsFileExists,
      eventLineCountExact: page.eventLineCountExact,
      file: { size: page.cursor.fileSize, mtimeMs: page.cursor.mtimeMs },
    };
    if (query.includeLines === "1" || query.includeLines === "true") body["lines"] = page.lines;
    if (page.error !== undefined) {
      if (page.envelopes.length === 0) {
        return [
          httpStatusFor(page.error.code),
          { ...errorBody(page.error.code, page.error.message, { line: page.error.line }, traceId), cursor: body["cursor"], file: body["file"], eventsFileExists: true },
        ];
      }
      body["error"] = { code: page.error.code, message: page.error.message, line: page.error.line };
    }
    return [200, body];
  }

  async function handleControl(req: http.IncomingMessage, traceIdHeader: string | null): Promise<[number, unknown]> {
    const text = await readBody(req);
    let json: unknown;
    try {
      json = text.trim().length === 0 ? {} : JSON.parse(text);
    } catch {
      throw new HttpError(400, "invalid_json", "request body must be valid JSON");
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new HttpError(400, "invalid_request", "request body must be a JSON object");
    }
    const body = parseWith(ControlRequestSchema, json, "control request");
    const intent = parseIntent(body.intent);
    let traceId = traceIdHeader;
    if (traceId === null && body.traceId !== undefined) {
      if (!TRACE_ID_PATTERN.test(body.traceId)) throw new HttpError(400, "invalid_request", "traceId must be 1-256 printable ASCII characters");
      traceId = body.traceId;
    }
    const key = body.idempotencyKey ?? headerValue(req, "idempotency-key") ?? headerValue(req, "x-idempotency-key");
    if (key !== undefined && (key.length === 0 || key.length > 200)) {
      throw new HttpError(400, "invalid_request", "idempotency key must be 1-200 characters");
    }

    const execute = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
      const result: ControlResult = await executeControl({
        repoPath,
        loopId: body.loopId,
        intent,
        ...(body.by !== undefined ? { by: body.by } : {}),
        ...(body.note !== undefined ? { note: body.note } : {}),
        ...(opts.superloopBin !== undefined ? { superloopBin: opts.superloopBin } : {}),
        ...(opts.superviseCommand ? { superviseCommand: opts.superviseCommand } : {}),
        ...(opts.controlTimeoutMs !== undefined ? { timeoutMs: opts.controlTimeoutMs } : {}),
        ...(opts.logDir !== undefined ? { logDir: opts.logDir } : {}),
      });
      const response: Record<string, unknown> = { ok: result.ok, intent, result, replayed: false, traceId };
      if (body.noConfirm !== undefined) response["noConfirm"] = body.noConfirm;
      if (result.error !== undefined) response["error"] = result.error;
      return { status: result.ok ? 200 : httpStatusForCode(result.error?.code), body: response };
    };

    if (key === undefined) {
      const { status, body: response } = await execute();
      return [status, response];
    }
    const fingerprint = JSON.stringify({ loopId: body.loopId, intent, by: body.by ?? null, note: body.note ?? null });
    const idem = await store();
    const outcome = await idem.run(key, fingerprint, execute);
    const response = { ...outcome.stored.body, replayed: outcome.replayed, traceId };
    return [outcome.stored.status, response];
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    let status = 500;
    let traceId: string | null = null;
    const url = new URL(req.url ?? "/", "http://agent.invalid");
    try {
      const rawTrace = headerValue(req, "x-trace-id")?.trim();
      if (rawTrace !== undefined && rawTrace.length > 0) {
        if (!TRACE_ID_PATTERN.test(rawTrace)) throw new HttpError(400, "invalid_request", "X-Trace-Id must be 1-256 printable ASCII characters");
        traceId = rawTrace;
      }
      const method = req.method ?? "GET";
      let result: [number, unknown];
      if (url.pathname === "/healthz") {
        if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "method_not_allowed", "use GET /healthz");
        // The manager checks agentProtocol before anything else (src/contract/agent-api.ts).
        result = [200, { ok: true, service: "superloop-ops-agent", schemaVersion: SCHEMA_VERSION, agentProtocol: AGENT_PROTOCOL, agentVersion: AGENT_VERSION }];
      } else if (url.pathname.startsWith("/ops/")) {
        if (token !== null && !tokenMatches(token, presentedToken(req))) {
          status = 401;
          sendJson(res, 401, UNAUTHORIZED_BODY);
          return;
        }
        if (url.pathname === "/ops/snapshot") {
          if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET /ops/snapshot");
          result = await handleSnapshot(url, traceId);
        } else if (url.pathname === "/ops/facts") {
          if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET /ops/facts");
          result = await handleFacts(url, traceId);
        } else if (url.pathname === "/ops/events") {
          if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET /ops/events");
          result = await handleEvents(url, traceId, res);
        } else if (url.pathname === "/ops/control") {
          if (method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST /ops/control");
          result = await handleControl(req, traceId);
        } else {
          throw new HttpError(404, "not_found", `no endpoint ${url.pathname}`);
        }
      } else {
        throw new HttpError(404, "not_found", `no endpoint ${url.pathname}`);
      }
      status = result[0];
      sendJson(res, status, result[1]);
    } catch (error) {
      if (error instanceof HttpError) {
        status = error.status;
        sendJson(res, status, errorBody(error.code, error.message, error.details ?? {}, traceId));
      } else if (isAdapterError(error)) {
        status = httpStatusFor(error.code);
        const details = Object.keys(error.details).length > 0 ? { details: error.details } : {};
        sendJson(res, status, errorBody(error.code, error.message, details, traceId));
      } else {
        status = 500;
        sendJson(res, 500, errorBody("internal_error", `internal error: ${errorMessage(error)}`, {}, traceId));
      }
    } finally {
      log(JSON.stringify({ at: isoNow(), method: req.method, path: url.pathname, status, ms: Date.now() - started }));
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      sendJson(res, 500, errorBody("internal_error", `internal error: ${errorMessage(error)}`));
    });
  });
  server.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    else socket.destroy();
  });

  return {
    server,
    listen(): Promise<{ port: number }> {
      return new Promise((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        server.once("error", onError);
        server.listen(opts.port ?? 8787, host, () => {
          server.off("error", onError);
          resolve({ port: (server.address() as AddressInfo).port });
        });
      });
    },
    close(): Promise<void> {
      for (const controller of waits) controller.abort();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Connections still answering an aborted long poll become idle a moment later.
        setTimeout(() => server.closeAllConnections(), 250).unref();
      });
    },
  };
}

export { AdapterError };
