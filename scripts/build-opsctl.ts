import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { isMainModule } from "../agent/main-module";

// Bundles opsctl's own TypeScript (cli/ + the few modules it imports) into dist/opsctl/opsctl.mjs so that
// each invocation starts without the tsx loader (about half the start-up time). npm packages stay external.
// bin/opsctl.mjs uses the bundle only while every source file listed in inputs.json still has the content it was
// built from (sha256; mtimes do not survive npm pack/install), and runs the TypeScript through tsx otherwise: a
// stale bundle is never run. `npm pack` builds it (prepack).

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const OPSCTL_DIST = path.join(repoRoot, "dist", "opsctl");

export async function buildOpsctl(): Promise<{ outfile: string; inputs: string[] }> {
  mkdirSync(OPSCTL_DIST, { recursive: true });
  // written beside, then renamed: a concurrently starting opsctl sees the old or the new file, never half
  const tmp = path.join(OPSCTL_DIST, `opsctl.${process.pid}.${Date.now()}.mjs`);
  const result = await build({
    entryPoints: [path.join(repoRoot, "cli", "opsctl.ts")],
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
  const hashes = Object.fromEntries(
    inputs.map((f) => [
      f,
      createHash("sha256")
        .update(readFileSync(path.join(repoRoot, f)))
        .digest("hex"),
    ]),
  );
  const outfile = path.join(OPSCTL_DIST, "opsctl.mjs");
  // the bundle first, then the list that vouches for it: a launcher in between sees old hashes, finds them
  // wrong for the new sources and falls back to tsx (never a bundle with hashes it was not built from)
  renameSync(tmp, outfile);
  const inputsTmp = `${tmp}.inputs.json`;
  writeFileSync(inputsTmp, JSON.stringify(hashes));
  renameSync(inputsTmp, path.join(OPSCTL_DIST, "inputs.json"));
  return { outfile, inputs };
}

if (isMainModule(import.meta.url)) {
  const { outfile, inputs } = await buildOpsctl();
  console.log(`${path.relative(repoRoot, outfile)} (${inputs.length} source files)`);
}
