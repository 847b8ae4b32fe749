import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { SCHEMA_VERSION } from "../src/contract";
import { responseCursor } from "./events-response";
import { createAgentServer } from "./agent-server";
import { executeControl, parseIntent } from "./control";
import { errorMessage, isAdapterError } from "../src/contract";
import { readEventsAfter, type EventCursor, type LineOnlyCursor } from "./events-reader";
import { IdempotencyStore } from "./idempotency-store";
import { isMainModule } from "./main-module";
import { readSnapshot } from "./snapshot";
import { SPRITE_API_SOCKET, superviseMain } from "./supervise";

// superloop-ops-agent: the same library as the manager's local transport, as a CLI and an HTTP service.
// Output is JSON on stdout; exit 0 = ok, 1 = the operation failed, 2 = usage error.

export const USAGE = `superloop-ops-agent: read Superloop artifacts as v1 envelopes and run allowlisted control intents

Usage:
  superloop-ops-agent snapshot --repo R --loop L [--trace-id T]
  superloop-ops-agent events   --repo R --loop L [--cursor N [--byte-offset B] [--last-line-hash H]] [--max N] [--trace-id T]
  superloop-ops-agent control  --repo R --loop L --intent cancel|approve|reject|pause|resume|start
                               [--by WHO] [--note TEXT] [--key IDEMPOTENCY_KEY] [--state-dir D] [--timeout-ms N]
  superloop-ops-agent serve    --repo R [--host 127.0.0.1] [--port 8787] [--state-dir D] [--max-wait-ms N]
  superloop-ops-agent supervise --repo R --loop L [--record FILE] [--task-name N] [--refresh-ms N] [--expire 5m] -- CMD [ARGS...]
                               (runs CMD holding a Sprites Task; control/serve start runs under it)
  superloop-ops-agent --help

Environment:
  SUPERLOOP_BIN     superloop executable used by control (default: superloop.sh on PATH)
  OPS_AGENT_TOKEN   serve: required token (Authorization: Bearer or X-Ops-Token); unset = open, loopback only (--host 0.0.0.0 is refused)
  OPS_AGENT_SUPERVISE=off  start launches the run bare instead of under \`supervise\` (outside a Sprite)

Exit codes: 0 ok, 1 operation failed (JSON error on stdout), 2 usage error.
`;

class UsageError extends Error {}

/**
 * This very CLI's `supervise` command (bundle or tsx alike) when it runs inside a Sprite (its API socket
 * exists: there is a Task to hold), unless OPS_AGENT_SUPERVISE=off; elsewhere START launches the run bare.
 */
function selfSuperviseCommand(): string[] | null {
  const script = process.argv[1];
  if (process.env["OPS_AGENT_SUPERVISE"] === "off" || script === undefined) return null;
  if (!existsSync(process.env["SPRITE_API_SOCK"] || SPRITE_API_SOCKET)) return null;
  return [process.execPath, ...process.execArgv, script, "supervise"];
}

const options = {
  repo: { type: "string" },
  loop: { type: "string" },
  "trace-id": { type: "string" },
  cursor: { type: "string" },
  "byte-offset": { type: "string" },
  "last-line-hash": { type: "string" },
  max: { type: "string" },
  intent: { type: "string" },
  by: { type: "string" },
  note: { type: "string" },
  key: { type: "string" },
  "state-dir": { type: "string" },
  "timeout-ms": { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  "max-wait-ms": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const intArg = z
  .string()
  .regex(/^\d{1,15}$/, "must be a non-negative integer")
  .transform((value) => Number(value));

const ArgsSchema = z.object({
  repo: z.string().min(1).optional(),
  loop: z.string().min(1).optional(),
  "trace-id": z
    .string()
    .regex(/^[\x21-\x7e]{1,256}$/, "must be 1-256 printable ASCII characters")
    .optional(),
  cursor: intArg.optional(),
  "byte-offset": intArg.optional(),
  "last-line-hash": z
    .string()
    .regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex characters")
    .optional(),
  max: intArg.optional(),
  intent: z.string().min(1).optional(),
  by: z.string().min(1).optional(),
  note: z.string().optional(),
  key: z.string().min(1).max(200).optional(),
  "state-dir": z.string().min(1).optional(),
  "timeout-ms": intArg.optional(),
  host: z.string().min(1).optional(),
  port: intArg.refine((port) => port <= 65_535, "must be at most 65535").optional(),
  "max-wait-ms": intArg.optional(),
  help: z.boolean().optional(),
});
type Args = z.infer<typeof ArgsSchema>;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

function parse(argv: string[]): { command: string | undefined; args: Args } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  if (parsed.positionals.length > 1) throw new UsageError(`unexpected arguments: ${parsed.positionals.slice(1).join(" ")}`);
  const checked = ArgsSchema.safeParse(parsed.values);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new UsageError(`--${issue?.path.map(String).join(".") ?? "?"}: ${issue?.message ?? "invalid"}`);
  }
  return { command: parsed.positionals[0], args: checked.data };
}

function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new UsageError(`${flag} is required`);
  return value;
}

