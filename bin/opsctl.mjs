#!/usr/bin/env node
// opsctl launcher. The CLI is TypeScript (src/cli/opsctl.ts): it runs from the bundle `npm run build:opsctl`
// writes (dist/opsctl/, built by `npm pack` too) while that bundle is newer than every source file it was built
// from, and through tsx otherwise — so a checkout works without a build and a stale bundle is never used.
import { readFileSync, statSync } from "node:fs";

const bundle = new URL("../dist/opsctl/opsctl.mjs", import.meta.url);
const root = new URL("../", import.meta.url);

function bundleIsFresh() {
  if (process.env.OPSCTL_FROM_SOURCE === "1") return false;
  try {
    const built = statSync(bundle).mtimeMs;
    const inputs = JSON.parse(readFileSync(new URL("../dist/opsctl/inputs.json", import.meta.url), "utf8"));
    // a checkout without sources (a packed tarball may omit them) trusts the bundle
    return inputs.every((f) => {
      try {
        return statSync(new URL(f, root)).mtimeMs <= built;
      } catch {
        return true;
      }
    });
  } catch {
    return false;
  }
}

let main;
if (bundleIsFresh()) {
  ({ main } = await import(bundle.href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/opsctl.ts"));
}
const interrupted = new Promise((resolve) => {
  process.once("SIGINT", resolve);
  process.once("SIGTERM", resolve);
});
const code = await main(process.argv.slice(2), {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  interrupted,
  isTTY: Boolean(process.stdout.isTTY),
});
// let stdout drain before exiting (a pipe may still hold the last lines)
process.stdout.write("", () => process.exit(code));
