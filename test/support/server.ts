import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../src/config/config";
import { startServer, type RunningServer } from "../../src/server";
import { createTestDatabase } from "./db";

/**
 * A real manager on an ephemeral port. It gets its own database unless `env.DATABASE_URL` names one (replicas
 * sharing a database, a demo started again on the same data).
 */
export async function startTestServer(env: Record<string, string> = {}, opts: Parameters<typeof startServer>[1] = {}): Promise<RunningServer> {
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    OPS_DATA_DIR: mkdtempSync(path.join(tmpdir(), "ops-test-data-")),
    LOG_LEVEL: "silent",
    ...env,
    DATABASE_URL: env.DATABASE_URL ?? (await createTestDatabase()),
  });
  return startServer(config, opts);
}
