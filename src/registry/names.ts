import { z } from "zod";

// Loop ids become path segments inside the Sprite (.superloop/loops/<id>/): only plain names, never "..".
export const LOOP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const SPRITE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const loopIdSchema = z
  .string()
  .regex(LOOP_ID, "loop id must be a plain name (letters, digits, . _ -), not a path")
  .refine((s) => s !== "." && s !== "..", "loop id must be a plain name, not a path");
export const spriteNameSchema = z.string().regex(SPRITE_NAME, "sprite name must be lowercase letters, digits and dashes (max 63)");
export const repoPathSchema = z.string().min(1).max(4096).refine((p) => p.startsWith("/"), "repo path must be absolute");
