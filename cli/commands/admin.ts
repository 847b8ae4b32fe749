import { expectType, type Typed } from "../api";
import type { Ctx } from "../context";
import { CliError, EXIT } from "../exit-codes";
import { printOne } from "../output";
import { rawId, resolveRun } from "../selection";

// Admin commands: register/update/remove Sprites and runs, reset a FORKED cursor, reload the fleet file. Inputs
// are checked by the server (zod there); its ValidationError/InvalidInput come back as exit 64 with the issues.

export interface SpriteSettings {
  transport?: string;
  agentUrl?: string;
  agentTokenEnv?: string;
  spritesApiName?: string;
  spritesApiTokenEnv?: string;
  pollIntervalMs?: string;
  maxRuns?: string;
  controlMode?: string;
  healthProfile?: string;
  connectTimeoutMs?: string;
  requestTimeoutMs?: string;
  retryAttempts?: string;
}

function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new CliError(`${flag}: a whole number (got ${v})`, EXIT.usage);
  return Number(v);
}

function settingsInput(s: SpriteSettings): Record<string, unknown> {
  const input: Record<string, unknown> = {
    transport: s.transport?.toUpperCase(),
    agentUrl: s.agentUrl,
    agentTokenEnv: s.agentTokenEnv,
    spritesApiName: s.spritesApiName,
    spritesApiTokenEnv: s.spritesApiTokenEnv,
    pollIntervalMs: int(s.pollIntervalMs, "--poll-interval-ms"),
    maxConcurrentRuns: int(s.maxRuns, "--max-runs"),
    controlMode: s.controlMode?.toUpperCase(),
    healthProfile: s.healthProfile?.toLowerCase(),
    connectTimeoutMs: int(s.connectTimeoutMs, "--connect-timeout-ms"),
    requestTimeoutMs: int(s.requestTimeoutMs, "--request-timeout-ms"),
    retryAttempts: int(s.retryAttempts, "--retry-attempts"),
  };
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
}

// only the members every union has (a fragment on a type outside the union is a validation error)
const ERRORS = "... on Error { message }";
const ISSUES = "... on ValidationError { issues { path message } }";

function fail(v: Typed & { issues?: { path: string[]; message: string }[] }, wanted: string, what: string): never {
  const issues = v.issues?.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  expectType({ ...v, message: issues || v.message }, wanted, what);
  throw new Error("unreachable");
}

export async function register(ctx: Ctx, name: string, o: SpriteSettings & { repo: string; loop: string }): Promise<number> {
  if (!o.transport) throw new CliError("register: --transport is required", EXIT.usage);
  const r = await ctx
    .api()
    .request<{ r: Typed & { sprite?: { name: string }; run?: { id: string } } }>(
      `mutation($i: RegisterSpriteInput!) { r: registerSprite(input: $i) { __typename ... on RegisterSpritePayload { sprite { name transport } run { id loopId state } } ${ERRORS} ${ISSUES} } }`,
      { i: { name, repoPath: o.repo, loopId: o.loop, ...settingsInput(o) } },
    );
  if (r.r.__typename !== "RegisterSpritePayload") fail(r.r, "RegisterSpritePayload", `register ${name}`);
  printOne(ctx.p, r.r, () => [`sprite/${name} registered; run ${rawId(r.r.run!.id)}`], `sprite/${name}`);
  return EXIT.ok;
}

export async function update(ctx: Ctx, name: string, o: SpriteSettings): Promise<number> {
  const input = settingsInput(o);
  if (Object.keys(input).length === 0) throw new CliError("update: nothing to change (give at least one setting)", EXIT.usage);
  const r = await ctx
    .api()
    .request<{ r: Typed }>(
      `mutation($n: String!, $i: UpdateSpriteInput!) { r: updateSprite(name: $n, input: $i) { __typename ... on Sprite { name transport controlMode pollIntervalMs maxConcurrentRuns healthProfile agentUrl } ${ERRORS} ${ISSUES} } }`,
      { n: name, i: input },
    );
  if (r.r.__typename !== "Sprite") fail(r.r, "Sprite", `update ${name}`);
  printOne(ctx.p, r.r, () => [`sprite/${name} updated`], `sprite/${name}`);
  return EXIT.ok;
}

