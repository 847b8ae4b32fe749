import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { runMigrations } from "../../src/db/migrate";
import { readEventPage } from "../../src/events/page";
import { PollCommitter } from "../../src/ingest/poll-commit";
import { PrismaClient, type Prisma } from "../../src/generated/prisma/client";
import { readRunPage, readRunsById, readRunsNeedingIntervention, type RunFilter } from "../../src/runs/run-reads";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { startTestServer } from "../support/server";

// The API's run reads are plain SQL (src/runs/run-reads.ts) where they were Prisma queries: each must give what
// Prisma gave, row for row and value for value (BigInt, Dates, jsonb, enums, the joined Sprite), with Prisma's
// cursor semantics, so the Relay pages Pothos builds around them are the pages it built before.

/** 2 Sprites and 12 runs over 8 instants (ties in createdAt: the page order falls back to the id), one removed (rr-03). */
async function seed(pool: pg.Pool): Promise<void> {
  await pool.query(
    `INSERT INTO "Sprite" (id, name, transport, status, labels, retention, "removedAt", "updatedAt")
     VALUES ('rr-s1', 'rr-one', 'LOCAL', 'RUNNING', '{a,b}', '{"maxAgeDays": 3}', now(), now()),
            ('rr-s2', 'rr-two', 'SPRITES_API', 'UNKNOWN', '{}', NULL, now(), now())`,
  );
  await pool.query(
    `INSERT INTO "Run" (id, "spriteId", "loopId", "repoPath", state, "stateReason", health, "healthReasons", divergence, approval, "needsIntervention",
                        "cursorByteOffset", "ingestStatus", "lastEventAt", "removedAt", "createdAt", "updatedAt")
     SELECT 'rr-' || lpad(g::text, 2, '0'), CASE WHEN g % 3 = 0 THEN 'rr-s2' ELSE 'rr-s1' END, 'loop-' || g, '/nowhere/' || g,
            (ARRAY['RUNNING','COMPLETE','FAILED','AWAITING_APPROVAL'])[1 + g % 4]::"LifecycleState", 'r' || g,
            (CASE WHEN g % 2 = 0 THEN 'CRITICAL' ELSE 'HEALTHY' END)::"HealthStatus",
            CASE WHEN g % 2 = 0 THEN '[{"code":"run_failed","severity":"critical","message":"m","since":"2026-11-29T00:00:00.000Z"}]'::jsonb ELSE '[]'::jsonb END,
            '{"cursorRegression": {"evidence": {"was": 3}}}'::jsonb, CASE WHEN g % 4 = 3 THEN '{"status":"pending"}'::jsonb END, g % 2 = 0,
            9007199254740993 + g, 'FORKED', CASE WHEN g % 5 <> 0 THEN timestamp '2026-11-20 10:00:00.123' + g * interval '1 s' END,
            CASE WHEN g = 3 THEN now() END, timestamp '2026-11-20' + (g % 8) * interval '1 minute', now()
       FROM generate_series(1, 12) g`,
  );
}

// The comparisons run on a database no manager writes to (nothing can change a row between the two reads); the
// GraphQL pages on a manager's, through its API.
let pool: pg.Pool;
let db: PrismaClient;
let server: RunningServer;
const ids: string[] = [];
for (let g = 1; g <= 12; g++) ids.push(`rr-${String(g).padStart(2, "0")}`);
beforeAll(async () => {
  const url = await createTestDatabase();
  await runMigrations(url);
  pool = new pg.Pool({ connectionString: url, max: 2 });
  db = new PrismaClient({ adapter: new PrismaPg(pool) });
  await seed(pool);
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "3600000" });
  await seed(server.app.pool);
});
afterAll(async () => {
  await db?.$disconnect();
  await pool?.end();
  await server?.close();
});

function prismaWhere(f: RunFilter | null): Prisma.RunWhereInput {
  return {
    removedAt: null,
    ...(f?.state?.length ? { state: { in: f.state as Prisma.EnumLifecycleStateFilter["in"] } } : {}),
    ...(f?.sprite ? { sprite: { name: f.sprite } } : {}),
    ...(f?.needsIntervention != null ? { needsIntervention: f.needsIntervention } : {}),
  };
}

