import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { App } from "../app";
import type { ControlMode, Run, Sprite, TransportKind } from "../generated/prisma/client";
import { Prisma } from "../generated/prisma/client";
import { DuplicateNameError, InvalidInputError, NotFoundError } from "../errors";
import { isHealthProfile } from "../lifecycle/thresholds";
import { transportConfigProblem, transportPolicy, type TransportPolicy } from "../security/transport-policy";
import { runChanged } from "../runs/changed";
import { insertTransition } from "../runs/writer";
import { PolicyViolationError } from "./errors";
import { parseTransportConfig, validateThresholds, type HealthOverrides, type TransportConfig } from "../transports/config";

// The registry: Sprites and the loop runs they host. Tokens are referenced by environment-variable name only.
// Policy: one active loop run per Sprite unless the Sprite's maxConcurrentRuns says otherwise; a second loop
// on an existing Sprite is added with addRun (registerSprite never silently attaches to an existing Sprite).

export const DEFAULT_SPRITES_TOKEN_ENV = "SPRITES_TOKEN";
export const HEALTH_PROFILE_NAMES = ["default", "strict", "balanced", "relaxed"] as const;

/** Settings shared by register and update. `undefined` = leave as is; `null` = clear (back to the default). */
export interface SpriteSettings {
  agentUrl?: string | null;
  agentTokenEnv?: string | null;
  spritesApiName?: string | null;
  spritesApiTokenEnv?: string | null;
  pollIntervalMs?: number | null;
  healthProfile?: string | null;
  healthOverrides?: HealthOverrides | null;
  maxConcurrentRuns?: number | null;
  controlMode?: ControlMode | null;
  connectTimeoutMs?: number | null;
  requestTimeoutMs?: number | null;
  retryAttempts?: number | null;
}

export interface RegisterSpriteInput extends SpriteSettings {
  name: string;
  transport: TransportKind;
  repoPath: string;
  loopId: string;
  /** Pre-built config (older callers); merged under the explicit settings. */
  transportConfig?: Record<string, string>;
  /** Only the demo driver sets this: a demo Sprite's control intents run the simulator (not exposed as input). */
  demo?: boolean;
}

export interface AddRunInput {
  sprite: string;
  repoPath: string;
  loopId: string;
}

function isUniqueViolation(e: unknown): boolean {
  return e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002";
}

/** Merges settings into a stored config and checks it makes sense for the transport; throws InvalidInputError. */
export function buildTransportConfig(transport: TransportKind, name: string, current: unknown, s: SpriteSettings, profile: string, policy?: TransportPolicy): TransportConfig {
  const base = parseTransportConfig(current);
  const config: TransportConfig = base.ok ? { ...base.config } : {};
  const set = <K extends keyof TransportConfig>(key: K, value: TransportConfig[K] | null | undefined) => {
    if (value === undefined) return;
    if (value === null) Reflect.deleteProperty(config, key);
    else config[key] = value;
  };
  set("agentUrl", s.agentUrl);
  set("agentTokenEnv", s.agentTokenEnv);
  set("spritesApiName", s.spritesApiName);
  set("spritesApiTokenEnv", s.spritesApiTokenEnv);
  set("healthOverrides", s.healthOverrides);
  set("connectTimeoutMs", s.connectTimeoutMs);
  set("requestTimeoutMs", s.requestTimeoutMs);
  set("retryAttempts", s.retryAttempts);

  const parsed = parseTransportConfig(config);
  if (!parsed.ok) throw new InvalidInputError("transportConfig", parsed.message);
  const c = parsed.config;
  if (transport === "SPRITE_SERVICE") {
    if (!c.agentUrl) throw new InvalidInputError("agentUrl", `sprite ${name}: the SPRITE_SERVICE transport needs agentUrl (the agent's http(s) URL)`);
  } else if (c.agentUrl || c.agentTokenEnv) {
    throw new InvalidInputError(c.agentUrl ? "agentUrl" : "agentTokenEnv", `sprite ${name}: agentUrl/agentTokenEnv only apply to SPRITE_SERVICE`);
  }
  if (transport === "SPRITES_API") {
    c.spritesApiTokenEnv ??= DEFAULT_SPRITES_TOKEN_ENV;
  } else if (c.spritesApiName || c.spritesApiTokenEnv) {
    throw new InvalidInputError(c.spritesApiName ? "spritesApiName" : "spritesApiTokenEnv", `sprite ${name}: spritesApiName/spritesApiTokenEnv only apply to SPRITES_API`);
  }
  const refused = policy ? transportConfigProblem(c, policy) : null;
  if (refused) throw new InvalidInputError(refused[0], `sprite ${name}: ${refused[1]}`);
  const problem = validateThresholds(isHealthProfile(profile) ? profile : "balanced", c.healthOverrides);
  if (problem) throw new InvalidInputError("healthOverrides", problem);
  return c;
}

