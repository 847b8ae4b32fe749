// Over 350 lines: the commander tree of every opsctl command and option in one place (it reads as the CLI's
// manual); what each command does is in commands/.
import { readFileSync } from "node:fs";
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { IDEMPOTENCY_KEY } from "../src/control/keys";
import { Api } from "./api";
import { control, INTENT_COMMANDS } from "./commands/control";
import { archive, removeRun, removeSprite, register, reloadFleet, resetCursor, update, type SpriteSettings } from "./commands/admin";
import { describeIntent, describeRun, describeSprite } from "./commands/describe";
import { getAudit, getIntents, getInterventions, getRuns, getSprites } from "./commands/get";
import { events, watch } from "./commands/stream";
import { parseWaitFor, waitFor } from "./commands/wait";
import { bashCompletion, fishCompletion, zshCompletion } from "./completion";
import { configPath, parseContext, readConfig, resolveConnection, writeConfig } from "./config-file";
import { parseDuration, type Ctx, type Io } from "./context";
import { CliError, EXIT, EXIT_DOC } from "./exit-codes";
import { machine, parseFormat, printList, type Printer } from "./output";
import { LIFECYCLE_STATES, parseSelector } from "./selection";

// opsctl: the manager's operations for scripts and terminals, kubectl-style, over the same GraphQL API (HTTP for
// queries and mutations, graphql-ws for events -f, watch and wait). The parser is strict: unknown options and
// extra arguments are usage errors (exit 64) with the command's usage.

export { EXIT };
export type { Io };

/** The package's version: from the nearest package.json up (cli/opsctl.ts and its bundle dist/opsctl/ sit at different depths). */
function packageVersion(): string {
  for (let dir = new URL("./", import.meta.url); ; dir = new URL("../", dir)) {
    try {
      return (JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { version: string }).version;
    } catch (e) {
      if (new URL("../", dir).href === dir.href) throw e;
    }
  }
}

export const VERSION = packageVersion();

const EXIT_HELP = `\nExit codes:\n${EXIT_DOC.map(([c, d]) => `  ${String(c).padStart(3)}  ${d}`).join("\n")}

Connection: --server/--token-file, else OPSCTL_SERVER, OPSCTL_TOKEN_FILE (or OPSCTL_TOKEN), else the current
context of the config file (OPSCTL_CONFIG, default ~/.config/opsctl/config.json); OPS_URL/OPS_TOKEN also work.`;

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function selectorOptions(cmd: Command, what = "runs"): Command {
  return cmd
    .option("--state <state>", `only ${what} in this lifecycle state (repeatable, or comma-separated)`, collect)
    .option("--health <status>", `only ${what} with this health: HEALTHY, DEGRADED, CRITICAL (repeatable)`, collect)
    .option("--sprite <name>", `only ${what} on this Sprite`)
    .option("-l, --label <key=value>", `only ${what} on Sprites with this label (repeatable: all must match)`, collect)
    .option("--needs-intervention", `only ${what} in the interventions queue`)
    .option("--limit <n>", "at most this many (pagination is handled)");
}

