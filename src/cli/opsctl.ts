import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { z } from "zod";
import { IDEMPOTENCY_KEY } from "../control/keys";

// opsctl: the manager's operations for scripts and terminals, over the same GraphQL API (HTTP for queries and
// mutations, graphql-ws for --wait and watch). Token from OPS_TOKEN, server from OPS_URL.
//
// Exit codes: 0 confirmed (or dispatched/accepted without --wait), 2 ambiguous (deadline passed without
// evidence, or --wait gave up), 1 failed / rejected / refused / error, 64 usage.

export const EXIT = { ok: 0, failed: 1, ambiguous: 2, usage: 64 } as const;

const USAGE = `usage: opsctl <command> [options]

  runs                         list runs
  run <run>                    one run, with its latest control intents
  cancel|approve|reject|pause|resume|start <run> [--note TEXT] [--key KEY] [--wait] [--timeout MS]
                               request a control intent (approve resumes the loop unless --no-resume)
  watch <run>                  stream lifecycle changes and intent stages until interrupted

  <run>      a run id (raw or Relay) or a Sprite name
  --json     machine-readable output (one JSON document; watch: one per line)

  OPS_URL    default http://127.0.0.1:4000/graphql
  OPS_TOKEN  API token (name:role:token entry of the server's OPS_TOKENS)

exit codes: 0 confirmed (or dispatched/accepted without --wait), 2 ambiguous, 1 failed/rejected/error, 64 usage`;

const INTENT_FIELDS = `id kind stage error requestedBy note idempotencyKey resumeAfterApprove traceId deadlineAt requestedAt dispatchedAt acceptedAt confirmedAt endedAt
  stages { stage at observation } run { id loopId state stateReason sprite { name } }`;
const RUN_FIELDS = `id loopId repoPath state stateReason stateSince iteration runtimeRunId lastEventName lastEventAt seq sprite { name transport status }
  health { status reasons { code severity message } }`;
const RESULT = `__typename ... on ControlIntent { ${INTENT_FIELDS} } ... on Error { message }
  ... on PreconditionFailed { state stateReason } ... on ValidationError { issues { path message } }`;

const CONTROL = ["cancel", "approve", "reject", "pause", "resume", "start"] as const;
type ControlCommand = (typeof CONTROL)[number];
const TERMINAL = new Set(["CONFIRMED", "FAILED", "AMBIGUOUS", "REJECTED"]);

export interface Io {
  env: Record<string, string | undefined>;
  out: (line: string) => void;
  err: (line: string) => void;
  /** resolves when the user interrupts (watch) */
  interrupted: Promise<void>;
}

class UsageError extends Error {}
class CliError extends Error {}

interface Options {
  json: boolean;
  wait: boolean;
  resume: boolean;
  note: string | null;
  key: string | null;
  timeoutMs: number;
  positional: string[];
}

const OptionValues = z.object({
  note: z.string().max(2000, "--note: at most 2000 characters").nullable(),
  key: z.string().regex(IDEMPOTENCY_KEY, "--key: 8-128 characters of letters, digits and . _ : -").nullable(),
  timeoutMs: z.number().int().positive("--timeout: milliseconds > 0"),
});

function parseOptions(argv: string[]): Options {
  const o: Options = { json: false, wait: false, resume: true, note: null, key: null, timeoutMs: 300_000, positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === "--json") o.json = true;
    else if (a === "--wait") o.wait = true;
    else if (a === "--no-resume") o.resume = false;
    else if (a === "--note") o.note = value();
    else if (a === "--key") o.key = value();
    else if (a === "--timeout") o.timeoutMs = Number(value());
    else if (a.startsWith("--")) throw new UsageError(`unknown option ${a}`);
    else o.positional.push(a);
  }
  const checked = OptionValues.safeParse({ note: o.note, key: o.key, timeoutMs: o.timeoutMs });
  if (!checked.success) throw new UsageError(checked.error.issues.map((i) => i.message).join("; "));
  return o;
}

