import { SingletonLease } from "../alerts/lease";
import type { App } from "../app";
import { RetentionWorker } from "./pruner";

// The retention worker of this process: in cluster mode it prunes only while holding the "retention" lease,
// so replicas never prune the same run at once; alone, it takes the lease at once.

export { RetentionWorker } from "./pruner";

export function createRetentionWorker(app: Pick<App, "pool" | "log" | "config">, owner: string, cluster: boolean): RetentionWorker {
  const lease = cluster ? new SingletonLease(app.pool, "retention", owner, Math.max(app.config.OPS_LEASE_TTL_MS, app.config.OPS_RETENTION_INTERVAL_MS * 2)) : null;
  return new RetentionWorker({ pool: app.pool, log: app.log, intervalMs: app.config.OPS_RETENTION_INTERVAL_MS, budget: app.config.OPS_RETENTION_BATCH, lease });
}
