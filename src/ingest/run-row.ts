import type { ControlIntent, Run, Sprite } from "../generated/prisma/client";

/** A run as one poll reads it: with its Sprite and its newest intents (newest first). */
export type RunWithIntents = Run & { sprite: Sprite; intents: ControlIntent[] };