function checkProfile(profile: string | null | undefined): void {
  if (profile !== undefined && profile !== null && !(HEALTH_PROFILE_NAMES as readonly string[]).includes(profile)) {
    throw new InvalidInputError("healthProfile", `healthProfile must be one of ${HEALTH_PROFILE_NAMES.join(", ")}`);
  }
}

async function checkRepo(transport: TransportKind, repoPath: string): Promise<void> {
  // Only a LOCAL repo can be checked here; a remote one missing shows up as the run's state at poll time.
  if (transport !== "LOCAL") return;
  const s = await stat(repoPath).catch(() => null);
  if (!s?.isDirectory()) throw new InvalidInputError("repoPath", `repo path ${repoPath} is not a directory on this machine`);
}

/**
 * What registration can check about a LOCAL loop id: a loop that has run has .superloop/loops/<loopId>, one that
 * is declared but never ran is in .superloop/config.json. Neither: accepted (it may be created later), with a
 * warning naming the loops that do exist; the run's health says loop_not_found until the directory appears.
 */
export async function checkLoop(transport: TransportKind, repoPath: string, loopId: string): Promise<string | null> {
  if (transport !== "LOCAL") return null;
  const root = path.join(repoPath, ".superloop");
  const dirs = (await readdir(path.join(root, "loops"), { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory()).map((d) => d.name);
  let declared: string[] = [];
  try {
    const config = JSON.parse(await readFile(path.join(root, "config.json"), "utf8")) as { loops?: { id?: unknown }[] };
    declared = (config.loops ?? []).map((l) => l.id).filter((id): id is string => typeof id === "string");
  } catch {
    /* no readable config: only the directories count */
  }
  if (dirs.includes(loopId) || declared.includes(loopId)) return null;
  const known = [...new Set([...dirs, ...declared])].sort();
  return `loop "${loopId}" not found in ${root}/loops or config.json (${known.length ? `existing loops: ${known.join(", ")}` : "no loops there yet"}); registered anyway, its health says loop_not_found until the loop appears`;
}

/** A new run's first transition, written with the run (seq 1) through the run writer's one INSERT. */
const FIRST = { from: null, to: "IDLE", reason: "not_started", trigger: "register", evidence: {} } as const;
function recordFirst(tx: Prisma.TransactionClient, runId: string, actor: string): Promise<unknown> {
  return insertTransition((sql, values) => tx.$executeRawUnsafe(sql, ...values), runId, 1, { ...FIRST, actor });
}

/** A run registered (its first transition, or a revived run seen again) or removed, announced like any change. */
function publishRun(app: App, run: Run, sprite: Sprite, registered: boolean): void {
  const t = registered ? { from: null, to: run.state, reason: run.stateReason, trigger: FIRST.trigger } : null;
  app.bus.publish("run", run.id, runChanged({ ...run, spriteId: sprite.id }, t));
}

/** Creates a Sprite and its first Run (IDLE/not_started until the poller sees otherwise); revives a removed one. */
export async function registerSprite(app: App, input: RegisterSpriteInput, actor: string): Promise<{ sprite: Sprite; run: Run; warnings: string[] }> {
  checkProfile(input.healthProfile);
  await checkRepo(input.transport, input.repoPath);
  const loopWarning = await checkLoop(input.transport, input.repoPath, input.loopId);
  const existing = await app.db.sprite.findUnique({ where: { name: input.name } });
  if (existing && !existing.removedAt) throw new DuplicateNameError("name", input.name);
  const profile = input.healthProfile ?? existing?.healthProfile ?? "default";
  const config = buildTransportConfig(input.transport, input.name, { ...(input.transportConfig ?? {}) }, input, profile, transportPolicy(app.config));
  const data = {
    transport: input.transport,
    transportConfig: config,
    pollIntervalMs: input.pollIntervalMs ?? null,
    healthProfile: profile,
    maxConcurrentRuns: input.maxConcurrentRuns ?? 1,
    // Re-registering a demo name by hand makes it a real Sprite: the simulator must not act on it any more.
    demo: input.demo ?? false,
    ...(input.controlMode ? { controlMode: input.controlMode } : {}),
  };
  let created: { sprite: Sprite; run: Run };
  try {
    created = await app.db.$transaction(async (tx) => {
      const sprite = existing
        ? await tx.sprite.update({ where: { id: existing.id }, data: { ...data, removedAt: null, status: "UNKNOWN" } })
        : await tx.sprite.create({ data: { name: input.name, ...data } });
      // A revived Sprite keeps its history; of its old runs only the loop named now is observed again.
      const old = existing ? await tx.run.findUnique({ where: { spriteId_loopId: { spriteId: sprite.id, loopId: input.loopId } } }) : null;
      const run = old
        ? await tx.run.update({ where: { id: old.id }, data: { removedAt: null, repoPath: input.repoPath } })
        : await tx.run.create({ data: { spriteId: sprite.id, loopId: input.loopId, repoPath: input.repoPath, state: "IDLE", stateReason: "not_started", seq: 1 } });
      if (!old) {
        await recordFirst(tx, run.id, actor);
      }
      return { sprite, run };
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw new DuplicateNameError("name", input.name);
    throw e;
  }
  publishRun(app, created.run, created.sprite, true);
  await app.runRegistered(created.run.id);
  if (loopWarning) app.log.warn("registered a loop that does not exist (yet)", { sprite: input.name, warning: loopWarning });
  return { ...created, warnings: loopWarning ? [loopWarning] : [] };
}

/** Adds a loop run to an existing Sprite, within its maxConcurrentRuns (default 1: a PolicyViolation). */
export async function addRun(app: App, input: AddRunInput, actor: string): Promise<{ sprite: Sprite; run: Run; warnings: string[] }> {
  const sprite = await app.db.sprite.findUnique({ where: { name: input.sprite } });
  if (!sprite || sprite.removedAt) throw new NotFoundError("Sprite", input.sprite);
  await checkRepo(sprite.transport, input.repoPath);
  const loopWarning = await checkLoop(sprite.transport, input.repoPath, input.loopId);
  let created: Run;
  try {
    created = await app.db.$transaction(async (tx) => {
      // Serialize policy checks per Sprite: two concurrent addRun calls must not both pass the count.
      await tx.$queryRaw`SELECT id FROM "Sprite" WHERE id = ${sprite.id} FOR UPDATE`;
      const active = await tx.run.findMany({ where: { spriteId: sprite.id, removedAt: null }, select: { loopId: true } });
      if (active.some((r) => r.loopId === input.loopId)) throw new DuplicateNameError("loopId", input.loopId);
      if (active.length >= sprite.maxConcurrentRuns) {
        throw new PolicyViolationError(
          "one_run_per_sprite",
          `sprite ${sprite.name} already has ${active.length} active loop run(s) (${active.map((r) => r.loopId).join(", ")}); its maxConcurrentRuns is ${sprite.maxConcurrentRuns}. Raise it with updateSprite to run loops side by side.`,
        );
      }
      const old = await tx.run.findUnique({ where: { spriteId_loopId: { spriteId: sprite.id, loopId: input.loopId } } });
      if (old) return tx.run.update({ where: { id: old.id }, data: { removedAt: null, repoPath: input.repoPath } });
      const run = await tx.run.create({ data: { spriteId: sprite.id, loopId: input.loopId, repoPath: input.repoPath, state: "IDLE", stateReason: "not_started", seq: 1 } });
      await recordFirst(tx, run.id, actor);
      return run;
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw new DuplicateNameError("loopId", input.loopId);
    throw e;
  }
  publishRun(app, created, sprite, true);
  await app.runRegistered(created.id);
  return { sprite, run: created, warnings: loopWarning ? [loopWarning] : [] };
}

export interface UpdateSpriteInput extends SpriteSettings {
  transport?: TransportKind | null;
}

/** Changes a Sprite's settings; its runs are re-observed with the new transport/thresholds at once. */
export async function updateSprite(app: App, name: string, input: UpdateSpriteInput): Promise<Sprite> {
  checkProfile(input.healthProfile);
  const sprite = await app.db.sprite.findUnique({ where: { name }, include: { runs: { where: { removedAt: null }, select: { id: true } } } });
  if (!sprite || sprite.removedAt) throw new NotFoundError("Sprite", name);
  const transport = input.transport ?? sprite.transport;
  const profile = input.healthProfile === null ? "default" : (input.healthProfile ?? sprite.healthProfile);
  const config = buildTransportConfig(transport, name, sprite.transportConfig, input, profile, transportPolicy(app.config));
  const maxConcurrentRuns = input.maxConcurrentRuns === null ? 1 : (input.maxConcurrentRuns ?? sprite.maxConcurrentRuns);
  if (maxConcurrentRuns < sprite.runs.length) {
    throw new PolicyViolationError("one_run_per_sprite", `sprite ${name} has ${sprite.runs.length} active runs: maxConcurrentRuns cannot go below that (remove runs first)`);
  }
  const updated = await app.db.sprite.update({
    where: { id: sprite.id },
    data: {
      transport,
      transportConfig: config,
      healthProfile: profile,
      maxConcurrentRuns,
      ...(input.pollIntervalMs !== undefined ? { pollIntervalMs: input.pollIntervalMs } : {}),
      ...(input.controlMode ? { controlMode: input.controlMode } : {}),
      ...(transport !== sprite.transport ? { status: "UNKNOWN" as const } : {}),
    },
  });
  // Re-add rather than patch: a new transport needs a new watch, and fresh failure counters.
  for (const run of sprite.runs) {
    app.ingestor.remove(run.id);
    await app.ingestor.add(run.id);
  }
  return updated;
}

export interface RemoveResult {
  name: string;
  purged: boolean;
  removedRuns: number;
}

/** Stops observing a Sprite's runs. Keeps the history (removedAt) unless `purge`, which deletes every row. */
export async function removeSprite(app: App, name: string, purge: boolean): Promise<RemoveResult> {
  const sprite = await app.db.sprite.findUnique({ where: { name }, include: { runs: true } });
  if (!sprite || (sprite.removedAt && !purge)) throw new NotFoundError("Sprite", name);
  const active = sprite.runs.filter((r) => !r.removedAt);
  for (const run of sprite.runs) app.ingestor.remove(run.id);
  if (purge) {
    await app.db.sprite.delete({ where: { id: sprite.id } });
  } else {
    const now = new Date();
    await app.db.$transaction([
      app.db.run.updateMany({ where: { spriteId: sprite.id, removedAt: null }, data: { removedAt: now } }),
      app.db.sprite.update({ where: { id: sprite.id }, data: { removedAt: now } }),
    ]);
  }
  // Subscribers (interventionsChanged) re-read the run and see it gone.
  for (const run of active) publishRun(app, run, sprite, false);
  return { name, purged: purge, removedRuns: active.length };
}

/** Stops observing one run (history kept). */
export async function removeRun(app: App, runId: string): Promise<Run> {
  const run = await app.db.run.findUnique({ where: { id: runId }, include: { sprite: true } });
  if (!run || run.removedAt) throw new NotFoundError("Run", runId);
  app.ingestor.remove(run.id);
  const updated = await app.db.run.update({ where: { id: run.id }, data: { removedAt: new Date() } });
  publishRun(app, updated, run.sprite, false);
  return updated;
}
