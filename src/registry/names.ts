import { z } from "zod";
import { LOOP_ID_PATTERN } from "../contract";

// One definition of each name rule, shared by the GraphQL inputs and the fleet file. Loop ids become path
// segments inside the Sprite (.superloop/loops/<id>/): the agent's own pattern, and never "." or "..".
export const SPRITE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const loopIdSchema = z
  .string()
  .regex(LOOP_ID_PATTERN, "loop id must be a plain name (letters, digits, . _ -), not a path")
  .refine((s) => s !== "." && s !== "..", "loop id must be a plain name, not a path");
export const spriteNameSchema = z.string().regex(SPRITE_NAME, "sprite name must be lowercase letters, digits and dashes (max 63)");
export const repoPathSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => p.startsWith("/"), "repo path must be absolute");