describe("run reads in SQL give what Prisma gave", () => {
  it("runs by id, with and without their Sprite, removed ones too", async () => {
    for (const withSprite of [true, false]) {
      const got = await readRunsById(pool, [...ids, "rr-none"], withSprite);
      expect(got.size).toBe(12);
      for (const id of ids) {
        const want = await db.run.findUnique({ where: { id }, ...(withSprite ? { include: { sprite: true } } : {}) });
        expect(got.get(id)).toStrictEqual(want);
      }
    }
    expect(typeof (await readRunsById(pool, ["rr-01"], false)).get("rr-01")?.cursorByteOffset).toBe("bigint");
  });

  const filters: [string, RunFilter | null][] = [
    ["no filter", null],
    ["states", { state: ["RUNNING", "FAILED"] }],
    ["a Sprite", { sprite: "rr-two" }],
    ["needs intervention", { needsIntervention: true }],
    ["all three", { state: ["COMPLETE", "FAILED", "AWAITING_APPROVAL"], sprite: "rr-one", needsIntervention: false }],
  ];
  it.each(filters)("pages with Prisma's cursor semantics: %s", async (_name, filter) => {
    // Cursors of runs in the filtered list (what a client pages with) and of none: Prisma's `skip: 1` skips the
    // cursor's own row, so for a run that left the list it skipped a row of the page instead (see below).
    const members = (await db.run.findMany({ where: prismaWhere(filter), select: { id: true } })).map((r) => r.id);
    expect(members.length).toBeGreaterThan(1);
    const pageArgs: { take: number; skip: number; cursorId: string | null }[] = [];
    for (const take of [3, -3, 20, -20]) {
      pageArgs.push({ take, skip: 0, cursorId: null });
      for (const cursorId of [...members, "rr-none"]) for (const skip of [0, 1]) pageArgs.push({ take, skip, cursorId });
    }
    for (const a of pageArgs) {
      const got = await readRunPage(pool, { filter, take: a.take, skip: a.skip, cursorId: a.cursorId, withSprite: true });
      const want = await db.run.findMany({
        where: prismaWhere(filter),
        orderBy: [{ createdAt: "asc" }, { id: "asc" }],
        take: a.take,
        skip: a.skip,
        ...(a.cursorId ? { cursor: { id: a.cursorId } } : {}),
        include: { sprite: true },
      });
      expect(got, JSON.stringify(a)).toStrictEqual(want);
    }
  });

  it("a cursor whose run left the list (or was removed) pages from its position, skipping no other run", async () => {
    // rr-03 is removed (createdAt minute 3, tied with rr-11), rr-01 is not in the needsIntervention list (minute 1).
    const after3 = await readRunPage(pool, { take: 2, skip: 1, cursorId: "rr-03", withSprite: false });
    expect(after3.map((r) => r.id)).toEqual(["rr-11", "rr-04"]);
    const before3 = await readRunPage(pool, { take: -2, skip: 1, cursorId: "rr-03", withSprite: false });
    expect(before3.map((r) => r.id)).toEqual(["rr-02", "rr-10"]);
    const after1 = await readRunPage(pool, { filter: { needsIntervention: true }, take: 2, skip: 1, cursorId: "rr-01", withSprite: false });
    expect(after1.map((r) => r.id)).toEqual(["rr-02", "rr-10"]);
  });

  it("a poll's read of its run (src/ingest/poll-commit.ts loadRun) gives Prisma's run with its Sprite and latest 20 intents", async () => {
    await pool.query(
      `INSERT INTO "ControlIntent" (id, "runId", kind, stage, "idempotencyKey", "requestedBy", note, "traceId", evidence, "observedLine", error, "deadlineAt", "requestedAt", "dispatchedAt", "updatedAt")
       SELECT 'ri-' || lpad(g::text, 2, '0'), 'rr-02', (ARRAY['CANCEL','APPROVE','START'])[1 + g % 3]::"IntentKind", (ARRAY['REQUESTED','CONFIRMED','FAILED'])[1 + g % 3]::"IntentStage",
              'k' || g, 'tester', CASE WHEN g % 2 = 0 THEN 'n' END, 't' || g, '[{"line": 3}]'::jsonb, CASE WHEN g % 2 = 1 THEN g END, NULL,
              timestamp '2026-11-21' + g * interval '1 s', timestamp '2026-11-20 12:00:00.001' + g * interval '1 s', CASE WHEN g % 3 = 0 THEN now() END, now()
         FROM generate_series(1, 25) g`,
    );
    const loader = new PollCommitter({ pool, runs: null as never, log: null as never, config: null as never, retry: () => {} });
    for (const id of ["rr-02", "rr-03", "rr-04"]) {
      const want = await db.run.findUnique({ where: { id }, include: { sprite: true, intents: { orderBy: { requestedAt: "desc" }, take: 20 } } });
      expect(await loader.loadRun(id)).toStrictEqual(want);
    }
    expect((await loader.loadRun("rr-02"))?.intents.map((i) => i.id)).toEqual(Array.from({ length: 20 }, (_, k) => `ri-${String(25 - k).padStart(2, "0")}`));
    expect(await loader.loadRun("rr-none")).toBeNull();
  });

  it("event pages (run.events) give Prisma's Event rows", async () => {
    await pool.query(
      `INSERT INTO "Event" ("runId", line, "timestamp", name, role, iteration, packed, "ingestedAt")
       SELECT 'rr-01', g, timestamp '2026-11-20' + g * interval '250 ms', 'role_end', CASE WHEN g % 2 = 0 THEN 'planner' END, g / 4, '{"x":' || g || '}',
              timestamp '2026-11-21 00:00:00.5' + g * interval '1 ms'
         FROM generate_series(1, 30) g`,
    );
    const cases = [
      { after: null, before: null, limit: 10, descending: false },
      { after: 12, before: null, limit: 5, descending: false },
      { after: null, before: 20, limit: 5, descending: true },
      { after: 25, before: null, limit: 50, descending: false },
    ];
    for (const c of cases) {
      const got = await readEventPage(pool, { runId: "rr-01", ...c });
      const want = await db.event.findMany({
        where: { runId: "rr-01", line: { ...(c.after !== null ? { gt: c.after } : {}), ...(c.before !== null ? { lt: c.before } : {}) } },
        orderBy: { line: c.descending ? "desc" : "asc" },
        take: c.limit,
      });
      expect(want.length).toBeGreaterThan(0);
      expect(got, JSON.stringify(c)).toStrictEqual(want);
    }
  });

  it("the interventions queue reads the flagged observed runs", async () => {
    const got = await readRunsNeedingIntervention(pool, true);
    const want = await db.run.findMany({ where: { removedAt: null, needsIntervention: true }, include: { sprite: true } });
    const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);
    expect(got.sort(byId)).toStrictEqual(want.sort(byId));
    expect(got.map((r) => r.id)).toEqual(["rr-02", "rr-04", "rr-06", "rr-08", "rr-10", "rr-12"]);
  });
});

