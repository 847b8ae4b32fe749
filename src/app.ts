import type pg from "pg";
import type { TokenTable } from "./auth/tokens";
import type { AlertDispatcher } from "./alerts/dispatcher";
import type { Cluster } from "./cluster";
import type { IntentDispatchDeps } from "./cluster/dispatch-once";
import type { Config } from "./config/config";
import type { ControlService } from "./control/service";
import type { Db } from "./db/client";
import type { Ingestor } from "./ingest/ingestor";
import type { RunWatchers } from "./ingest/watchers";
import type { PolicyEngine } from "./policy/engine";
import type { OpsBus } from "./pubsub/topics";
import type { RetentionWorker } from "./retention";
import type { RunWriter } from "./runs/writer";
import type { Logger } from "./util/log";

// What a request (through the GraphQL context) and the registry can reach, built once and complete by
// src/server.ts after every service exists. The services themselves never see it: each gets only the narrow
// dependencies it names in its constructor, so nothing below src/server.ts imports this file's services back.
export interface App {
  config: Config;
  db: Db;
  /** Raw driver pool for the ingest hot path (multi-row inserts, NOTIFY, leases). */
  pool: pg.Pool;
  databaseUrl: string;
  bus: OpsBus;
  log: Logger;
  tokens: TokenTable;
  /** The one writer of run rows: lock, seq, transition, intent stages, commit, publish (src/runs/writer.ts). */
  runs: RunWriter;
  /** The poller of this process (the runs it holds a lease for, in a cluster). */
  ingestor: Ingestor;
  /** Control intents (src/control/service.ts). */
  control: ControlService;
  /** Who watches which run's event feed: the poller keeps those Sprites awake (src/ingest/watchers.ts). */
  watchers: RunWatchers;
  /** Scale-out (OPS_CLUSTER=on): leases, LISTEN/NOTIFY fan-out; null in a single-process setup. */
  cluster: Cluster | null;
  /** Alert outbox dispatcher (src/alerts/dispatcher.ts): one leader per cluster sends, any replica can test. */
  alerts: AlertDispatcher;
  /** Dispatching an intent once across replicas (src/cluster/dispatch-once.ts); shared by control and cluster. */
  dispatch: IntentDispatchDeps;
  /** A run was registered here: poll it (single process), or take its lease if that keeps this replica's share. */
  runRegistered(runId: string): Promise<void>;
  /** Re-read a run now, wherever it is polled (in a cluster: by the holder of its lease). */
  requestSync(runId: string): Promise<void>;
  /** A Sprite's settings changed: whoever polls its runs re-reads it. */
  spriteChanged(spriteId: string): Promise<void>;
  /** Fleet policy engine (src/policy/engine.ts): one evaluator per cluster under a lease. */
  policy: PolicyEngine;
  /** Event retention and archive pruning (src/retention/): one pruner per cluster. */
  retention: RetentionWorker;
}
