import { ZodError } from "zod";
import type { Run, Sprite } from "../../generated/prisma/client";
import { PolicyViolationError } from "../../registry/errors";
import { addRun, HEALTH_PROFILE_NAMES, registerSprite } from "../../registry/register";
import { loopIdSchema, repoPathSchema, SPRITE_NAME } from "../../registry/names";
import { ENV_VAR_NAME } from "../../transports/config";
import { builder } from "../builder";
import { hasRole } from "../../auth/principal";
import { ErrorInterface } from "../errors";
import { DuplicateNameError, InvalidInputError, NotFoundError, UnauthorizedError } from "../../errors";
import { ControlModeEnum, TransportKindEnum } from "../enums";
import { RunRef } from "../run/run";
import { SpriteRef } from "./sprite";

// Registry inputs. Validation here is field by field (zod, errors as ValidationError with paths); rules that
// span fields (agentUrl needed for SPRITE_SERVICE, overrides vs profile) live in src/registry and come back
// as InvalidInput naming the field.

const ENV_NAME_MESSAGE = "must be an environment variable NAME (letters, digits, _), never the token itself";

export const HealthOverridesInput = builder.inputType("HealthOverridesInput", {
  description: "Per-sprite health thresholds on top of its profile (see docs/lifecycle.md)",
  fields: (t) => ({
    ingestLagWarningSec: t.float({ required: false, validate: { positive: true } }),
    ingestLagCriticalSec: t.float({ required: false, validate: { positive: true } }),
    transportFailureWarning: t.int({ required: false, validate: { min: 1 } }),
    transportFailureCritical: t.int({ required: false, validate: { min: 1 } }),
  }),
});

export const HealthProfileNameEnum = builder.enumType("HealthProfileName", {
  description: "default = follow OPS_HEALTH_PROFILE",
  values: HEALTH_PROFILE_NAMES,
});

const RegisterSpriteInput = builder.inputType("RegisterSpriteInput", {
  fields: (t) => ({
    name: t.string({ required: true, validate: { regex: [SPRITE_NAME, { message: "sprite name must be lowercase letters, digits and dashes (max 63)" }] } }),
    transport: t.field({ type: TransportKindEnum, required: true }),
    repoPath: t.string({ required: true, validate: { schema: repoPathSchema } }),
    loopId: t.string({ required: true, validate: { schema: loopIdSchema } }),
    agentUrl: t.string({ required: false, description: "SPRITE_SERVICE: the agent's base URL", validate: { url: true, maxLength: 2048 } }),
    agentTokenEnv: t.string({ required: false, description: "SPRITE_SERVICE: NAME of the env var holding the agent token", validate: { regex: [ENV_VAR_NAME, { message: ENV_NAME_MESSAGE }] } }),
    spritesApiName: t.string({
      required: false,
      description: "SPRITES_API: the Sprite's name in the API (default: name)",
      validate: { regex: [SPRITE_NAME, { message: "must be lowercase letters, digits and dashes" }] },
    }),
    spritesApiTokenEnv: t.string({
      required: false,
      description: "SPRITES_API: NAME of the env var holding the API token (default SPRITES_TOKEN)",
      validate: { regex: [ENV_VAR_NAME, { message: ENV_NAME_MESSAGE }] },
    }),
    pollIntervalMs: t.int({ required: false, validate: { min: 100, max: 3_600_000 } }),
    healthProfile: t.field({ type: HealthProfileNameEnum, required: false }),
    healthOverrides: t.field({ type: HealthOverridesInput, required: false }),
    maxConcurrentRuns: t.int({ required: false, description: "Loop runs allowed side by side on this Sprite (default 1)", validate: { min: 1, max: 64 } }),
    controlMode: t.field({ type: ControlModeEnum, required: false }),
    connectTimeoutMs: t.int({ required: false, description: "Remote transports: connect timeout (default 3000/5000)", validate: { min: 50, max: 60_000 } }),
    requestTimeoutMs: t.int({ required: false, description: "Remote transports: total time per request (default 15000/30000)", validate: { min: 100, max: 600_000 } }),
    retryAttempts: t.int({ required: false, description: "Remote transports: attempts per request on connection errors, 408/425/429/5xx (default 3)", validate: { min: 1, max: 10 } }),
  }),
});

export const RegisterSpritePayload = builder.objectRef<{ sprite: Sprite; run: Run; warnings?: string[] }>("RegisterSpritePayload").implement({
  fields: (t) => ({
    sprite: t.field({ type: SpriteRef, resolve: (p) => p.sprite }),
    run: t.field({ type: RunRef, resolve: (p) => p.run }),
    warnings: t.stringList({
      description: "Accepted, but probably not what was meant: e.g. a LOCAL loop id with no .superloop/loops/<loopId> (the loops that exist are named)",
      resolve: (p) => p.warnings ?? [],
    }),
  }),
});

builder.objectType(PolicyViolationError, {
  name: "PolicyViolation",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof PolicyViolationError,
  fields: (t) => ({ policy: t.exposeString("policy", { description: "e.g. one_run_per_sprite" }) }),
});

const AddRunInput = builder.inputType("AddRunInput", {
  fields: (t) => ({
    sprite: t.string({ required: true, description: "Name of a registered Sprite" }),
    repoPath: t.string({ required: true, validate: { schema: repoPathSchema } }),
    loopId: t.string({ required: true, validate: { schema: loopIdSchema } }),
  }),
});

const optional = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);

builder.mutationFields((t) => ({
  registerSprite: t.field({
    type: RegisterSpritePayload,
    description: "Register a Sprite and the loop run it hosts (admin). A second loop on an existing Sprite: addRun.",
    errors: { types: [ZodError, UnauthorizedError, DuplicateNameError, InvalidInputError] },
    args: { input: t.arg({ type: RegisterSpriteInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
      return registerSprite(
        ctx.app,
        {
          name: input.name,
          transport: input.transport,
          repoPath: input.repoPath,
          loopId: input.loopId,
          agentUrl: optional(input.agentUrl),
          agentTokenEnv: optional(input.agentTokenEnv),
          spritesApiName: optional(input.spritesApiName),
          spritesApiTokenEnv: optional(input.spritesApiTokenEnv),
          pollIntervalMs: optional(input.pollIntervalMs),
          healthProfile: optional(input.healthProfile),
          healthOverrides: optional(input.healthOverrides) ? stripNulls(input.healthOverrides!) : undefined,
          maxConcurrentRuns: optional(input.maxConcurrentRuns),
          controlMode: optional(input.controlMode),
          connectTimeoutMs: optional(input.connectTimeoutMs),
          requestTimeoutMs: optional(input.requestTimeoutMs),
          retryAttempts: optional(input.retryAttempts),
        },
        ctx.principal?.name ?? "anonymous",
      );
    },
  }),
  addRun: t.field({
    type: RegisterSpritePayload,
    description: "Observe another loop run on a registered Sprite (admin). One run per Sprite is the default policy: beyond the Sprite's maxConcurrentRuns this is a PolicyViolation.",
    errors: { types: [ZodError, UnauthorizedError, NotFoundError, DuplicateNameError, InvalidInputError, PolicyViolationError] },
    args: { input: t.arg({ type: AddRunInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
      return addRun(ctx.app, input, ctx.principal?.name ?? "anonymous");
    },
  }),
}));

export function stripNulls<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], null> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== null && v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], null> };
}
