import type { Run } from "../generated/prisma/client";
import { archiveOf, archiveRun, type RunArchive } from "../retention/archive";
import { retentionPolicySchema, type RetentionPolicy } from "../retention/policy";
import { parsePolicy, readFleetRetention, writeFleetRetention } from "../retention/store";
import { builder } from "./builder";
import { hasRole } from "../auth/principal";
import { InvalidInputError, NotFoundError, UnauthorizedError } from "../errors";
import { localId } from "./ids";
import "./run/run";
import "./sprite/sprite";

// Retention and archives in the API: where a run's stored history starts (Run.eventsRetainedFrom), its archive,
// the fleet's and each Sprite's policy, and the admin mutations setRetention and archiveRun.

const RetentionPolicyRef = builder.objectRef<RetentionPolicy>("RetentionPolicy").implement({
  description:
    "Event retention: lines older than maxAgeDays, and lines beyond the latest maxEventsPerRun, are pruned (never the cursor's line, an open intent's evidence, or anything of a run whose ingest is FORKED/ERROR)",
  fields: (t) => ({
    maxAgeDays: t.float({ nullable: true, resolve: (p) => p.maxAgeDays ?? null }),
    maxEventsPerRun: t.int({ nullable: true, resolve: (p) => p.maxEventsPerRun ?? null }),
  }),
});

const RetentionPolicyInput = builder.inputType("RetentionPolicyInput", {
  fields: (t) => ({
    maxAgeDays: t.float({ required: false, description: "prune the oldest lines whose timestamp is older than this (days)" }),
    maxEventsPerRun: t.int({ required: false, description: "keep at most this many of a run's latest lines" }),
  }),
});

const FleetRetentionRef = builder.objectRef<{ policy: RetentionPolicy | null; source: string | null; updatedAt: Date | null }>("FleetRetention").implement({
  fields: (t) => ({
    policy: t.field({ type: RetentionPolicyRef, nullable: true, description: "null: keep every event (unless a Sprite says otherwise)", resolve: (r) => r.policy }),
    source: t.string({ nullable: true, description: "fleet-file | graphql", resolve: (r) => r.source }),
    updatedAt: t.field({ type: "DateTime", nullable: true, resolve: (r) => r.updatedAt }),
  }),
});

export const RunArchiveRef = builder.objectRef<RunArchive>("RunArchive").implement({
  description:
    "The run's events written out as the original events.jsonl (gzip), checked before any line was pruned. A run whose first lines retention had already pruned is archived from its first retained line (fromLine > 1, file name <loop>-<run>.from-<fromLine>.jsonl.gz)",
  fields: (t) => ({
    file: t.exposeString("file", { description: "Path of the .jsonl.gz on the manager's machine" }),
    fromLine: t.exposeInt("fromLine", { description: "The first line in the file: 1 for the whole history, else the run's eventsRetainedFrom when archived (earlier lines were pruned before)" }),
    lines: t.exposeInt("lines", { description: "The last line in the file: lines fromLine..lines are in it" }),
    bytes: t.exposeInt("bytes", { description: "Uncompressed size" }),
    sha256: t.exposeString("sha256", { description: "sha256 of the uncompressed file" }),
    at: t.exposeString("at"),
    by: t.exposeString("by"),
  }),
});

builder.prismaObjectFields("Run", (t) => ({
  eventsRetainedFrom: t.exposeInt("eventsRetainedFrom", {
    description: "The first event line still stored: history starts here (1 = all of it). Earlier lines were pruned by retention or after archiving; `events` pages start here",
  }),
  archive: t.field({ type: RunArchiveRef, nullable: true, select: { archive: true }, resolve: (run) => archiveOf((run as Run).archive) }),
}));

builder.prismaObjectFields("Sprite", (t) => ({
  retention: t.field({
    type: RetentionPolicyRef,
    nullable: true,
    select: { retention: true },
    description: "This Sprite's own retention; null = the fleet's (fleetRetention)",
    resolve: (s) => parsePolicy(s.retention),
  }),
}));

builder.queryFields((t) => ({
  fleetRetention: t.field({ type: FleetRetentionRef, description: "The fleet's event retention (from the fleet file or setRetention)", resolve: (_r, _a, ctx) => readFleetRetention(ctx.app.pool) }),
}));

function policyOf(input: { maxAgeDays?: number | null; maxEventsPerRun?: number | null } | null | undefined): RetentionPolicy | null {
  if (!input) return null;
  const parsed = retentionPolicySchema.safeParse({
    ...(input.maxAgeDays != null ? { maxAgeDays: input.maxAgeDays } : {}),
    ...(input.maxEventsPerRun != null ? { maxEventsPerRun: input.maxEventsPerRun } : {}),
  });
  if (!parsed.success) throw new InvalidInputError(String(parsed.error.issues[0]?.path[0] ?? "policy"), parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return parsed.data.maxAgeDays === undefined && parsed.data.maxEventsPerRun === undefined ? null : parsed.data;
}

builder.mutationFields((t) => ({
  setRetention: t.field({
    type: FleetRetentionRef,
    description: "Set the fleet's event retention, or one Sprite's with `sprite` (admin); policy null clears it. Returns the fleet's",
    errors: { types: [UnauthorizedError, NotFoundError, InvalidInputError] },
    args: { sprite: t.arg.string({ required: false }), policy: t.arg({ type: RetentionPolicyInput, required: false }) },
    resolve: async (_root, { sprite, policy }, ctx) => {
      if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
      const p = policyOf(policy);
      if (sprite) {
        const found = await ctx.app.db.sprite.findUnique({ where: { name: sprite } });
        if (!found) throw new NotFoundError("Sprite", sprite);
        await ctx.app.pool.query(`UPDATE "Sprite" SET retention = $2::jsonb WHERE id = $1`, [found.id, p === null ? null : JSON.stringify(p)]);
      } else await writeFleetRetention(ctx.app.pool, p, "graphql");
      void ctx.app.retention?.tick().catch(() => {});
      return readFleetRetention(ctx.app.pool);
    },
  }),
  archiveRun: t.field({
    type: RunArchiveRef,
    description: "Write a finished run's events to OPS_ARCHIVE_DIR as the original events.jsonl, gzipped, checked on disk; then retention prunes the archived lines (admin)",
    errors: { types: [UnauthorizedError, NotFoundError, InvalidInputError] },
    args: { runId: t.arg.id({ required: true }) },
    resolve: async (_root, { runId }, ctx) => {
      if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
      const raw = localId(String(runId), "Run");
      if (!raw) throw new NotFoundError("Run", String(runId));
      const archive = await archiveRun(ctx.app, raw, ctx.principal!.name);
      void ctx.app.retention?.tick().catch(() => {});
      return archive;
    },
  }),
}));