function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value)}\n`);
}

async function runSnapshot(args: Args, io: CliIo): Promise<number> {
  const snapshot = await readSnapshot({
    repoPath: required(args.repo, "--repo"),
    loopId: required(args.loop, "--loop"),
    traceId: args["trace-id"] ?? null,
  });
  printJson(io, snapshot);
  return 0;
}

async function runEvents(args: Args, io: CliIo): Promise<number> {
  const repoPath = required(args.repo, "--repo");
  const loopId = required(args.loop, "--loop");
  if (args["byte-offset"] === undefined && args["last-line-hash"] !== undefined) {
    throw new UsageError("--last-line-hash needs --byte-offset");
  }
  const line = args.cursor ?? 0;
  const cursor: EventCursor | LineOnlyCursor = args["byte-offset"] !== undefined ? { line, byteOffset: args["byte-offset"], lastLineHash: args["last-line-hash"] ?? null } : { line };
  const page = await readEventsAfter({ repoPath, loopId, cursor, limit: args.max ?? 1_000, traceId: args["trace-id"] ?? null });
  const body: Record<string, unknown> = {
    ok: page.error === undefined,
    schemaVersion: SCHEMA_VERSION,
    source: { repoPath: path.resolve(repoPath), loopId },
    events: page.envelopes,
    cursor: responseCursor(page),
    hasMore: page.hasMore,
    eventsFileExists: page.eventsFileExists,
  };
  if (page.error !== undefined) body["error"] = page.error;
  printJson(io, body);
  return page.error === undefined ? 0 : 1;
}

async function runControl(args: Args, io: CliIo): Promise<number> {
  const repoPath = required(args.repo, "--repo");
  const loopId = required(args.loop, "--loop");
  const intent = parseIntent(required(args.intent, "--intent"));
  const execute = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
    const result = await executeControl({
      repoPath,
      loopId,
      intent,
      ...(args.by !== undefined ? { by: args.by } : {}),
      ...(args.note !== undefined ? { note: args.note } : {}),
      ...(args["timeout-ms"] !== undefined ? { timeoutMs: args["timeout-ms"] } : {}),
      superviseCommand: selfSuperviseCommand(),
    });
    return { status: result.ok ? 0 : 1, body: { ok: result.ok, intent, result, replayed: false } };
  };
  if (args.key === undefined) {
    const { status, body } = await execute();
    printJson(io, body);
    return status;
  }
  const stateDir = args["state-dir"] ?? path.join(path.resolve(repoPath), ".superloop", "ops-agent");
  const store = await IdempotencyStore.open(path.join(stateDir, "idempotency.json"));
  const fingerprint = JSON.stringify({ loopId, intent, by: args.by ?? null, note: args.note ?? null });
  const outcome = await store.run(args.key, fingerprint, execute);
  printJson(io, { ...outcome.stored.body, replayed: outcome.replayed });
  return outcome.stored.body["ok"] === true ? 0 : 1;
}

async function runServe(args: Args, io: CliIo): Promise<number> {
  const agent = createAgentServer({
    repoPath: required(args.repo, "--repo"),
    host: args.host ?? "127.0.0.1",
    port: args.port ?? 8787,
    ...(args["state-dir"] !== undefined ? { stateDir: args["state-dir"] } : {}),
    ...(args["max-wait-ms"] !== undefined ? { maxWaitMs: args["max-wait-ms"] } : {}),
    superviseCommand: selfSuperviseCommand(),
    log: (line) => io.stderr(`${line}\n`),
  });
  const { port } = await agent.listen();
  const host = args.host ?? "127.0.0.1";
  printJson(io, {
    ok: true,
    listening: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    auth: process.env["OPS_AGENT_TOKEN"] ? "token" : "open",
  });
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      void agent.close().then(resolve);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
  return 0;
}

export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  // `supervise` takes the command after `--` verbatim: it has its own small parser (agent/supervise.ts).
  if (argv[0] === "supervise") return superviseMain(argv.slice(1));
  try {
    const { command, args } = parse(argv);
    if (args.help === true || command === "help" || (command === undefined && argv.length === 0)) {
      if (command === undefined && argv.length === 0) {
        io.stderr(USAGE);
        return 2;
      }
      io.stdout(USAGE);
      return 0;
    }
    switch (command) {
      case "snapshot":
        return await runSnapshot(args, io);
      case "events":
        return await runEvents(args, io);
      case "control":
        return await runControl(args, io);
      case "serve":
        return await runServe(args, io);
      default:
        throw new UsageError(command === undefined ? "missing command" : `unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      printJson(io, { ok: false, error: { code: "usage", message: error.message } });
      io.stderr(`error: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (isAdapterError(error)) {
      printJson(io, { ok: false, error: { code: error.code, message: error.message, details: error.details } });
      return 1;
    }
    printJson(io, { ok: false, error: { code: "internal_error", message: errorMessage(error) } });
    return 1;
  }
}

if (isMainModule(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`fatal: ${errorMessage(error)}\n`);
      process.exitCode = 1;
    },
  );
}
