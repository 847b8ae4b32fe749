import type pg from "pg";
import { isDeepStrictEqual } from "node:util";
import { inTransaction } from "../db/transaction";
import type { RuntimeSwitches } from "./eligibility";
import { EMPTY_POLICY, policyDocSchema, type PolicyChange, type PolicyDoc } from "./schema";

// The policy tables: versions (immutable; the highest is in force), the audit (immutable: before/after of every
// change and switch), the runtime switches. Every write of a version or a switch writes its audit entry in the
// same transaction.

type Q = Pick<pg.PoolClient, "query">;

export interface StoredPolicy {
  version: number;
  doc: PolicyDoc;
  rationale: string | null;
  reviewBy: Date | null;
  source: string | null;
  actor: string | null;
  createdAt: Date | null;
}

export const NO_POLICY: StoredPolicy = { version: 0, doc: EMPTY_POLICY, rationale: null, reviewBy: null, source: null, actor: null, createdAt: null };

export async function readPolicy(db: Q): Promise<StoredPolicy> {
  const r = await db.query<{ version: number; doc: unknown; rationale: string; reviewBy: Date; source: string; actor: string; createdAt: Date }>(
    `SELECT version, doc, rationale, "reviewBy", source, actor, "createdAt" FROM "PolicyVersion" ORDER BY version DESC LIMIT 1`,
  );
  const row = r.rows[0];
  if (!row) return NO_POLICY;
  const doc = policyDocSchema.safeParse(row.doc);
  // A stored version that no longer parses (written by a newer manager) acts on nothing.
  return { ...row, doc: doc.success ? doc.data : { ...EMPTY_POLICY, mode: "off" } };
}

/** Serializes policy writers (a SIGHUP reload racing a mutation) on one advisory lock. */
const LOCK = 1_5150_0001;

/** Writes a new version unless the document, rationale and review date are those in force. */
export async function writePolicy(pool: pg.Pool, change: PolicyChange, source: string, actor: string): Promise<{ policy: StoredPolicy; changed: boolean }> {
  const out = await inTransaction(pool, async (c) => {
    await c.query(`SELECT pg_advisory_xact_lock($1)`, [LOCK]);
    const current = await readPolicy(c);
    const same =
      current.version > 0 &&
      isDeepStrictEqual(JSON.parse(JSON.stringify(current.doc)), JSON.parse(JSON.stringify(change.policy))) &&
      current.rationale === change.rationale &&
      current.reviewBy?.getTime() === change.reviewBy.getTime();
    if (same) return { changed: false };
    const version = current.version + 1;
    await c.query(`INSERT INTO "PolicyVersion" (version, doc, rationale, "reviewBy", source, actor) VALUES ($1, $2::jsonb, $3, $4, $5, $6)`, [
      version,
      JSON.stringify(change.policy),
      change.rationale,
      change.reviewBy,
      source,
      actor,
    ]);
    await audit(c, actor, "policy_changed", version, change.rationale, current.version ? { ...current.doc, reviewBy: current.reviewBy } : null, { ...change.policy, reviewBy: change.reviewBy });
    return { changed: true };
  });
  return { policy: await readPolicy(pool), changed: out.changed };
}

export async function audit(c: Q, actor: string, action: string, version: number | null, rationale: string | null, before: unknown, after: unknown): Promise<void> {
  await c.query(`INSERT INTO "PolicyAudit" (actor, action, version, rationale, before, after) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)`, [
    actor,
    action,
    version,
    rationale,
    before === null ? null : JSON.stringify(before),
    after === null ? null : JSON.stringify(after),
  ]);
}

interface RuntimeRow {
  killSwitch: boolean;
  killSwitchBy: string | null;
  killSwitchNote: string | null;
  killSwitchAt: Date | null;
  paused: "manual" | "auto" | null;
  pausedBy: string | null;
  pausedReason: string | null;
  pausedAt: Date | null;
  resumedAt: Date | null;
}
export type RuntimeState = RuntimeRow & { envKillSwitch: boolean };

const RUNTIME_ID = "default";
const EMPTY_RUNTIME: RuntimeRow = {
  killSwitch: false,
  killSwitchBy: null,
  killSwitchNote: null,
  killSwitchAt: null,
  paused: null,
  pausedBy: null,
  pausedReason: null,
  pausedAt: null,
  resumedAt: null,
};

export async function readRuntime(db: Q, envKillSwitch: boolean): Promise<RuntimeState> {
  const r = await db.query<RuntimeRow>(
    `SELECT "killSwitch", "killSwitchBy", "killSwitchNote", "killSwitchAt", paused, "pausedBy", "pausedReason", "pausedAt", "resumedAt" FROM "PolicyRuntime" WHERE id = $1`,
    [RUNTIME_ID],
  );
  return { ...(r.rows[0] ?? EMPTY_RUNTIME), envKillSwitch };
}

export function switchesOf(rt: RuntimeState): RuntimeSwitches {
  return {
    killSwitch: rt.killSwitch || rt.envKillSwitch,
    killSwitchSource: rt.envKillSwitch ? "OPS_POLICY_KILL_SWITCH" : rt.killSwitch ? `by ${rt.killSwitchBy ?? "?"}${rt.killSwitchNote ? `: ${rt.killSwitchNote}` : ""}` : null,
    paused: rt.paused,
    pausedReason: rt.pausedReason,
  };
}

/** Changes the switches under a row lock and audits before/after; returns null when nothing changed. */
export async function updateRuntime(c: Q, actor: string, action: string, note: string | null, change: (r: RuntimeRow) => RuntimeRow | null): Promise<RuntimeRow | null> {
  await c.query(`INSERT INTO "PolicyRuntime" (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, [RUNTIME_ID]);
  const cur = (
    await c.query<RuntimeRow>(
      `SELECT "killSwitch", "killSwitchBy", "killSwitchNote", "killSwitchAt", paused, "pausedBy", "pausedReason", "pausedAt", "resumedAt" FROM "PolicyRuntime" WHERE id = $1 FOR UPDATE`,
      [RUNTIME_ID],
    )
  ).rows[0];
  const next = change(cur);
  if (!next) return null;
  await c.query(
    `UPDATE "PolicyRuntime" SET "killSwitch" = $2, "killSwitchBy" = $3, "killSwitchNote" = $4, "killSwitchAt" = $5, paused = $6, "pausedBy" = $7, "pausedReason" = $8, "pausedAt" = $9, "resumedAt" = $10 WHERE id = $1`,
    [RUNTIME_ID, next.killSwitch, next.killSwitchBy, next.killSwitchNote, next.killSwitchAt, next.paused, next.pausedBy, next.pausedReason, next.pausedAt, next.resumedAt],
  );
  await audit(c, actor, action, null, note, cur, next);
  return next;
}

export interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  action: string;
  version: number | null;
  rationale: string | null;
  before: unknown;
  after: unknown;
}

export async function readAudit(db: Q, limit: number): Promise<AuditRow[]> {
  return (await db.query<AuditRow>(`SELECT id::text AS id, at, actor, action, version, rationale, before, after FROM "PolicyAudit" ORDER BY id DESC LIMIT $1`, [limit])).rows;
}
