// Over 350 lines on purpose: the composition root, where every service is built and wired in the one order that
// start-up and shutdown both follow; split, that order would be spread over several files.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { getOperationAST, GraphQLError, Kind, OperationTypeNode, type DocumentNode, type ExecutionResult, type GraphQLSchema } from "graphql";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import { useServer } from "graphql-ws/use/ws";
import pg from "pg";
import { WebSocketServer } from "ws";
import { alertSecretPolicy } from "./alerts/config";
import { AlertDispatcher } from "./alerts/dispatcher";
import { PolicyEngine } from "./policy/engine";
import { graphqlMetrics } from "./observability/graphql-metrics";
import { httpRequestSeconds } from "./observability/metrics";
import { createMetricsHandler } from "./observability/scrape";
import { inSpan, SpanKind, startTracing } from "./observability/otel";
import { currentTraceId, incomingParentSpanId, incomingTraceId, newTraceId, withTrace } from "./observability/trace";
import type { App } from "./app";
import { requirePrincipal } from "./auth/require-principal";
import { parseTokens } from "./auth/tokens";
import { Cluster, defaultReplicaId } from "./cluster";
import type { IntentDispatchDeps } from "./cluster/dispatch-once";
import { ClusterBus } from "./cluster/routed-bus";
import { ControlService, parseDeadlineOverrides } from "./control/service";
import type { Config } from "./config/config";
import { openDatabase, type Database } from "./db/database";
import { createPool } from "./db/health";
import { pendingMigrations } from "./db/migrate";
import { removeDemoFleet, startDemo, type Demo, type DemoOptions } from "../demo/driver";
import type { Context } from "./graphql/context";
import { schema } from "./graphql/schema";
import { Ingestor } from "./ingest/ingestor";
import { RunWriter } from "./runs/writer";
import { RunWatchers } from "./ingest/watchers";
import { startFleetFile } from "./registry/fleet-file";
import { createRetentionWorker } from "./retention";
import { SharedResults } from "./pubsub/shared-results";
import { createTransportFactory } from "./transports";
import { createLogger, type Logger } from "./util/log";
import { createGraphiQL } from "./web/graphiql";
import { createWebAssets } from "./web/serve";
import { authenticateFirst, queryLimits } from "./security/limits-plugin";
import { parseQueryLimits } from "./security/query-limits";
import { subscriptionScopes } from "./pubsub/subscription-scope";
import { guardRequest, LOOPBACK_HOST_NAMES, originAllowed, parseList, type OriginPolicy, type Refusal } from "./security/request-guards";

// One port, one path: HTTP queries and mutations, SSE and graphql-ws subscriptions all on /graphql;
// /health answers while the process lives, /ready only while the database is reachable and migrated.

