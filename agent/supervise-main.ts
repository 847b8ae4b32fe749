import { superviseMain } from "./supervise";

// Entry point of the one-file supervisor that the SPRITES_API transport writes into a Sprite (nothing of ours
// is installed there): `node superloop-ops-supervise.mjs --repo R --loop L -- superloop.sh run ...`.
superviseMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`supervise: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
