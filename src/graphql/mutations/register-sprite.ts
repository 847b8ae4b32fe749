import { ZodError } from "zod";
import type { Run, Sprite } from "../../generated/prisma/client";
import { registerSprite } from "../../registry/register";
import { LOOP_ID, SPRITE_NAME } from "../../registry/names";
import { builder } from "../builder";
import { hasRole } from "../context";
import { DuplicateNameError, InvalidInputError, UnauthorizedError } from "../errors";
import { TransportKindEnum } from "../types/enums";
import { RunRef } from "../types/run";
import { SpriteRef } from "../types/sprite";

const RegisterSpriteInput = builder.inputType("RegisterSpriteInput", {
  fields: (t) => ({
    name: t.string({ required: true, validate: { regex: [SPRITE_NAME, { message: "sprite name must be lowercase letters, digits and dashes (max 63)" }] } }),
    transport: t.field({ type: TransportKindEnum, required: true }),
    repoPath: t.string({
      required: true,
      validate: { maxLength: 4096, refine: [(p: string) => p.startsWith("/"), { message: "repo path must be absolute" }] },
    }),
    loopId: t.string({
      required: true,
      validate: {
        regex: [LOOP_ID, { message: "loop id must be a plain name (letters, digits, . _ -), not a path" }],
        refine: [(s: string) => s !== "." && s !== "..", { message: "loop id must be a plain name, not a path" }],
      },
    }),
    pollIntervalMs: t.int({ required: false, validate: { min: 100, max: 3_600_000 } }),
  }),
});

const RegisterSpritePayload = builder.objectRef<{ sprite: Sprite; run: Run }>("RegisterSpritePayload").implement({
  fields: (t) => ({
    sprite: t.field({ type: SpriteRef, resolve: (p) => p.sprite }),
    run: t.field({ type: RunRef, resolve: (p) => p.run }),
  }),
});

builder.mutationFields((t) => ({
  registerSprite: t.field({
    type: RegisterSpritePayload,
    description: "Register a Sprite and the loop run it hosts (admin)",
    errors: { types: [ZodError, UnauthorizedError, DuplicateNameError, InvalidInputError] },
    args: { input: t.arg({ type: RegisterSpriteInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
      return registerSprite(ctx.app, input, ctx.principal?.name ?? "anonymous");
    },
  }),
}));