export interface RunningServer {
  app: App;
  url: string;
  port: number;
  http: Server;
  /** the demo fleet (OPS_DEMO), null otherwise */
  demo: Demo | null;
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/**
 * Live-only subscriptions whose results depend on nothing but the operation, its variables and the principal:
 * identical ones share one execution per change (src/pubsub/shared-results.ts). Not runEvents (replays from
 * each subscriber's cursor, checks each socket's backlog) nor interventionsChanged (seeded per subscriber).
 */
const SHAREABLE = new Set(["runLifecycleChanged"]);
type SubscriptionResult = ExecutionResult | AsyncIterable<ExecutionResult>;

/** The first result of a subscription (then closed), or a single result as is. */
async function firstResult(r: SubscriptionResult): Promise<ExecutionResult | null> {
  if (!(Symbol.asyncIterator in r)) return r;
  const it = r[Symbol.asyncIterator]();
  const first = await it.next();
  await it.return?.();
  return first.done ? null : first.value;
}

/** The single root field of the operation that will run, or null (several fields, fragments at the root). */
function rootFieldOf(document: DocumentNode, operationName: string | null | undefined): string | null {
  const op = getOperationAST(document, operationName ?? undefined);
  if (!op || op.operation !== OperationTypeNode.SUBSCRIPTION || op.selectionSet.selections.length !== 1) return null;
  const only = op.selectionSet.selections[0];
  return only.kind === Kind.FIELD && !only.alias ? only.name.value : null;
}
type ServerContext = { req: IncomingMessage };

async function readiness(database: Database, cluster: Cluster | null, subscriptions: number): Promise<{ ok: boolean; checks: Record<string, unknown> }> {
  const client = new pg.Client({ connectionString: database.url, connectionTimeoutMillis: 2000 });
  client.on("error", () => {}); // a failure shows in the checks below
  // A replica whose LISTEN session is down would serve subscriptions that miss other replicas' changes.
  const clusterCheck = cluster ? cluster.status() : null;
  const clusterOk = !clusterCheck || clusterCheck.listener.connected;
  try {
    await client.connect();
    const pending = await pendingMigrations(client);
    return { ok: pending.length === 0 && clusterOk, checks: { database: "ok", pendingMigrations: pending, subscriptions, cluster: clusterCheck } };
  } catch (e) {
    database.monitor.report(e);
    return { ok: false, checks: { database: (e as Error).message, databaseDownSince: database.monitor.state.up ? null : database.monitor.state.since, cluster: clusterCheck } };
  } finally {
    await client.end().catch(() => {});
  }
}

export interface StartOptions {
  /** Tests: stands in for the control service's dispatch of a REQUESTED intent (the cluster's pickup path). */
  dispatchIntent?: (intentId: string) => Promise<void>;
  log?: Logger;
  demo?: DemoOptions;
  /** `--demo=off`: remove the demo Sprites (and their demo repos) before serving */
  removeDemo?: boolean;
  /** the time of day alert quiet hours are judged by (tests: a fake clock); the real clock by default */
  alertsWallClock?: () => Date;
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config.LOG_LEVEL);
  const web = createWebAssets(log);
  const tokens = parseTokens(config.OPS_TOKENS);
  if (tokens.open) {
    if (!LOOPBACK.has(config.HOST)) {
      throw new Error(`refusing to bind ${config.HOST} without OPS_TOKENS: an open control plane may only listen on loopback`);
    }
    log.warn("OPS_TOKENS is not set: the API is OPEN (every caller is admin) and bound to loopback only");
  }
  const database = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.OPS_DATA_DIR, runtimeDir: config.OPS_PG_RUNTIME_DIR, log });
  if (database.migrationsApplied.length) log.info("migrations applied", { migrations: database.migrationsApplied });

  // Connection errors (a restarted server, pg_terminate_backend) go to the monitor, never to the process.
  const pool = createPool(database.monitor, database.url, config.OPS_PG_POOL_MAX);
  const transports = createTransportFactory({ config });
  const tracing = startTracing(config, log, config.OPS_REPLICA_ID ?? defaultReplicaId());
  const bus = new ClusterBus();
  const cluster =
    (config.OPS_CLUSTER ?? (config.DATABASE_URL ? "on" : "off")) === "on"
      ? new Cluster({
          replicaId: config.OPS_REPLICA_ID ?? defaultReplicaId(),
          ttlMs: config.OPS_LEASE_TTL_MS,
          renewMs: config.OPS_LEASE_RENEW_MS,
          slack: config.OPS_LEASE_SLACK,
          bus,
          pool,
          databaseUrl: database.url,
          log,
        })
      : null;
  // The wiring, explicit: each service gets the narrow dependencies it names, and the callbacks that cross
  // between them (an accepted approve asks control for a start; control asks the poller to look; the cluster
  // drives the poller and the dispatch) are plain functions composed here.
  const db = database.db;
  const dispatch: IntentDispatchDeps = { databaseUrl: database.url, db, bus, cluster };
  const watchers = new RunWatchers();
  // Every change of a run row goes through this writer; an approve it commits as accepted with
  // resumeAfterApprove asks control for the follow-up start.
  const runs = new RunWriter({ pool, bus, log, onFollowUp: (runId, intentId) => control.followUp(runId, intentId) });
  // Only runs this replica holds a lease for are polled (cluster); the cluster adds and removes them as leases move.
  const ingestor = new Ingestor({
    db,
    pool,
    log,
    config,
    transportFor: transports.transportFor,
    watched: watchers,
    ...(cluster ? { fenceFor: (runId: string) => cluster.leases.fence(runId) } : {}),
    runs,
  });
  // In a cluster a run polled elsewhere is synced by the holder of its lease (asked over NOTIFY, answered once done).
  const requestSync = (runId: string): Promise<void> => (cluster && !ingestor.observes(runId) ? cluster.forwardSync(runId) : ingestor.syncRun(runId));
  const spriteChanged = async (spriteId: string): Promise<void> => {
    cluster?.broadcastSpriteRefresh(spriteId);
    await ingestor.refreshSprite(spriteId);
  };
  const control: ControlService = new ControlService({
    db,
    pool,
    runs,
    log,
    config,
    transportFor: transports.transportFor,
    deadlineOverridesMs: parseDeadlineOverrides(config.OPS_INTENT_DEADLINES_MS),
    dispatch,
    requestSync,
    spriteChanged,
  });
  const dispatchIntent = opts.dispatchIntent ?? ((intentId: string) => control.dispatch(intentId));
  const alerts = new AlertDispatcher({
    pool,
    log,
    owner: cluster?.replicaId ?? config.OPS_REPLICA_ID ?? defaultReplicaId(),
    leaseTtlMs: config.OPS_LEASE_TTL_MS,
    takeover: !cluster,
    secretPolicy: alertSecretPolicy(config),
    wallClock: opts.alertsWallClock,
  });
  const policy = new PolicyEngine(
    { pool, log, alerts, control },
    {
      owner: cluster?.replicaId ?? config.OPS_REPLICA_ID ?? defaultReplicaId(),
      takeover: !cluster,
      leaseTtlMs: config.OPS_LEASE_TTL_MS,
      tickMs: config.OPS_POLICY_TICK_MS,
      envKillSwitch: config.OPS_POLICY_KILL_SWITCH,
    },
  );
  const retention = createRetentionWorker({ pool, log, config }, cluster?.replicaId ?? config.OPS_REPLICA_ID ?? defaultReplicaId(), !!cluster);
  const app: App = {
    config,
    db,
    pool,
    databaseUrl: database.url,
    bus,
    log,
    tokens,
    runs,
    ingestor,
    watchers,
    control,
    cluster,
    alerts,
    policy,
    retention,
    dispatch,
    runRegistered: (runId) => (cluster ? cluster.onRunRegistered(runId) : ingestor.add(runId)),
    requestSync,
    spriteChanged,
  };
  if (cluster) {
    try {
      await cluster.start({ poller: ingestor, dispatchIntent, dispatch });
    } catch (e) {
      await cluster.abort().catch(() => {});
      await app.ingestor.stop().catch(() => {});
      await pool.end().catch(() => {});
      await database.close().catch(() => {});
      throw e;
    }
    log.info("cluster mode", { replicaId: cluster.replicaId, leases: cluster.leases.status().held });
  } else {
    try {
      await app.ingestor.start();
    } catch (e) {
      await app.ingestor.stop().catch(() => {});
      await pool.end().catch(() => {});
      await database.close().catch(() => {});
      throw e;
    }
  }
  // Back from an outage: poll every run now, not after each one's error backoff.
  database.monitor.onRecovered(() => app.ingestor.resumeAll());

  // OPS_FLEET_FILE: declared Sprites are registered before the API opens; SIGHUP reloads the file.
  let stopFleetFile: () => void;
  try {
    stopFleetFile = await startFleetFile(app);
  } catch (e) {
    await cluster?.stop();
    await app.ingestor.stop();
    await cluster?.release();
    await pool.end();
    await database.close().catch(() => {});
    throw e;
  }

  app.alerts.start();
  app.policy.start();
  app.retention.start();

  const originPolicy: OriginPolicy = {
    allowedOrigins: parseList(config.OPS_ALLOWED_ORIGINS),
    allowedHosts: LOOPBACK.has(config.HOST) ? [...LOOPBACK_HOST_NAMES, ...parseList(config.OPS_ALLOWED_HOSTS).map((h) => h.toLowerCase())] : null,
  };
  const yoga: YogaServerInstance<ServerContext, Context> = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    // Checked from Content-Length before the body is read (and while reading a chunked one): a named 413.
    maxRequestBodySize: config.OPS_MAX_REQUEST_BYTES,
    // Form-encoded and multipart bodies are what a cross-site <form> can send without a preflight.
    multipart: false,
    // Never reflect an arbitrary Origin with credentials: CORS headers only for the allowed origins.
    cors: (request) => {
      const origin = request.headers.get("origin");
      if (!origin || !originAllowed(origin, request.headers.get("host") ?? undefined, originPolicy)) return false;
      return { origin: [origin], credentials: true, methods: ["GET", "POST"], allowedHeaders: ["content-type", "authorization", "accept"] };
    },
    landingPage: false,
    // GraphiQL is served from local files by src/web/graphiql.ts (Yoga's page loads it from a CDN).
    graphiql: false,
    logging: { debug: () => {}, info: () => {}, warn: (...a) => log.warn(String(a[0])), error: (...a) => log.error(String(a[0])) },
    context: ({ request }) => ({
      app,
      principal: tokens.verify(request.headers.get("authorization")),
      traceId: currentTraceId() ?? incomingTraceId((h) => request.headers.get(h)) ?? newTraceId(),
    }),
    plugins: [graphqlMetrics(), authenticateFirst(tokens), queryLimits(parseQueryLimits(config.OPS_QUERY_LIMITS)), requirePrincipal(), subscriptionScopes()],
  });

  // The title says DEMO while demo Sprites exist (their runs are simulated); the dashboard shows its own marker.
  const graphiql = createGraphiQL({
    endpoint: "/graphql",
    title: async () => {
      const demos = await app.db.sprite.count({ where: { demo: true, removedAt: null } }).catch(() => 0);
      return demos > 0 ? "superloop-ops · DEMO" : "superloop-ops";
    },
  });
  const shared = new SharedResults<ExecutionResult>();
  const refuse = (res: ServerResponse, r: Refusal) =>
    res.writeHead(r.status, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ message: r.message, extensions: { code: r.code } }] }));
  const metrics = createMetricsHandler({ app, subscriptions: () => bus.size - shared.executions + shared.subscribers, token: config.OPS_METRICS_TOKEN ?? null });
  // A failure in the handler itself (a readiness probe, the metrics scrape) is logged and answered 500: never an
  // unhandled rejection, which would end the process.
  const http = createServer((req, res) => {
    handleHttp(req, res).catch((e: unknown) => {
      log.warn("request failed", { error: (e as Error).message });
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    const t0 = performance.now();
    // Bounded route labels: the API paths by name, everything else (dashboard assets, unknown) as one.
    const routeLabel = path === "/graphql" || path === "/health" || path === "/ready" || path === "/metrics" ? path : "other";
    res.once("finish", () => httpRequestSeconds.observe({ route: routeLabel, method: req.method ?? "GET", status: String(res.statusCode) }, (performance.now() - t0) / 1000));
    const refusal = guardRequest(
      { method: req.method ?? "GET", host: req.headers.host, origin: req.headers.origin, contentType: req.headers["content-type"], graphql: path === "/graphql" },
      originPolicy,
    );
    if (refusal) {
      refuse(res, refusal);
      return;
    }
    if (path === "/health") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }));
      return;
    }
    if (path === "/ready") {
      // A shared execution is one bus subscriber standing for all the subscriptions it serves.
      const r = await readiness(database, cluster, bus.size - shared.executions + shared.subscribers);
      res.writeHead(r.ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(r));
      return;
    }
    if (path === "/metrics") {
      await metrics(req, res);
      return;
    }
    if (await graphiql.handle(req, res, path)) return;
    if (web.handle(req, res, path)) return;
    // Everything this request causes runs under its trace id (log lines, intents, agent calls); echoed back.
    const traceId =
      incomingTraceId((h) => {
        const v = req.headers[h];
        return Array.isArray(v) ? v[0] : v;
      }) ?? newTraceId();
    res.setHeader("x-trace-id", traceId);
    const parentSpanId = incomingParentSpanId((h) => {
      const v = req.headers[h];
      return Array.isArray(v) ? v[0] : v;
    });
    void withTrace(traceId, () =>
      inSpan(
        `${req.method ?? "GET"} /graphql`,
        { "http.request.method": req.method ?? "GET", "url.path": "/graphql" },
        async () => {
          await yoga(req, res, { req });
        },
        {
          kind: SpanKind.SERVER,
          remoteParentSpanId: parentSpanId,
        },
      ),
    ).catch((e: unknown) => log.warn("request failed", { error: (e as Error).message }));
  }

  const wss = new WebSocketServer({
    server: http,
    path: "/graphql",
    maxPayload: config.OPS_MAX_REQUEST_BYTES,
    // Cross-site WebSocket hijacking: a browser page elsewhere may open a socket here; it always sends Origin.
    verifyClient: (info, done) => {
      const r = guardRequest({ method: "GET", host: info.req.headers.host, origin: info.req.headers.origin, contentType: undefined, graphql: true, upgrade: true }, originPolicy);
      if (r) done(false, r.status, r.code);
      else done(true);
    },
  });
  const wsServer = useServer<Record<string, unknown> | undefined, { principal?: Context["principal"] }>(
    {
      // Checked once at connection_init: returning false closes the socket with 4403 Forbidden.
      onConnect: (ctx) => {
        const auth = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const principal = tokens.verify(typeof auth === "string" ? auth : null);
        if (!principal) return false;
        ctx.extra.principal = principal;
        return true;
      },
      onSubscribe: async (ctx, _id, params) => {
        const enveloped = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        const { execute, subscribe, parse, validate } = enveloped;
        const s = enveloped.schema as GraphQLSchema; // envelop types schema, parse and validate loosely (any)
        let document: DocumentNode;
        try {
          document = parse(params.query) as DocumentNode;
        } catch (e) {
          // a syntax error or a refused limit (named): an error message to this subscription, not a closed socket
          if (e instanceof GraphQLError) return [e];
          throw e;
        }
        const principal = ctx.extra.principal ?? null;
        const shareKey = SHAREABLE.has(rootFieldOf(document, params.operationName) ?? "")
          ? JSON.stringify([params.query, params.operationName ?? null, params.variables ?? null, principal?.name ?? null, principal?.role ?? null])
          : null;
        const args = {
          schema: s,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: { app, principal, outboundBytes: () => ctx.extra.socket.bufferedAmount } satisfies Context,
          rootValue: { execute, subscribe, shareKey },
        };
        const errors = validate(args.schema, args.document) as readonly GraphQLError[];
        if (errors.length) return errors;
        return args;
      },
      execute: (args) => (args.rootValue as { execute: (a: typeof args) => unknown }).execute(args) as never,
      subscribe: (args) => {
        const root = args.rootValue as { subscribe: (a: typeof args) => Promise<SubscriptionResult> | SubscriptionResult; shareKey: string | null };
        if (!root.shareKey) return root.subscribe(args) as never;
        // a member that falls behind gets this operation's ResyncRequired, like an unshared subscriber
        const resync = async () => firstResult(await root.subscribe({ ...args, contextValue: { ...(args.contextValue as Context), resyncNow: true } }));
        return shared.join(root.shareKey, () => root.subscribe(args), resync) as never;
      },
    },
    wss,
  );

  try {
    if (opts.removeDemo) log.info("demo fleet removed", { sprites: await removeDemoFleet(app) });
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(config.PORT, config.HOST, () => resolve());
    });
  } catch (e) {
    // A busy port must not leave the embedded PostgreSQL (and its data-dir lock) behind.
    stopFleetFile();
    await cluster?.stop().catch(() => {});
    await app.ingestor.stop().catch(() => {});
    await app.alerts?.stop().catch(() => {});
    await app.policy?.stop().catch(() => {});
    await app.retention?.stop().catch(() => {});
    await cluster?.release().catch(() => {});
    await Promise.resolve(wsServer.dispose()).catch(() => {});
    await transports.close().catch(() => {});
    await pool.end().catch(() => {});
    await database.close().catch(() => {});
    await tracing?.shutdown();
    throw e;
  }
  const port = (http.address() as AddressInfo).port;
  const host = config.HOST.includes(":") ? `[${config.HOST}]` : config.HOST;
  const url = `http://${host}:${port}/graphql`;
  let demo: Demo | null = null;

  // Shutdown: stop taking leases, finish in-flight polls, hand the leases back (others take over at once),
  // then close subscriptions (graphql-ws: 1001 "Going away"; clients reconnect to another replica).
  // Every step runs even when an earlier one fails (the database may already be gone): a failed step is logged,
  // never thrown, and the embedded PostgreSQL is always stopped last, after our own connections are closed.
  let closing: Promise<void> | null = null;
  const step = async (name: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (e) {
      log.warn(`shutdown: ${name} failed`, { error: (e as Error).message });
    }
  };
  const close = () =>
    (closing ??= (async () => {
      await step("demo", () => demo?.stop());
      stopFleetFile();
      await step("cluster", () => cluster?.stop());
      await step("ingestor", () => app.ingestor.stop());
      await step("policy", () => app.policy?.stop());
      await step("alerts", () => app.alerts?.stop());
      await step("retention", () => app.retention?.stop());
      if (cluster) {
        await step("lease release", async () => log.info("leases released", { released: await cluster.release() }));
      }
      await step("subscriptions", () => wsServer.dispose());
      wss.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      await step("transports", () => transports.close());
      await step("traces", () => tracing?.shutdown());
      await step("pool", () => pool.end());
      await step("database", () => database.close());
    })());
  if (config.OPS_DEMO) {
    try {
      demo = await startDemo(app, opts.demo);
    } catch (e) {
      await close();
      throw e;
    }
  }
  return { app, url, port, http, demo, close };
}
