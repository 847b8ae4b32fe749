#!/usr/bin/env node
// opsctl launcher. The CLI is TypeScript (cli/opsctl.ts): it runs from the bundle `npm run build:opsctl`
// writes (dist/opsctl/; `npm pack` builds it) while every source file it was built from still has the same
// content, and through tsx otherwise — so a checkout works without a build and a stale bundle is never used.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const bundle = new URL("../dist/opsctl/opsctl.mjs", import.meta.url);
const root = new URL("../", import.meta.url);

function bundleIsCurrent() {
  if (process.env.OPSCTL_FROM_SOURCE === "1") return false;
  let hashes;
  try {
    hashes = JSON.parse(readFileSync(new URL("../dist/opsctl/inputs.json", import.meta.url), "utf8"));
  } catch {
    return false;
  }
  // ~16 small files: hashing them costs about a millisecond (mtimes do not survive npm pack/install)
  return Object.entries(hashes).every(([file, sha]) => {
    try {
      return (
        createHash("sha256")
          .update(readFileSync(new URL(file, root)))
          .digest("hex") === sha
      );
    } catch {
      return true; // an installed package without the sources: the bundle is all there is
    }
  });
}

let main;
if (bundleIsCurrent()) {
  ({ main } = await import(bundle.href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../cli/opsctl.ts"));
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
