import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client";
import { createPool, type DatabaseMonitor } from "./health";

export type Db = PrismaClient;

/**
 * Prisma over a pool we build, so its connections report errors to the monitor (a terminated connection must
 * never reach the process as an unhandled `error` event). The caller ends the pool after `$disconnect()`.
 */
export function createDb(connectionString: string, monitor: DatabaseMonitor, max = 10): { db: Db; end: () => Promise<void> } {
  const pool = createPool(monitor, connectionString, max);
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { onPoolError: monitor.report, onConnectionError: monitor.report }) });
  return { db, end: () => pool.end() };
}
