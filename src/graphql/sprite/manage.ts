import { ZodError } from "zod";
import { PolicyViolationError } from "../../registry/errors";
import { loadFleetFile, type FleetReport } from "../../registry/fleet-file";
import { removeRun, removeSprite, updateSprite, type RemoveResult } from "../../registry/register";
import { ENV_VAR_NAME } from "../../transports/config";
import { SPRITE_NAME } from "../../registry/names";
import { builder } from "../builder";
import { hasRole } from "../../auth/principal";
import { InvalidInputError, NotFoundError, UnauthorizedError } from "../../errors";
import { localId } from "../ids";
import { ControlModeEnum, TransportKindEnum } from "../enums";
import { RunRef } from "../run/run";
import { SpriteRef } from "./sprite";
import { HealthOverridesInput, HealthProfileNameEnum, stripNulls } from "./register";

// updateSprite / removeSprite / removeRun / reloadFleetFile (admin). In updateSprite an omitted field is left
// as it is and an explicit null clears it back to its default.

const ENV_NAME_MESSAGE = "must be an environment variable NAME (letters, digits, _), never the token itself";

const UpdateSpriteInput = builder.inputType("UpdateSpriteInput", {
  fields: (t) => ({
    transport: t.field({ type: TransportKindEnum, required: false }),
    agentUrl: t.string({ required: false, validate: { url: true, maxLength: 2048 } }),
    agentTokenEnv: t.string({ required: false, validate: { regex: [ENV_VAR_NAME, { message: ENV_NAME_MESSAGE }] } }),
    spritesApiName: t.string({ required: false, validate: { regex: [SPRITE_NAME, { message: "must be lowercase letters, digits and dashes" }] } }),
    spritesApiTokenEnv: t.string({ required: false, validate: { regex: [ENV_VAR_NAME, { message: ENV_NAME_MESSAGE }] } }),
    pollIntervalMs: t.int({ required: false, validate: { min: 100, max: 3_600_000 } }),
    healthProfile: t.field({ type: HealthProfileNameEnum, required: false, description: "null = default (follow OPS_HEALTH_PROFILE)" }),
    healthOverrides: t.field({ type: HealthOverridesInput, required: false, description: "Replaces the overrides; null clears them" }),
    maxConcurrentRuns: t.int({ required: false, validate: { min: 1, max: 64 } }),
    controlMode: t.field({ type: ControlModeEnum, required: false }),
    connectTimeoutMs: t.int({ required: false, validate: { min: 50, max: 60_000 } }),
    requestTimeoutMs: t.int({ required: false, validate: { min: 100, max: 600_000 } }),
    retryAttempts: t.int({ required: false, validate: { min: 1, max: 10 } }),
  }),
});

const RemoveSpritePayload = builder.objectRef<RemoveResult>("RemoveSpritePayload").implement({
  fields: (t) => ({
    name: t.exposeString("name"),
    purged: t.exposeBoolean("purged", { description: "true: every row of the Sprite and its runs was deleted" }),
    removedRuns: t.exposeInt("removedRuns", { description: "Runs that were being observed and no longer are" }),
  }),
});

const FleetIssueRef = builder.simpleObject("FleetFileIssue", {
  fields: (t) => ({ path: t.string({ description: "JSON path in the fleet file, e.g. sprites[2].agentUrl" }), message: t.string() }),
});

export const FleetReportRef = builder.objectRef<FleetReport>("FleetFileReport").implement({
  description: "What loading OPS_FLEET_FILE did",
  fields: (t) => ({
    file: t.exposeString("file"),
    ok: t.exposeBoolean("ok", { description: "false: the file was invalid and nothing was changed (see errors)" }),
    created: t.exposeStringList("created"),
    updated: t.exposeStringList("updated"),
    unchanged: t.exposeStringList("unchanged"),
    removed: t.exposeStringList("removed", { description: "Sprites or runs (sprite/loop) removed because the file says prune: true" }),
    notInFile: t.exposeStringList("notInFile", { description: "Registered Sprites or runs (sprite/loop) the file does not mention (kept: prune is false)" }),
    errors: t.field({ type: [FleetIssueRef], resolve: (r) => r.errors }),
  }),
});

