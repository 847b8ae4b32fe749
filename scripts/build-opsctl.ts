import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { isMainModule } from "../adapters/main-module";

// Bundles opsctl's own TypeScript (src/cli + the few modules it imports) into dist/opsctl/opsctl.mjs so that
// each invocation starts without the tsx loader (about half the start-up time). npm packages stay external.
// bin/opsctl.mjs uses the bundle only while it is newer than every source file listed in inputs.json, and
// runs the TypeScript through tsx otherwise: a stale bundle is never run. `npm pack` builds it (prepack).

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const OPSCTL_DIST = path.join(repoRoot, "dist", "opsctl");

export async function buildOpsctl(): Promise<{ outfile: string; inputs: string[] }> {
  mkdirSync(OPSCTL_DIST, { recursive: true });
  // written beside, then renamed: a concurrently starting opsctl sees the old or the new file, never half
  const tmp = path.join(OPSCTL_DIST, `opsctl.${process.pid}.${Date.now()}.mjs`);
  const result = await build({
    entryPoints: [path.join(repoRoot, "src", "cli", "opsctl.ts")],
    outfile: tmp,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    metafile: true,
    legalComments: "none",
    logLevel: "warning",
  });
  const inputs = Object.keys(result.metafile.inputs).map((f) => path.relative(repoRoot, path.resolve(repoRoot, f)));
  const outfile = path.join(OPSCTL_DIST, "opsctl.mjs");
  // inputs first: the launcher compares the bundle's mtime with them, so a new bundle is never older
  const inputsTmp = `${tmp}.inputs.json`;
  writeFileSync(inputsTmp, JSON.stringify(inputs));
  renameSync(inputsTmp, path.join(OPSCTL_DIST, "inputs.json"));
  renameSync(tmp, outfile);
  return { outfile, inputs };
}

if (isMainModule(import.meta.url)) {
  const { outfile, inputs } = await buildOpsctl();
  console.log(`${path.relative(repoRoot, outfile)} (${inputs.length} source files)`);
}
