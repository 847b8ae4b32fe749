import { SingletonLease } from "../alerts/lease";
import type pg from "pg";
import type { Config } from "../config/config";
import type { Logger } from "../util/log";
import { RetentionWorker } from "./pruner";

// The retention worker of this process: in cluster mode it prunes only while holding the "retention" lease,
// so replicas never prune the same run at once; alone, it takes the lease at once.

export { RetentionWorker } from "./pruner";

export function createRetentionWorker(
  app: { pool: pg.Pool; log: Logger; config: Pick<Config, "OPS_LEASE_TTL_MS" | "OPS_RETENTION_INTERVAL_MS" | "OPS_RETENTION_BATCH"> },
  owner: string,
  cluster: boolean,
): RetentionWorker {
  const lease = cluster ? new SingletonLease(app.pool, "retention", owner, Math.max(app.config.OPS_LEASE_TTL_MS, app.config.OPS_RETENTION_INTERVAL_MS * 2)) : null;
  return new RetentionWorker({ pool: app.pool, log: app.log, intervalMs: app.config.OPS_RETENTION_INTERVAL_MS, budget: app.config.OPS_RETENTION_BATCH, lease });
}