export async function removeSprite(ctx: Ctx, name: string, purge: boolean): Promise<number> {
  const r = await ctx
    .api()
    .request<{ r: Typed & { removedRuns?: number; purged?: boolean } }>(
      `mutation($n: String!, $p: Boolean) { r: removeSprite(name: $n, purge: $p) { __typename ... on RemoveSpritePayload { name purged removedRuns } ${ERRORS} } }`,
      { n: name.replace(/^sprite\//, ""), p: purge },
    );
  if (r.r.__typename !== "RemoveSpritePayload") fail(r.r, "RemoveSpritePayload", `remove sprite ${name}`);
  printOne(ctx.p, r.r, () => [`sprite/${name} removed (${r.r.removedRuns} run(s) no longer observed${r.r.purged ? "; purged" : ""})`], `sprite/${name}`);
  return EXIT.ok;
}

export async function removeRun(ctx: Ctx, ref: string): Promise<number> {
  const api = ctx.api();
  const run = await resolveRun(api, ref);
  const r = await api.request<{ r: Typed }>(`mutation($id: ID!) { r: removeRun(runId: $id) { __typename ... on Run { id loopId } ${ERRORS} } }`, { id: run.id });
  if (r.r.__typename !== "Run") fail(r.r, "Run", `remove run ${ref}`);
  printOne(ctx.p, r.r, () => [`run/${rawId(run.id)} (${run.sprite.name}/${run.loopId}) removed`], `run/${rawId(run.id)}`);
  return EXIT.ok;
}

export async function resetCursor(ctx: Ctx, ref: string, mode: string, note: string | undefined): Promise<number> {
  const modes: Record<string, string> = { "adopt-current": "ADOPT_CURRENT", "replay-from-start": "REPLAY_FROM_START", ADOPT_CURRENT: "ADOPT_CURRENT", REPLAY_FROM_START: "REPLAY_FROM_START" };
  const m = modes[mode];
  if (!m) throw new CliError("--mode: adopt-current or replay-from-start", EXIT.usage);
  const api = ctx.api();
  const run = await resolveRun(api, ref);
  const r = await api.request<{ r: Typed & { previousLine?: number; newLine?: number; deletedEvents?: number } }>(
    `mutation($id: ID!, $m: CursorResetMode!, $note: String) { r: resetRunCursor(runId: $id, mode: $m, note: $note) { __typename ... on CursorReset { mode previousLine newLine deletedEvents } ${ERRORS} ${ISSUES} } }`,
    { id: run.id, m, note: note ?? null },
  );
  if (r.r.__typename !== "CursorReset") fail(r.r, "CursorReset", `reset-cursor ${ref}`);
  printOne(
    ctx.p,
    r.r,
    () => [`run/${rawId(run.id)} cursor ${m}: line ${r.r.previousLine} → ${r.r.newLine}${r.r.deletedEvents ? ` (${r.r.deletedEvents} stored events deleted)` : ""}`],
    `run/${rawId(run.id)}`,
  );
  return EXIT.ok;
}

export async function archive(ctx: Ctx, ref: string): Promise<number> {
  const api = ctx.api();
  const run = await resolveRun(api, ref);
  const r = await api.request<{ r: Typed & { file?: string; fromLine?: number; lines?: number; bytes?: number; sha256?: string } }>(
    `mutation($id: ID!) { r: archiveRun(runId: $id) { __typename ... on RunArchive { file fromLine lines bytes sha256 at by } ${ERRORS} } }`,
    { id: run.id },
  );
  if (r.r.__typename !== "RunArchive") fail(r.r, "RunArchive", `archive ${ref}`);
  printOne(
    ctx.p,
    r.r,
    () => [
      `run/${rawId(run.id)} archived: lines ${r.r.fromLine}-${r.r.lines}${r.r.fromLine !== 1 ? ` (lines before ${r.r.fromLine} were pruned earlier)` : ""} (${r.r.bytes} bytes, sha256 ${r.r.sha256}) to ${r.r.file}`,
    ],
    `run/${rawId(run.id)}`,
  );
  return EXIT.ok;
}

interface FleetReport {
  __typename: string;
  ok: boolean;
  file: string;
  created: string[];
  updated: string[];
  removed: string[];
  unchanged: string[];
  notInFile: string[];
  errors: { path: string; message: string }[];
}

export async function reloadFleet(ctx: Ctx): Promise<number> {
  const r = await ctx
    .api()
    .request<{ r: Typed }>(`mutation { r: reloadFleetFile { __typename ... on FleetFileReport { ok file created updated removed unchanged notInFile errors { path message } } ${ERRORS} } }`);
  // InvalidInput here means the server has no OPS_FLEET_FILE: nothing wrong with the command, the server refuses
  if (r.r.__typename === "InvalidInput") throw new CliError(`reload-fleet: ${r.r.message ?? "refused"}`, EXIT.refused, "InvalidInput");
  if (r.r.__typename !== "FleetFileReport") fail(r.r, "FleetFileReport", "reload-fleet");
  const rep = r.r as unknown as FleetReport;
  printOne(ctx.p, rep, () => [
    `${rep.file}: ${rep.ok ? "loaded" : "INVALID, nothing changed"}`,
    ...(["created", "updated", "removed", "unchanged", "notInFile"] as const).map((k) => `  ${k}: ${rep[k].length ? rep[k].join(", ") : "-"}`),
    ...rep.errors.map((e) => `  error ${e.path}: ${e.message}`),
  ]);
  // an invalid file changed nothing: the operation failed
  return rep.ok ? EXIT.ok : EXIT.failed;
}
