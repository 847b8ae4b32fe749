import { createHash } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The supervisor (agent/supervise.ts) as one self-contained ESM file, for a Sprite where nothing of ours is
// installed: the SPRITES_API transport writes it with the fs API and runs it with the Sprite's `node`.
// Why a file and not a Sprites Service: a service is restarted whenever it exits and started afresh on every
// cold boot (it would re-run a finished loop, or start one after the Sprite slept under it), and services do not
// keep a quiet Sprite awake; a file run through exec under setsid lives exactly as long as the loop, and the
// Task it holds is what keeps the Sprite running.

const entry = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../agent/supervise-main.ts");
let built: Promise<{ text: string; sha256: string }> | null = null;

/** Bundled once per process with esbuild (builtins only: a few KB). */
export function supervisorScript(): Promise<{ text: string; sha256: string }> {
  built ??= (async () => {
    const { build } = await import("esbuild");
    const out = await build({ entryPoints: [entry], bundle: true, platform: "node", format: "esm", target: "node20", write: false, logLevel: "warning", legalComments: "none" });
    const text = `#!/usr/bin/env node\n${out.outputFiles[0].text}`;
    return { text, sha256: createHash("sha256").update(text).digest("hex") };
  })().catch((e: unknown) => {
    built = null;
    throw e;
  });
  return built;
}

/** Where the script lives in the Sprite: the agent's directory of the repo. */
export function supervisorScriptPath(repoPath: string): string {
  return path.join(repoPath, ".superloop", "ops-agent", "superloop-ops-supervise.mjs");
}
