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
/**
 * The token variable names the existing suites use (FLEET_AGENT_TOKEN, PARITY_SPRITES_TOKEN, ...): allowed as
 * prefixes for tests, on top of the default OPS_SECRET_,SPRITES_TOKEN. test/hostile checks the default itself.
 */
export const TEST_SECRET_ENV_PREFIXES = "OPS_SECRET_,SPRITES_TOKEN,FLEET_,PARITY_,AGENT_TOKEN_,SPRITE7_,FF_,OPS_TEST_,TEST_";

export async function startTestServer(env: Record<string, string> = {}, opts: Parameters<typeof startServer>[1] = {}): Promise<RunningServer> {
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    OPS_DATA_DIR: mkdtempSync(path.join(tmpdir(), "ops-test-data-")),
    LOG_LEVEL: "silent",
    OPS_SECRET_ENV_PREFIXES: TEST_SECRET_ENV_PREFIXES,
    ...env,
    DATABASE_URL: env.DATABASE_URL ?? (await createTestDatabase()),
  });
  return startServer(config, opts);
}
