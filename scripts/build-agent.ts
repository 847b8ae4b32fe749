import { statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import { isMainModule } from "../agent/main-module";

// Bundles the sprite agent (agent/cli.ts + src/contract + zod) into one ESM file that runs with plain
// `node` inside a Sprite: no node_modules to install there.

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * zod re-exports every message locale (`z.locales.*`), about 40% of the bundle; the agent only ever uses the
 * English one, which zod loads from its own module. Keep just that.
 */
const englishOnlyZodLocales: Plugin = {
  name: "zod-english-only",
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: 'export { default as en } from "./en.js";\n',
      loader: "js",
      resolveDir: path.dirname(args.path),
    }));
  },
};

export interface BuildAgentResult {
  outfile: string;
  bytes: number;
}

export async function buildAgent(opts: { outfile?: string; minify?: boolean } = {}): Promise<BuildAgentResult> {
  const outfile = opts.outfile ?? path.join(repoRoot, "dist", "superloop-ops-agent.mjs");
  await build({
    entryPoints: [path.join(repoRoot, "agent", "cli.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
    minify: opts.minify ?? false,
    legalComments: "none",
    logLevel: "warning",
    plugins: [englishOnlyZodLocales],
  });
  return { outfile, bytes: statSync(outfile).size };
}

if (isMainModule(import.meta.url)) {
  buildAgent({ minify: process.argv.includes("--minify") }).then(
    ({ outfile, bytes }) => {
      process.stdout.write(`${JSON.stringify({ ok: true, outfile: path.relative(process.cwd(), outfile), bytes })}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`build failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