const durationArg = (flag: string) => (v: string) => {
  try {
    return parseDuration(v, flag);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

function build(io: Io, state: { code: number; printer: Printer | null }, jsonUsage: boolean): Command {
  const program = new Command("opsctl");
  const printerOf = (cmd: Command): Printer => {
    const g = cmd.optsWithGlobals<{ output?: string; headers?: boolean; color?: boolean }>();
    const format = parseFormat(g.output);
    const colour = Boolean(io.isTTY) && g.color !== false && !io.env["NO_COLOR"] && io.env["TERM"] !== "dumb";
    const p: Printer = { format, noHeaders: g.headers === false, colour, out: io.out, err: io.err };
    state.printer = p;
    return p;
  };
  const ctxOf = (cmd: Command): Ctx => {
    const p = printerOf(cmd);
    const g = cmd.optsWithGlobals<{ server?: string; tokenFile?: string; context?: string; requestTimeout?: number }>();
    let api: Api | null = null;
    return {
      io,
      p,
      api: () => {
        if (api) return api;
        const conn = resolveConnection(g, io.env, readConfig(configPath(io.env)));
        for (const w of conn.warnings) io.err(w);
        api = new Api(conn.server, conn.token, g.requestTimeout);
        return api;
      },
    };
  };
  /** Wraps an action: its resolved number is the exit code. Commander passes (...arguments, options, command). */
  const act =
    <A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<number>) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      state.code = await fn(ctxOf(cmd), ...(args as A));
    };

  program
    .description("Operate Superloop runs through the superloop-ops API")
    .version(VERSION, "--version", "print the client version")
    .option("--server <url>", "GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql")
    .option("--token-file <path>", "file holding the API token (the token is never taken on the command line)")
    .option("--context <name>", "a context of the config file")
    .addOption(new Option("-o, --output <format>", "table (default), wide, json, jsonl, yaml, name, jsonpath=TEMPLATE"))
    .option("--no-headers", "tables without their header line")
    .option("--no-color", "no colour even on a terminal")
    .addOption(new Option("--request-timeout <duration>", "per HTTP request").argParser(durationArg("--request-timeout")).default(30_000, "30s"))
    .addHelpText("after", EXIT_HELP)
    .showHelpAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, "")),
      // under -o json a usage error is one JSON document (printed by main), not text
      writeErr: (s) => (jsonUsage ? undefined : io.err(s.replace(/\n$/, ""))),
      outputError: (s, write) => write(s),
    });

  // get
  const get = program.command("get").description("list runs, sprites, interventions, intents or audit entries");
  selectorOptions(get.command("runs").description("list runs (columns: state, health, iteration, age, last event)")).action(
    act((ctx, opts: Record<string, unknown>) => getRuns(ctx, parseSelector(opts))),
  );
  get
    .command("sprites")
    .description("list Sprites")
    .option("--health <status>", "only Sprites with this rolled-up health (repeatable)", collect)
    .option("-l, --label <key=value>", "only Sprites with this label (repeatable)", collect)
    .option("--limit <n>", "at most this many")
    .option("--include-removed", "also Sprites that were removed")
    .action(act((ctx, opts: Record<string, unknown>) => getSprites(ctx, parseSelector(opts), opts["includeRemoved"] === true)));
  selectorOptions(
    get.command("interventions").description("runs that need an operator, critical first").option("--include-acknowledged", "also runs held out of the queue by an acknowledgement or a snooze"),
    "interventions",
  ).action(
    act((ctx, opts: Record<string, unknown>) => {
      const { includeAcknowledged, ...rest } = opts;
      return getInterventions(ctx, parseSelector(rest), includeAcknowledged === true);
    }),
  );
  selectorOptions(get.command("intents").argument("[run]", "one run (id or Sprite name); default: the selected runs").description("control intents, newest first")).action(
    act((ctx, run: string | undefined, opts: Record<string, unknown>) => getIntents(ctx, run, parseSelector(opts))),
  );
  get
    .command("audit")
    .argument("[run]", "one run (id or Sprite name)")
    .description("operator actions (intents and transitions), newest first")
    .option("--since <time>", "ISO-8601 time, inclusive")
    .option("--until <time>", "ISO-8601 time, exclusive")
    .option("--limit <n>", "at most this many (default 100)")
    .action(
      act((ctx, run: string | undefined, opts: { since?: string; until?: string; limit?: string }) =>
        getAudit(ctx, run, { since: opts.since, until: opts.until, limit: parseSelector({ limit: opts.limit }).limit }),
      ),
    );

  // describe
  const describe = program.command("describe").description("one run, Sprite or intent in detail");
  describe
    .command("run")
    .argument("<run>", "run id, run/<id> or Sprite name")
    .action(act((ctx, ref: string) => describeRun(ctx, ref)));
  describe
    .command("sprite")
    .argument("<name>")
    .action(act((ctx, ref: string) => describeSprite(ctx, ref)));
  describe
    .command("intent")
    .argument("<id>", "intent id or intent/<id>")
    .action(act((ctx, ref: string) => describeIntent(ctx, ref)));

  // streams
  program
    .command("events")
    .description("the run's events.jsonl lines as stored; -f follows live over graphql-ws and resumes after a disconnect")
    .argument("<run>")
    .option("-f, --follow", "keep streaming new events until interrupted")
    .option("--after <line>", "only lines after this line number")
    .option("--limit <n>", "at most this many events")
    .addOption(new Option("--reconnect-timeout <duration>", "give up (exit 69) after this long disconnected").argParser(durationArg("--reconnect-timeout")).default(60_000, "60s"))
    .action(
      act((ctx, ref: string, opts: { follow?: boolean; after?: string; limit?: string; reconnectTimeout: number }) => {
        if (opts.after !== undefined && !/^\d+$/.test(opts.after)) throw new CliError("--after: a line number", EXIT.usage);
        return events(ctx, ref, {
          follow: opts.follow === true,
          after: opts.after === undefined ? undefined : Number(opts.after),
          limit: parseSelector({ limit: opts.limit }).limit,
          reconnectMs: opts.reconnectTimeout,
        });
      }),
    );
  selectorOptions(
    program
      .command("watch")
      .description("stream lifecycle changes (and, for one run, intent stages); one run ends at a terminal state or --until")
      .argument("[run]", "one run; default: the fleet (or the selected runs)")
      .addOption(new Option("--until <state>", "end when the run (or every selected run) is in this state").choices([...LIFECYCLE_STATES]))
      .addOption(new Option("--reconnect-timeout <duration>", "give up (exit 69) after this long disconnected").argParser(durationArg("--reconnect-timeout")).default(60_000, "60s")),
  ).action(
    act((ctx, ref: string | undefined, opts: Record<string, unknown>) => {
      const sel = parseSelector(opts);
      if (ref && (sel.state || sel.health || sel.sprite || sel.label || sel.needsIntervention)) throw new CliError("watch: a run or a selector, not both", EXIT.usage);
      return watch(ctx, ref, sel, { until: opts["until"] as string | undefined, reconnectMs: opts["reconnectTimeout"] as number });
    }),
  );
  program
    .command("wait")
    .description("block until a run reaches a state, or its latest intent a stage")
    .argument("<run>")
    .requiredOption("--for <condition>", "state=STATE[,STATE] or intent=STAGE")
    .option("--intent <id>", "with --for intent=: this intent instead of the run's latest")
    .addOption(new Option("--timeout <duration>", "give up (exit 4) after this long").argParser(durationArg("--timeout")).default(300_000, "5m"))
    .action(act((ctx, ref: string, opts: { for: string; intent?: string; timeout: number }) => waitFor(ctx, ref, parseWaitFor(opts.for), opts.timeout, opts.intent?.replace(/^intent\//, ""))));

  // control intents
  for (const name of INTENT_COMMANDS) {
    const cmd = program
      .command(name)
      .description(`request ${name.toUpperCase()} on runs (named, or picked by a selector); one result per run`)
      .argument("[runs...]", "run ids, run/<id> or Sprite names")
      .option("--note <text>", "why (kept in the audit)")
      .option("--key <key>", "idempotency key: the same key on the same run returns the first intent instead of acting again")
      .option("--wait", "follow each intent to a terminal stage (survives a server restart)")
      .addOption(new Option("--timeout <duration>", "with --wait: give up (exit 4) after this long").argParser(durationArg("--timeout")).default(300_000, "5m"))
      .option("--all", "every run (instead of a selector)");
    if (name === "approve") cmd.option("--no-resume", "only record the decision; do not run the loop again");
    selectorOptions(cmd).action(
      act((ctx, refs: string[], opts: Record<string, unknown>) => {
        const note = opts["note"] as string | undefined;
        const key = opts["key"] as string | undefined;
        if (note !== undefined && note.length > 2000) throw new CliError("--note: at most 2000 characters", EXIT.usage);
        if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) throw new CliError("--key: 8-128 characters of letters, digits and . _ : -", EXIT.usage);
        return control(ctx, name, refs, parseSelector(opts), {
          note,
          key,
          wait: opts["wait"] === true,
          timeoutMs: opts["timeout"] as number,
          resume: opts["resume"] !== false,
          all: opts["all"] === true,
        });
      }),
    );
  }

  // admin
  const settings = (cmd: Command) =>
    cmd
      .addOption(new Option("--transport <kind>", "LOCAL, SPRITE_SERVICE or SPRITES_API").choices(["LOCAL", "SPRITE_SERVICE", "SPRITES_API", "local", "sprite_service", "sprites_api"]))
      .option("--agent-url <url>", "SPRITE_SERVICE: the agent's base URL")
      .option("--agent-token-env <name>", "SPRITE_SERVICE: the env var holding the agent token")
      .option("--sprites-api-name <name>", "SPRITES_API: the Sprite's name in the API")
      .option("--sprites-api-token-env <name>", "SPRITES_API: the env var holding the API token")
      .option("--poll-interval-ms <n>", "poll interval")
      .option("--max-runs <n>", "loop runs allowed side by side")
      .addOption(new Option("--control-mode <mode>", "ENABLED or DISABLED (passive)").choices(["ENABLED", "DISABLED", "enabled", "disabled"]))
      .addOption(new Option("--health-profile <name>", "default, strict, balanced or relaxed").choices(["default", "strict", "balanced", "relaxed"]))
      .option("--connect-timeout-ms <n>", "remote transports: connect timeout")
      .option("--request-timeout-ms <n>", "remote transports: time per request")
      .option("--retry-attempts <n>", "remote transports: attempts per request");
  settings(program.command("register").description("register a Sprite and the loop run it hosts (admin)").argument("<name>"))
    .requiredOption("--repo <path>", "the repo the loop runs in (on the Sprite)")
    .requiredOption("--loop <id>", "the loop id")
    .action(act((ctx, name: string, opts: SpriteSettings & { repo: string; loop: string }) => register(ctx, name, opts)));
  settings(program.command("update").description("change a Sprite's settings (admin)").argument("<name>")).action(act((ctx, name: string, opts: SpriteSettings) => update(ctx, name, opts)));
  const remove = program.command("remove").description("stop observing a Sprite or a run (admin); history is kept unless --purge");
  remove
    .command("sprite")
    .argument("<name>")
    .option("--purge", "delete every row of the Sprite and its runs")
    .action(act((ctx, name: string, opts: { purge?: boolean }) => removeSprite(ctx, name, opts.purge === true)));
  remove
    .command("run")
    .argument("<run>")
    .action(act((ctx, ref: string) => removeRun(ctx, ref)));
  program
    .command("reset-cursor")
    .description("resume ingestion of a FORKED/ERROR run (admin)")
    .argument("<run>")
    .requiredOption("--mode <mode>", "adopt-current (continue after the file's last line) or replay-from-start")
    .option("--note <text>", "why (kept in the audit)")
    .action(act((ctx, ref: string, opts: { mode: string; note?: string }) => resetCursor(ctx, ref, opts.mode, opts.note)));
  program
    .command("archive")
    .description("write a finished run's events to OPS_ARCHIVE_DIR as its original events.jsonl, gzipped; retention then prunes them (admin)")
    .argument("<run>")
    .action(act((ctx, ref: string) => archive(ctx, ref)));
  program
    .command("reload-fleet")
    .description("load OPS_FLEET_FILE now, as SIGHUP does (admin)")
    .action(act((ctx) => reloadFleet(ctx)));

  // local commands: no server needed
  program
    .command("completion")
    .description("print a shell completion script: source <(opsctl completion bash)")
    .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(["bash", "zsh", "fish"]))
    .action((shell: string) => {
      io.out((shell === "bash" ? bashCompletion(program) : shell === "zsh" ? zshCompletion(program) : fishCompletion(program)).replace(/\n$/, ""));
      state.code = EXIT.ok;
    });
  program
    .command("version")
    .description("client version (and the server it would talk to)")
    .action(
      act(async (ctx) => {
        const doc = { client: VERSION, node: process.version };
        if (machine(ctx.p)) io.out(JSON.stringify(doc));
        else io.out(`opsctl ${VERSION} (node ${process.version})`);
        return EXIT.ok;
      }),
    );

  const config = program.command("config").description("named contexts: a server and the file holding its token");
  config.command("get-contexts").action(
    act(async (ctx) => {
      const file = readConfig(configPath(io.env));
      const rows = Object.entries(file.contexts).map(([name, c]) => ({ name, current: name === file.currentContext, server: c.server, tokenFile: c.tokenFile ?? null }));
      printList(
        ctx.p,
        {
          kind: "Context",
          columns: [
            { header: "CURRENT", get: (r) => (r.current ? "*" : "") },
            { header: "NAME", get: (r) => r.name },
            { header: "SERVER", get: (r) => r.server },
            { header: "TOKEN FILE", get: (r) => r.tokenFile ?? "-" },
          ],
          name: (r) => `context/${r.name}`,
          json: (r) => r,
        },
        rows,
      );
      return EXIT.ok;
    }),
  );
  config.command("current-context").action(
    act(async () => {
      const file = readConfig(configPath(io.env));
      if (!file.currentContext) throw new CliError("no current context", EXIT.notFound);
      io.out(file.currentContext);
      return EXIT.ok;
    }),
  );
  config
    .command("use-context")
    .argument("<name>")
    .action(
      act(async (_ctx, name: string) => {
        const path = configPath(io.env);
        const file = readConfig(path);
        if (!file.contexts[name]) throw new CliError(`no context named ${name}`, EXIT.notFound);
        writeConfig(path, { ...file, currentContext: name });
        io.err(`Switched to context "${name}".`);
        return EXIT.ok;
      }),
    );
  config
    .command("set-context")
    .description("create or change a context: opsctl config set-context NAME --server URL [--token-file PATH]")
    .argument("<name>")
    .action(
      act(async (_ctx, name: string, _opts: unknown, cmd: Command) => {
        // --server/--token-file are the program's options: here they are this context's settings
        const g = cmd.optsWithGlobals<{ server?: string; tokenFile?: string }>();
        if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new CliError("context names: letters, digits, . _ - (at most 64)", EXIT.usage);
        const path = configPath(io.env);
        const file = readConfig(path);
        const merged = parseContext({ ...file.contexts[name], ...(g.server ? { server: g.server } : {}), ...(g.tokenFile ? { tokenFile: g.tokenFile } : {}) });
        writeConfig(path, { ...file, contexts: { ...file.contexts, [name]: merged }, currentContext: file.currentContext ?? name });
        io.err(`Context "${name}" set.`);
        return EXIT.ok;
      }),
    );
  return program;
}

/** Reads -o from the raw arguments: needed to print a usage error as JSON before the parser has finished. */
function rawFormatIsJson(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = a === "-o" || a === "--output" ? argv[i + 1] : a.startsWith("--output=") ? a.slice(9) : a.startsWith("-o") && a.length > 2 ? a.slice(2).replace(/^=/, "") : undefined;
    if (v !== undefined) return v !== "table" && v !== "wide";
  }
  return false;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const state: { code: number; printer: Printer | null } = { code: EXIT.ok, printer: null };
  const jsonErrors = () => (state.printer ? machine(state.printer) : rawFormatIsJson(argv));
  const program = build(io, state, rawFormatIsJson(argv));
  const report = (e: CliError) => {
    if (jsonErrors()) io.err(JSON.stringify({ error: { type: e.kind, message: e.message, exit: e.code, ...e.detail } }));
    else io.err(`opsctl: ${e.message}`);
    return e.code;
  };
  try {
    await program.parseAsync(argv, { from: "user" });
    return state.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return EXIT.ok; // --help, --version
      if (jsonErrors()) io.err(JSON.stringify({ error: { type: "UsageError", message: e.message.replace(/^error: /, ""), exit: EXIT.usage } }));
      return EXIT.usage;
    }
    if (e instanceof CliError) return report(e);
    return report(new CliError((e as Error).message, EXIT.failed));
  }
}
