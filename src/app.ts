import type pg from "pg";
import type { TokenTable } from "./auth/tokens";
import type { AlertDispatcher } from "./alerts/dispatcher";
import type { Cluster } from "./cluster";
import type { Config } from "./config/config";
import type { ControlService } from "./control/service";
import type { Db } from "./db/client";
import type { Ingestor } from "./ingest/ingestor";
import type { RunWatchers } from "./ingest/watchers";
import type { PolicyEngine } from "./policy/engine";
import type { OpsBus } from "./pubsub/topics";
import type { RetentionWorker } from "./retention";
import type { Logger } from "./util/log";

// Everything a request or a background worker needs, built once in src/server.ts. Later layers (scheduler,
// control) attach themselves here; resolvers reach them through the GraphQL context.
export interface App {
  config: Config;
  db: Db;
  /** Raw driver pool for the ingest hot path (multi-row inserts, NOTIFY, leases). */
  pool: pg.Pool;
  databaseUrl: string;
  bus: OpsBus;
  log: Logger;
  tokens: TokenTable;
  ingestor: Ingestor;
  /** Who watches which run's event feed: the poller keeps those Sprites awake (src/ingest/watchers.ts). */
  watchers?: RunWatchers;
  /** Called after a run is registered so the scheduler can start polling it. */
  onRunRegistered?: (runId: string) => Promise<void>;
  /** Scale-out (OPS_CLUSTER=on): leases, LISTEN/NOTIFY fan-out; null in a single-process setup. */
  cluster?: Cluster | null;
  /**
   * Set by the control service: dispatch one REQUESTED intent. The cluster calls it on the lease holder for
   * intents requested through other replicas (see src/cluster/dispatch-once.ts).
   */
  dispatchIntent?: (intentId: string) => Promise<void>;
  /** Control intents (src/control/service.ts); absent in tools that build an App without a server. */
  control?: ControlService;
  /** Alert outbox dispatcher (src/alerts/dispatcher.ts): one leader per cluster sends, any replica can test. */
  alerts?: AlertDispatcher;
  /** Fleet policy engine (src/policy/engine.ts): one evaluator per cluster under a lease. */
  policy?: PolicyEngine;
  /** Event retention and archive pruning (src/retention/): one pruner per cluster. */
  retention?: RetentionWorker;
}
