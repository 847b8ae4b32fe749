import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../src/config/config";
import { startServer, type RunningServer } from "../../src/server";
import { createTestDatabase } from "./db";

/** A real manager on an ephemeral port against its own database. */
export async function startTestServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: await createTestDatabase(),
    OPS_DATA_DIR: mkdtempSync(path.join(tmpdir(), "ops-test-data-")),
    LOG_LEVEL: "silent",
    ...env,
  });
  return startServer(config);
}
