import { parseArgs } from "node:util";
import { ConfigError, configHelp, loadConfig } from "./config/config";
import { DatabaseStartError } from "./db/database";
import { startServer } from "./server";
import { watchForShutdown } from "./shutdown";

const USAGE = `superloop-ops: the operations control plane for Superloop loop runs

Usage: npm start [-- --demo[=on|off]] [-- --help]

Options:
  --demo, --demo=on  register (or reset) the demo fleet: simulated runs on demo Sprites (same as OPS_DEMO=1)
  --demo=off         remove the demo Sprites, their history and their demo repos, then start normally
  --help             show this help

Stop it with Ctrl-C or SIGTERM: it finishes in-flight work, closes its connections, then stops the embedded
PostgreSQL. Exit codes: 0 clean stop, 1 failed to start, 2 wrong configuration (one line says what to set).

Configuration (environment variables):
${configHelp()}
`;

type DemoFlag = "on" | "off" | null;

function demoFlag(value: string | boolean | undefined): DemoFlag {
  if (value === undefined) return null;
  if (value === true || value === "" || value === "on" || value === "1" || value === "true") return "on";
  if (value === "off" || value === "0" || value === "false") return "off";
  throw new Error(`--demo takes on or off, not "${String(value)}"`);
}

async function main(): Promise<number> {
  let flags;
  let demo: DemoFlag;
  try {
    // `--demo` alone means on; `--demo=off` needs a value, so the option is a string with a bare form.
    const args = process.argv.slice(2).map((a) => (a === "--demo" ? "--demo=on" : a));
    flags = parseArgs({ args, options: { help: { type: "boolean" }, demo: { type: "string" } }, strict: true, allowPositionals: false }).values;
    demo = demoFlag(flags.demo);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\nRun \`npm start -- --help\` for the list of settings.\n`);
      return 2;
    }
    throw e;
  }
  if (demo === "on") config.OPS_DEMO = true;
  if (demo === "off") config.OPS_DEMO = false;

  // Installed before the (possibly slow) start, so a Ctrl-C during it still ends in a clean stop.
  const shutdown = watchForShutdown();
  const started = Date.now();
  let server;
  try {
    server = await startServer(config, { removeDemo: demo === "off" });
  } catch (e) {
    // One clear line, not a stack: the usual causes are a wrong DATABASE_URL, a busy port, a locked data dir.
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`superloop-ops: cannot start: ${msg.split("\n")[0]}\n`);
    return e instanceof DatabaseStartError ? e.exitCode : 1;
  }
  if (shutdown.requested) {
    await server.close();
    return 0;
  }
  const dashboard = server.url.replace(/\/graphql$/, "/");
  const demoLine = server.demo ? `  Demo fleet: ${server.demo.sprites.length} sprites under ${server.demo.root} (DEMO: simulated runs)\n` : "";
  shutdown.print(`superloop-ops ready in ${Date.now() - started} ms\n  Dashboard: ${dashboard}\n  GraphiQL: ${server.url}\n${demoLine}`);

  const reason = await shutdown.wait;
  shutdown.print(`${reason}, shutting down\n`);
  const code = await shutdown.withDeadline(server.close());
  return code;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`superloop-ops: fatal: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
