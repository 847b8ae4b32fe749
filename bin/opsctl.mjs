#!/usr/bin/env node
// opsctl launcher: the CLI is TypeScript (src/cli/opsctl.ts), run through tsx like the server itself.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/opsctl.ts");
const interrupted = new Promise((resolve) => {
  process.once("SIGINT", resolve);
  process.once("SIGTERM", resolve);
});
const code = await main(process.argv.slice(2), {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  interrupted,
});
process.exit(code);
