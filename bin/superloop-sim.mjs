#!/usr/bin/env node
// superloop-sim launcher: the runtime simulator (a stand-in for `superloop.sh`, see sim/cli.ts) is TypeScript.
// Tests and the demo fleet spawn it hundreds of times, and the tsx loader would add about half a second to each
// spawn on a busy machine, so it runs from a bundle, dist/sim/superloop-sim.mjs, which esbuild writes the first
// time and again whenever a source file it was built from has changed (sha256 of each in dist/sim/inputs.json;
// mtimes do not survive a checkout): a bundle is never run with sources it was not built from. Without esbuild or
// a writable dist/ it runs the TypeScript through tsx.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);
const dist = new URL("dist/sim/", root);
const bundle = new URL("superloop-sim.mjs", dist);
const inputsFile = new URL("inputs.json", dist);

const sha256 = (file) =>
  createHash("sha256")
    .update(readFileSync(new URL(file, root)))
    .digest("hex");

function bundleIsCurrent() {
  try {
    const hashes = JSON.parse(readFileSync(inputsFile, "utf8"));
    return Object.entries(hashes).every(([file, hash]) => sha256(file) === hash);
  } catch {
    return false;
  }
}

// Written beside, then renamed: a simulator starting concurrently sees the old or the new file, never half.
async function build() {
  const { buildSync } = await import("esbuild");
  mkdirSync(dist, { recursive: true });
  const unique = `${process.pid}.${Date.now()}`;
  const tmp = new URL(`superloop-sim.${unique}.mjs`, dist);
  const result = buildSync({
    absWorkingDir: fileURLToPath(root),
    entryPoints: ["sim/cli.ts"],
    outfile: fileURLToPath(tmp),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    metafile: true,
    legalComments: "none",
    logLevel: "warning",
  });
  // our sources by content; a bundled package (none today) by its package.json, whose version changes with its files
  const files = new Set(Object.keys(result.metafile.inputs).map((file) => file.replace(/^(node_modules\/(?:@[^/]+\/)?[^/]+\/).*$/, "$1package.json")));
  const hashes = Object.fromEntries([...files].map((file) => [file, sha256(file)]));
  renameSync(tmp, bundle);
  // the bundle first, then the list that vouches for it (hashed after the build: a source edited during it makes
  // the list wrong for the bundle, and the next start builds again)
  const inputsTmp = new URL(`inputs.${unique}.json`, dist);
  writeFileSync(inputsTmp, JSON.stringify(hashes));
  renameSync(inputsTmp, inputsFile);
}

let main;
try {
  if (!bundleIsCurrent()) await build();
  ({ main } = await import(bundle.href));
} catch {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../sim/cli.ts"));
}
await main(process.argv.slice(2));
