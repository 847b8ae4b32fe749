import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { DemoOptions } from "../../demo/driver";
import type { RunningServer } from "../../src/server";
import { createTestDatabase } from "../support/db";
import { gql } from "../support/clients";
import { startTestServer } from "../support/server";

/** A real manager with the demo fleet (OPS_DEMO=1), sped up for tests. Pass dataDir/databaseUrl again to re-run a demo. */
export async function startDemoServer(opts: { dataDir?: string; databaseUrl?: string; demo?: DemoOptions; env?: Record<string, string> } = {}): Promise<{
  server: RunningServer;
  dataDir: string;
  databaseUrl: string;
}> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), "ops-demo-"));
  const databaseUrl = opts.databaseUrl ?? (await createTestDatabase());
  const server = await startTestServer(
    { DATABASE_URL: databaseUrl, OPS_DATA_DIR: dataDir, OPS_DEMO: "1", OPS_POLL_INTERVAL_MS: "250", ...opts.env },
    { demo: { speed: 0.05, pollIntervalMs: 250, ...opts.demo } },
  );
  return { server, dataDir, databaseUrl };
}

export interface DemoRun {
  id: string;
  state: string;
  stateReason: string;
  sprite: { name: string };
  health: { status: string; reasons: { code: string }[] };
  lastEventName: string | null;
}

export async function demoRuns(server: RunningServer, token?: string): Promise<Map<string, DemoRun>> {
  const r = await gql<{ runs: { edges: { node: DemoRun }[] } }>(
    server.url,
    `{ runs(first: 100) { edges { node { id state stateReason lastEventName sprite { name } health { status reasons { code } } } } } }`,
    {},
    token,
  );
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return new Map(r.data!.runs.edges.map((e) => [e.node.sprite.name, e.node]));
}