describe("runs(filter) over GraphQL", () => {
  type Page = {
    edges: { cursor: string; node: { id: string; loopId: string; sprite: { name: string } } }[];
    pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null; startCursor: string | null };
  };
  const fields = `edges { cursor node { id loopId sprite { name } } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }`;
  async function page(args: string, vars: Record<string, unknown> = {}): Promise<Page> {
    const decl = ["after", "before"].filter((v) => args.includes(`$${v}`)).map((v) => `$${v}: String`);
    const r = await gql<{ runs: Page }>(server.url, `query${decl.length ? `(${decl.join(", ")})` : ""} { runs(${args}) { ${fields} } }`, vars);
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    return r.data!.runs;
  }

  it("paging forward and backward by twos gives the one big page, none repeated or skipped", async () => {
    const filter = `filter: { sprite: "rr-one" }`;
    const all = (await page(`first: 100, ${filter}`)).edges.map((e) => e.node.loopId);
    expect(all).toEqual(["loop-8", "loop-1", "loop-2", "loop-10", "loop-11", "loop-4", "loop-5", "loop-7"]);
    const forward: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const p = await page(`first: 2, after: $after, ${filter}`, { after });
      forward.push(...p.edges.map((e) => e.node.loopId));
      expect(p.pageInfo.hasPreviousPage).toBe(after !== null);
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
    }
    expect(forward).toEqual(all);
    const backward: string[] = [];
    let before: string | null = null;
    for (let i = 0; i < 10; i++) {
      const p: Page = await page(`last: 2, before: $before, ${filter}`, { before });
      backward.unshift(...p.edges.map((e) => e.node.loopId));
      if (!p.pageInfo.hasPreviousPage) break;
      before = p.pageInfo.startCursor;
    }
    expect(backward).toEqual(all);
  });

  it("keeps Pothos's cursor format (a client's saved cursor still works)", async () => {
    const p = await page(`first: 1, filter: { sprite: "rr-one" }`);
    expect(Buffer.from(p.edges[0].cursor, "base64").toString()).toBe("GPC:S:rr-08");
  });
});