builder.mutationFields((t) => ({
  updateSprite: t.field({
    type: SpriteRef,
    description: "Change a Sprite's transport settings, poll interval, health profile and overrides, or run policy (admin)",
    errors: { types: [ZodError, UnauthorizedError, NotFoundError, InvalidInputError, PolicyViolationError] },
    args: { name: t.arg.string({ required: true }), input: t.arg({ type: UpdateSpriteInput, required: true }) },
    resolve: async (_root, { name, input }, ctx) => {
      if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
      const has = (k: keyof typeof input) => Object.prototype.hasOwnProperty.call(input, k);
      return updateSprite(ctx.app, name, {
        ...(input.transport ? { transport: input.transport } : {}),
        ...(has("agentUrl") ? { agentUrl: input.agentUrl ?? null } : {}),
        ...(has("agentTokenEnv") ? { agentTokenEnv: input.agentTokenEnv ?? null } : {}),
        ...(has("spritesApiName") ? { spritesApiName: input.spritesApiName ?? null } : {}),
        ...(has("spritesApiTokenEnv") ? { spritesApiTokenEnv: input.spritesApiTokenEnv ?? null } : {}),
        ...(has("pollIntervalMs") ? { pollIntervalMs: input.pollIntervalMs ?? null } : {}),
        ...(has("healthProfile") ? { healthProfile: input.healthProfile ?? null } : {}),
        ...(has("healthOverrides") ? { healthOverrides: input.healthOverrides ? stripNulls(input.healthOverrides) : null } : {}),
        ...(has("maxConcurrentRuns") ? { maxConcurrentRuns: input.maxConcurrentRuns ?? null } : {}),
        ...(input.controlMode ? { controlMode: input.controlMode } : {}),
        ...(has("connectTimeoutMs") ? { connectTimeoutMs: input.connectTimeoutMs ?? null } : {}),
        ...(has("requestTimeoutMs") ? { requestTimeoutMs: input.requestTimeoutMs ?? null } : {}),
        ...(has("retryAttempts") ? { retryAttempts: input.retryAttempts ?? null } : {}),
      });
    },
  }),
  removeSprite: t.field({
    type: RemoveSpritePayload,
    description: "Stop observing a Sprite's runs (admin). History is kept unless purge: true, which deletes every row.",
    errors: { types: [UnauthorizedError, NotFoundError] },
    args: { name: t.arg.string({ required: true }), purge: t.arg.boolean({ required: false, defaultValue: false }) },
    resolve: async (_root, { name, purge }, ctx) => {
      if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
      return removeSprite(ctx.app, name, purge ?? false);
    },
  }),
  removeRun: t.field({
    type: RunRef,
    description: "Stop observing one run (admin); its history is kept",
    errors: { types: [UnauthorizedError, NotFoundError] },
    args: { runId: t.arg.id({ required: true }) },
    resolve: async (_root, { runId }, ctx) => {
      if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
      return removeRun(ctx.app, localId(String(runId), "Run") ?? String(runId));
    },
  }),
  reloadFleetFile: t.field({
    type: FleetReportRef,
    description: "Load OPS_FLEET_FILE now, as SIGHUP does (admin)",
    errors: { types: [UnauthorizedError, InvalidInputError] },
    resolve: async (_root, _args, ctx) => {
      if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
      const file = ctx.app.config.OPS_FLEET_FILE;
      if (!file) throw new InvalidInputError("OPS_FLEET_FILE", "OPS_FLEET_FILE is not set");
      return loadFleetFile(ctx.app, file);
    },
  }),
}));
