import path from "node:path";

/**
 * The runtime simulator CLI (sim/, run by its launcher bin/superloop-sim.mjs). Only demo Sprites (Sprite.demo) run it for their control
 * intents; every other Sprite runs SUPERLOOP_BIN, so the simulator never writes into an operator's real repo.
 */
export const DEMO_SUPERLOOP_BIN = path.resolve(import.meta.dirname, "../bin/superloop-sim.mjs");
