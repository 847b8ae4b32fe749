import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { positionOf, queryAudit, type AuditEntry } from "../../src/control/audit";
import type { RunningServer } from "../../src/server";
import { register } from "../support/runs";
import { startTestServer } from "../support/server";

// The audit trail pages by keyset (at, source, id), each source read along its time index and cut at the page
// size before the merge (src/control/audit.ts). Paging through with any page size must give exactly the entries
// of one unpaged read, in its order: none repeated, none skipped, also across equal timestamps, both sources
// and ids that order differently as text than as numbers (transition ids 9 and 10).

let server: RunningServer;
let runA: string;
let runB: string;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "3600000" });
  runA = (await register(server, "audit-a", mkdtempSync(path.join(tmpdir(), "ops-audit-")), "none")).raw;
  runB = (await register(server, "audit-b", mkdtempSync(path.join(tmpdir(), "ops-audit-")), "none")).raw;
  const pool = server.app.pool;
  // 40 intents and 60 transitions (a third without actor: not audited) over 10 distinct instants: many ties.
  await pool.query(
    `INSERT INTO "ControlIntent" (id, "runId", kind, stage, "idempotencyKey", "requestedBy", "traceId", "deadlineAt", "requestedAt", "updatedAt")
     SELECT 'ai-' || g, CASE WHEN g % 2 = 0 THEN $1 ELSE $2 END, 'CANCEL', 'CONFIRMED', 'audit-k' || g, 'operator', 't' || g, now(),
            timestamp '2026-11-20' + (g % 10) * interval '1 minute', now()
       FROM generate_series(1, 40) g`,
    [runA, runB],
  );
  await pool.query(
    `INSERT INTO "LifecycleTransition" ("runId", seq, "from", "to", reason, trigger, actor, at)
     SELECT CASE WHEN g % 2 = 0 THEN $1 ELSE $2 END, 1000 + g, 'RUNNING', 'STOPPED', 'bench', 'control', CASE WHEN g % 3 <> 0 THEN 'operator' END,
            timestamp '2026-11-20' + (g % 10) * interval '1 minute'
       FROM generate_series(1, 60) g`,
    [runA, runB],
  );
});
afterAll(() => server?.close());

const key = (e: AuditEntry) => `${e.source}:${e.source === "intent" ? e.intent.id : String(e.transition.id)}`;

async function pagedThrough(pageSize: number, q: { runId?: string; since?: Date; until?: Date }): Promise<string[]> {
  const out: string[] = [];
  let after = null;
  for (let pages = 0; pages < 500; pages++) {
    const rows = await queryAudit(server.app, { ...q, after, limit: pageSize });
    out.push(...rows.map(key));
    if (rows.length < pageSize) return out;
    after = positionOf(rows[rows.length - 1]);
  }
  throw new Error("paging did not end");
}

describe("audit keyset paging", () => {
  const windows: [string, { runId?: string; since?: Date; until?: Date }][] = [
    ["everything", {}],
    ["one run", { runId: "A" }],
    ["a time window", { since: new Date("2026-11-20T00:03:00Z"), until: new Date("2026-11-20T00:07:00Z") }],
  ];
  it.each(windows)("%s: pages of 1, 3, 7 and 50 give exactly the unpaged entries, in order", async (_label, w) => {
    const q = { ...w, runId: w.runId === "A" ? runA : undefined };
    const all = (await queryAudit(server.app, { ...q, limit: 10_000 })).map(key);
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBeGreaterThan(10);
    for (const size of [1, 3, 7, 50]) expect(await pagedThrough(size, q)).toEqual(all);
  });

  it("orders newest first, intents before transitions at the same instant, then id descending as text", async () => {
    const all = await queryAudit(server.app, { limit: 10_000 });
    const mine = all.filter((e) => (e.source === "intent" ? e.intent.id.startsWith("ai-") : e.transition.seq >= 1000));
    for (let i = 1; i < mine.length; i++) {
      const a = positionOf(mine[i - 1]);
      const b = positionOf(mine[i]);
      const cmp = a.at.getTime() - b.at.getTime() || (a.source === b.source ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.source < b.source ? -1 : 1);
      expect(cmp).toBeGreaterThan(0);
    }
    // transitions without an actor are not audit entries
    expect(mine.filter((e) => e.source === "transition").length).toBe(40);
  });
});
