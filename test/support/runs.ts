import type { RunningServer } from "../../src/server";
import { gql } from "./clients";

export const RUN_FIELDS = `id loopId state stateReason runtimeRunId iteration lastEventName seq
  ingest { status cursorLine lastError } health { status reasons { code severity message } }
  divergence { open activeMismatch { raised } approvalCompletionConflict { raised } cursorRegression { raised } }`;

export async function register(server: RunningServer, name: string, repoPath: string, loopId = "demo-loop", token?: string): Promise<{ id: string; raw: string }> {
  const r = await gql(
    server.url,
    `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`,
    { i: { name, transport: "LOCAL", repoPath, loopId } },
    token,
  );
  const p = r.data?.registerSprite;
  if (p?.__typename !== "RegisterSpritePayload") throw new Error(`register failed: ${JSON.stringify(r)}`);
  const id = p.run.id as string;
  return { id, raw: Buffer.from(id, "base64").toString().split(":").slice(1).join(":") };
}

export async function sync(server: RunningServer, runId: string, token?: string) {
  const r = await gql(server.url, `mutation($id: ID!) { syncRun(runId: $id) { __typename ... on Run { ${RUN_FIELDS} } ... on Error { message } } }`, { id: runId }, token);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.syncRun;
}

export async function getRun(server: RunningServer, runId: string) {
  const r = await gql(server.url, `query($id: ID!) { run(id: $id) { ... on Run { ${RUN_FIELDS} } } }`, { id: runId });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.run;
}

export async function waitFor<T>(fn: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await fn();
  while (!pred(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 25));
    last = await fn();
  }
  return last;
}