interface GqlResponse {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

class Api {
  constructor(
    readonly url: string,
    private readonly token: string | undefined,
  ) {}

  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
    } catch (e) {
      throw new CliError(`cannot reach ${this.url}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
    }
    const text = await res.text();
    let body: GqlResponse;
    try {
      body = JSON.parse(text) as GqlResponse;
    } catch {
      throw new CliError(`${this.url} answered HTTP ${res.status} with something that is not GraphQL`);
    }
    if (body.errors?.length) throw new CliError(body.errors.map((e) => e.message).join("; "));
    return body.data as T;
  }

  ws(): Client {
    return createClient({
      url: this.url.replace(/^http/, "ws"),
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 3,
      connectionParams: this.token ? { authorization: `Bearer ${this.token}` } : {},
    });
  }
}

interface RunSummary {
  id: string;
  loopId: string;
  state: string;
  stateReason: string;
  sprite: { name: string };
}

interface IntentView {
  id: string;
  kind: string;
  stage: string;
  error: string | null;
  stages: { stage: string; at: string; observation: string }[];
  run: RunSummary;
  [k: string]: unknown;
}

/** A run id (raw or Relay) or a Sprite name (its run; a Sprite with several runs must be named by run id). */
async function resolveRun(api: Api, ref: string): Promise<string> {
  const byId = await api.request<{ run: { __typename: string; id?: string } }>(`query($id: ID!) { run(id: $id) { __typename ... on Run { id } } }`, { id: ref });
  if (byId.run.__typename === "Run" && byId.run.id) return byId.run.id;
  const bySprite = await api.request<{ sprite: { __typename: string; runs?: { edges: { node: { id: string } }[] } } }>(
    `query($n: String!) { sprite(name: $n) { __typename ... on Sprite { runs(first: 2) { edges { node { id } } } } } }`,
    { n: ref },
  );
  const runs = bySprite.sprite.runs?.edges ?? [];
  if (bySprite.sprite.__typename !== "Sprite" || runs.length === 0) throw new CliError(`no run or Sprite named ${ref}`);
  if (runs.length > 1) throw new CliError(`Sprite ${ref} has several runs: name one by its run id`);
  return runs[0]!.node.id;
}

function exitFor(stage: string, waited: boolean): number {
  if (stage === "CONFIRMED") return EXIT.ok;
  if (stage === "AMBIGUOUS") return EXIT.ambiguous;
  if (stage === "FAILED" || stage === "REJECTED") return EXIT.failed;
  // still open: fine when the caller did not ask to wait; a wait that ends here proved nothing
  return waited ? EXIT.ambiguous : EXIT.ok;
}

function describeIntent(i: IntentView): string {
  const last = i.stages[i.stages.length - 1];
  return `${i.kind} ${i.id} on ${i.run.sprite.name}/${i.run.loopId}: ${i.stage}${i.error ? ` (${i.error})` : ""}${last ? ` — ${last.observation}` : ""}`;
}

/** Follows one intent over graphql-ws until it is terminal (the server ends the stream there) or the timeout. */
async function waitForIntent(api: Api, intent: IntentView, timeoutMs: number, onStage: (i: IntentView) => void): Promise<IntentView> {
  const client = api.ws();
  let latest = intent;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        dispose();
        resolve();
      }, timeoutMs);
      const dispose = client.subscribe<{ controlIntentUpdated: IntentView }>(
        { query: `subscription($id: ID!) { controlIntentUpdated(intentId: $id) { ${INTENT_FIELDS} } }`, variables: { id: intent.id } },
        {
          next: (r) => {
            const i = r.data?.controlIntentUpdated;
            if (r.errors?.length) {
              clearTimeout(timer);
              reject(new CliError(r.errors.map((e) => e.message).join("; ")));
              return;
            }
            if (!i) return;
            if (i.stage !== latest.stage || i.stages.length !== latest.stages.length) onStage(i);
            latest = i;
            // an approve that does not resume the loop is done once the decision is recorded
            if (TERMINAL.has(i.stage) || (i.kind === "APPROVE" && i.resumeAfterApprove === false && i.stage === "ACCEPTED")) {
              clearTimeout(timer);
              dispose();
              resolve();
            }
          },
          error: (e) => {
            clearTimeout(timer);
            const code = (e as { code?: number }).code;
            reject(new CliError(code === 4403 ? "the server refused the WebSocket (4403): check OPS_TOKEN" : `subscription failed: ${e instanceof Error ? e.message : JSON.stringify(e)}`));
          },
          complete: () => {
            clearTimeout(timer);
            resolve();
          },
        },
      );
    });
  } finally {
    await client.dispose();
  }
  return latest;
}

async function control(api: Api, io: Io, command: ControlCommand, o: Options): Promise<number> {
  if (o.positional.length !== 1) throw new UsageError(`${command} needs exactly one <run>`);
  const runId = await resolveRun(api, o.positional[0]!);
  const kind = command.toUpperCase();
  const data = await api.request<{ r: { __typename: string; message?: string } & Partial<IntentView> }>(
    `mutation($input: RequestControlInput!) { r: requestControl(input: $input) { ${RESULT} } }`,
    { input: { runId, intent: kind, note: o.note, idempotencyKey: o.key, ...(kind === "APPROVE" ? { resumeAfterApprove: o.resume } : {}) } },
  );
  const r = data.r;
  if (r.__typename !== "ControlIntent") {
    if (o.json) io.out(JSON.stringify({ ok: false, error: r.__typename, ...r }));
    else io.err(`${command} refused (${r.__typename}): ${r.message ?? ""}`);
    return EXIT.failed;
  }
  let intent = r as IntentView;
  if (!o.json) io.out(describeIntent(intent));
  if (o.wait && !TERMINAL.has(intent.stage)) {
    intent = await waitForIntent(api, intent, o.timeoutMs, (i) => {
      if (!o.json) io.out(describeIntent(i));
    });
  }
  const approveDone = intent.kind === "APPROVE" && intent["resumeAfterApprove"] === false && intent.stage === "ACCEPTED";
  const code = approveDone ? EXIT.ok : exitFor(intent.stage, o.wait);
  if (o.json) io.out(JSON.stringify({ ok: code === EXIT.ok, intent }));
  else if (o.wait && code === EXIT.ambiguous && !TERMINAL.has(intent.stage)) io.err(`gave up waiting after ${o.timeoutMs} ms at ${intent.stage}`);
  return code;
}

async function runs(api: Api, io: Io, o: Options): Promise<number> {
  const data = await api.request<{ runs: { edges: { node: RunSummary & { iteration: number | null } }[] } }>(
    `{ runs(first: 500) { edges { node { id loopId state stateReason iteration sprite { name } } } } }`,
  );
  const list = data.runs.edges.map((e) => e.node);
  if (o.json) io.out(JSON.stringify(list));
  else {
    io.out(["SPRITE", "LOOP", "STATE", "REASON", "RUN ID"].join("\t"));
    for (const r of list) io.out([r.sprite.name, r.loopId, r.state, r.stateReason, r.id].join("\t"));
  }
  return EXIT.ok;
}

async function run(api: Api, io: Io, o: Options): Promise<number> {
  if (o.positional.length !== 1) throw new UsageError("run needs exactly one <run>");
  const id = await resolveRun(api, o.positional[0]!);
  const data = await api.request<{ run: Record<string, unknown> & { intents: { edges: { node: IntentView }[] } } }>(
    `query($id: ID!) { run(id: $id) { ... on Run { ${RUN_FIELDS} intents(first: 10) { edges { node { ${INTENT_FIELDS} } } } } } }`,
    { id },
  );
  const r = data.run;
  if (o.json) {
    io.out(JSON.stringify({ ...r, intents: r.intents.edges.map((e) => e.node) }));
    return EXIT.ok;
  }
  const s = r as unknown as RunSummary & { iteration: number | null; health: { status: string }; lastEventName: string | null; lastEventAt: string | null };
  io.out(`${s.sprite.name}/${s.loopId} ${s.state}/${s.stateReason} iteration ${s.iteration ?? "-"} health ${s.health.status}`);
  io.out(`  last event: ${s.lastEventName ?? "-"} at ${s.lastEventAt ?? "-"}`);
  for (const e of r.intents.edges) io.out(`  ${describeIntent(e.node)}`);
  return EXIT.ok;
}

async function watch(api: Api, io: Io, o: Options): Promise<number> {
  if (o.positional.length !== 1) throw new UsageError("watch needs exactly one <run>");
  const runId = await resolveRun(api, o.positional[0]!);
  const client = api.ws();
  const failures: string[] = [];
  const print = (kind: string, payload: Record<string, unknown>, line: string) => io.out(o.json ? JSON.stringify({ type: kind, ...payload }) : line);
  const subs = [
    client.subscribe<{ runLifecycleChanged: Record<string, unknown> & { __typename: string } }>(
      {
        query: `subscription($f: RunLifecycleFilter) { runLifecycleChanged(filter: $f) { __typename
          ... on RunLifecycleChange { seq previousState state reason at } ... on ResyncRequired { reason } } }`,
        variables: { f: { run: runId } },
      },
      {
        next: (r) => {
          const c = r.data?.runLifecycleChanged;
          if (c) print("lifecycle", c, c.__typename === "RunLifecycleChange" ? `${String(c["at"])} ${String(c["previousState"])} → ${String(c["state"])}/${String(c["reason"])} (seq ${String(c["seq"])})` : `resync required: ${String(c["reason"])}`);
        },
        error: (e) => failures.push(`lifecycle: ${e instanceof Error ? e.message : JSON.stringify(e)}`),
        complete: () => {},
      },
    ),
    client.subscribe<{ controlIntentUpdated: IntentView }>(
      { query: `subscription($id: ID) { controlIntentUpdated(runId: $id) { ${INTENT_FIELDS} } }`, variables: { id: runId } },
      {
        next: (r) => {
          const i = r.data?.controlIntentUpdated;
          if (i) print("intent", i, `${new Date().toISOString()} ${describeIntent(i)}`);
        },
        error: (e) => failures.push(`intents: ${e instanceof Error ? e.message : JSON.stringify(e)}`),
        complete: () => {},
      },
    ),
  ];
  const closed = new Promise<void>((resolve) => client.on("closed", () => resolve()));
  await Promise.race([io.interrupted, closed]);
  for (const dispose of subs) dispose();
  await client.dispose();
  if (failures.length) {
    io.err(failures.join("\n"));
    return EXIT.failed;
  }
  return EXIT.ok;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === "help" || command === "--help" || command === "-h") {
      io.out(USAGE);
      return command ? EXIT.ok : EXIT.usage;
    }
    const o = parseOptions(rest);
    const api = new Api(io.env["OPS_URL"] || "http://127.0.0.1:4000/graphql", io.env["OPS_TOKEN"] || undefined);
    if ((CONTROL as readonly string[]).includes(command)) return await control(api, io, command as ControlCommand, o);
    if (command === "runs") return await runs(api, io, o);
    if (command === "run") return await run(api, io, o);
    if (command === "watch") return await watch(api, io, o);
    throw new UsageError(`unknown command ${command}`);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`opsctl: ${e.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    io.err(`opsctl: ${(e as Error).message}`);
    return EXIT.failed;
  }
}
