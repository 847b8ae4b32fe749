import { mkdtempSync, readFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { expect, it } from "vitest";
import { collect, gql, wsClient } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { spawnManager, type ManagerProcess } from "../support/manager-process";
import { emptyRepo, killSims, SIM, startSim } from "../control/helpers";
import { append, freshRepo, line, setRunning, setStopped } from "./helpers";
import { LINE_SQL_COLUMNS, originalLine, type StoredEventLine } from "../../src/events/stored-event";

// Three real manager processes on one database. 30 runs, events appended continuously, one replica killed
// with -9 in the middle: every line is stored exactly once, the dead replica's leases move to the others, and
// every graphql-ws subscriber on a surviving replica receives every lifecycle change of every run, in seq order.

const RUNS = 30;
const SUB = `subscription { runLifecycleChanged { ... on RunLifecycleChange { runId seq previousState state reason } ... on ResyncRequired { reason } } }`;

interface Change {
  runId: string;
  seq: number;
  previousState: string | null;
  state: string;
  reason: string;
}

it("3 replicas, kill -9 one mid-ingest: exactly-once events, leases move, subscribers on survivors see every change in order", { timeout: 120_000 }, async () => {
  const url = await createTestDatabase();
  const argvLog = path.join(mkdtempSync(path.join(tmpdir(), "ops-3r-argv-")), "argv.jsonl");
  const spawnReplica = (id: string) => {
    const dataDir = mkdtempSync(path.join(tmpdir(), `ops-${id}-`));
    chmodSync(dataDir, 0o755);
    return spawnManager({ DATABASE_URL: url, OPS_DATA_DIR: dataDir, OPS_REPLICA_ID: id, OPS_POLL_INTERVAL_MS: "500", LOG_LEVEL: "warn", SUPERLOOP_BIN: SIM, SIM_ARGV_LOG: argvLog });
  };
  const [r1, r2, r3] = (await Promise.all(["r1", "r2", "r3"].map(spawnReplica))) as [ManagerProcess, ManagerProcess, ManagerProcess];
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const survivors = [r1, r3];
  const clients = survivors.map((r) => wsClient(r.url));
  try {
    const subs = clients.map((c) => collect<{ runLifecycleChanged: Change }>(c, SUB));
    // Subscriptions are live once each survivor counts one (its /ready reports the bus's subscriber count).
    for (const r of survivors) {
      for (let i = 0; i < 100; i++) {
        const ready = (await (await fetch(r.url.replace("/graphql", "/ready"))).json()) as { checks: { subscriptions: number } };
        if (ready.checks.subscriptions >= 1) break;
        await new Promise((res) => setTimeout(res, 50));
      }
    }

    const replicas = [r1, r2, r3];
    const runs: { repo: string; raw: string; running: boolean }[] = [];
    await Promise.all(
      Array.from({ length: RUNS }, async (_, i) => {
        const repo = freshRepo("ops-3r-");
        const r = await gql(
          replicas[i % 3].url,
          `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`,
          { i: { name: `run-${i}`, transport: "LOCAL", repoPath: repo, loopId: "demo-loop" } },
        );
        expect(r.data?.registerSprite.__typename).toBe("RegisterSpritePayload");
        const id = r.data!.registerSprite.run.id as string;
        runs[i] = { repo, raw: Buffer.from(id, "base64").toString().split(":").slice(1).join(":"), running: false };
      }),
    );

    // Continuous appends, and now and then a run stops or starts again (a lifecycle change).
    const started = Date.now();
    let killedAt = 0;
    let killedLeases = -1;
    let k = 0;
    while (Date.now() - started < 12_000) {
      for (let j = 0; j < 3; j++) {
        const run = runs[k++ % RUNS];
        if (!run.running) {
          setRunning(run.repo);
          append(run.repo, line("loop_start"), line("iteration_start"));
          run.running = true;
        } else if (Math.random() < 0.15) {
          setStopped(run.repo);
          append(run.repo, line("loop_stop", { data: { reason: Math.random() < 0.5 ? "max_iterations" : "stuck" } }));
          run.running = false;
        } else {
          append(run.repo, line("role_start", { role: "planner" }), line("role_end", { role: "planner" }));
        }
      }
      if (!killedAt && Date.now() - started > 4000) {
        killedLeases = Number((await db.query(`SELECT count(*) n FROM "RunLease" WHERE owner = 'r2' AND "expiresAt" > now()`)).rows[0].n);
        r2.child.kill("SIGKILL");
        await r2.exited;
        killedAt = Date.now();
      }
      await new Promise((res) => setTimeout(res, 15));
    }
    for (const run of runs) {
      if (run.running) {
        setStopped(run.repo);
        append(run.repo, line("loop_stop", { data: { reason: "max_iterations" } }));
        run.running = false;
      }
    }
    expect(killedLeases).toBeGreaterThan(0); // the victim really held runs when it died

    // The dead replica's leases expire (TTL 10 s) and the survivors take its runs over.
    const moved = async () => Number((await db.query(`SELECT count(*) n FROM "RunLease" WHERE owner = 'r2' AND "expiresAt" > now()`)).rows[0].n);
    const deadline = killedAt + 16_000;
    while ((await moved()) > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
    expect(await moved()).toBe(0);
    const takeoverMs = Date.now() - killedAt;

    // Everything ingested: every run's cursor at the end of its file and every run STOPPED.
    const lines = runs.map((r) =>
      readFileSync(path.join(r.repo, ".superloop", "loops", "demo-loop", "events.jsonl"), "utf8")
        .split("\n")
        .filter(Boolean),
    );
    const caughtUp = async () => {
      const rows = (await db.query<{ id: string; cursorLine: number; state: string }>(`SELECT id, "cursorLine", state::text FROM "Run"`)).rows;
      const byId = new Map(rows.map((r) => [r.id, r]));
      return runs.every((r, i) => byId.get(r.raw)?.cursorLine === lines[i].length && byId.get(r.raw)?.state === "STOPPED");
    };
    const until = Date.now() + 30_000;
    while (!(await caughtUp()) && Date.now() < until) await new Promise((res) => setTimeout(res, 200));
    expect(await caughtUp()).toBe(true);

    // Exactly once, and the same bytes as the files.
    const stored = await db.query<StoredEventLine & { runId: string; line: number }>(`SELECT "runId", line, ${LINE_SQL_COLUMNS} FROM "Event" ORDER BY "runId", line`);
    const byRun = new Map<string, (StoredEventLine & { line: number })[]>();
    for (const e of stored.rows) {
      let l = byRun.get(e.runId);
      if (!l) byRun.set(e.runId, (l = []));
      l.push(e);
    }
    for (const [i, run] of runs.entries()) {
      const got = byRun.get(run.raw) ?? [];
      expect(got.map((e) => e.line)).toEqual(lines[i].map((_, j) => j + 1));
      expect(got.map((e) => originalLine(e))).toEqual(lines[i]);
    }

    // Every lease is held by a survivor, and neither holds everything.
    const owners = (await db.query<{ owner: string; n: string }>(`SELECT owner, count(*) n FROM "RunLease" WHERE "expiresAt" > now() GROUP BY owner`)).rows;
    expect(owners.map((o) => o.owner).sort()).toEqual(["r1", "r3"]);
    expect(owners.reduce((s, o) => s + Number(o.n), 0)).toBe(RUNS);
    for (const o of owners) expect(Number(o.n)).toBeLessThanOrEqual(Math.ceil(RUNS / 2) + 1);

    // Every lifecycle change, on both survivors, in seq order, once.
    const transitions = (
      await db.query<{ runId: string; seq: number; from: string | null; to: string; reason: string }>(
        `SELECT "runId", seq, "from"::text, "to"::text, reason FROM "LifecycleTransition" WHERE trigger NOT IN ('cursor_reset', 'sprite', 'control_mode') ORDER BY "runId", seq`,
      )
    ).rows.map((t): Change => ({ runId: t.runId, seq: t.seq, previousState: t.from, state: t.to, reason: t.reason }));
    expect(transitions.length).toBeGreaterThan(RUNS * 3);
    const expected = groupByRun(transitions);
    console.log(`victim held ${killedLeases} leases; none left ${takeoverMs} ms after kill -9; ${stored.rowCount} events, ${transitions.length} lifecycle changes checked on 2 survivors`);
    for (const sub of subs) {
      await sub.next(transitions.length, 10_000);
      await new Promise((res) => setTimeout(res, 300)); // a duplicate would have arrived by now
      const got = sub.items.map((i) => i.data!.runLifecycleChanged);
      expect(got.filter((c) => !("runId" in c))).toEqual([]); // no ResyncRequired
      expect(groupByRun(got)).toEqual(expected);
    }

    // A control intent issued through the replica that does not poll the run is dispatched once, by the one
    // that does, and confirmed as seen through the other replica.
    const repo = emptyRepo();
    startSim(repo, { SIM_STEP_MS: "30", SIM_OUTCOME: "hang" });
    const reg = await gql(
      r1.url,
      `mutation($r: String!) { registerSprite(input: {name: "ctl", transport: LOCAL, repoPath: $r, loopId: "demo-loop"}) { ... on RegisterSpritePayload { run { id } } } }`,
      { r: repo },
    );
    const ctlId = reg.data!.registerSprite.run.id as string;
    const ctlRaw = Buffer.from(ctlId, "base64").toString().split(":").slice(1).join(":");
    const stateOf = async () => (await db.query<{ state: string }>(`SELECT state::text FROM "Run" WHERE id = $1`, [ctlRaw])).rows[0]?.state;
    for (let i = 0; i < 300 && (await stateOf()) !== "RUNNING"; i++) await new Promise((res) => setTimeout(res, 50));
    expect(await stateOf()).toBe("RUNNING");
    const owner = (await db.query<{ owner: string }>(`SELECT owner FROM "RunLease" WHERE "runId" = $1 AND "expiresAt" > now()`, [ctlRaw])).rows[0].owner;
    const [via, holder] = owner === "r1" ? [r3, r1] : [r1, r3];
    const cancel = await gql(via.url, `mutation($id: ID!) { cancelRun(runId: $id, note: "cross-replica") { __typename ... on ControlIntent { id stage } ... on Error { message } } }`, { id: ctlId });
    expect(cancel.data!.cancelRun.__typename).toBe("ControlIntent");
    expect(cancel.data!.cancelRun.stage).not.toBe("REQUESTED"); // the holder dispatched it while the mutation waited
    const intentId = cancel.data!.cancelRun.id as string;
    let seen: { stage: string; stages: { stage: string }[] } | null = null;
    for (let i = 0; i < 300; i++) {
      const q = await gql(holder.url, `query($id: ID!) { node(id: $id) { ... on ControlIntent { stage stages { stage } } } }`, { id: intentId });
      seen = q.data!.node;
      if (seen?.stage === "CONFIRMED") break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(seen?.stage).toBe("CONFIRMED");
    expect(seen!.stages.filter((st) => st.stage === "DISPATCHED")).toHaveLength(1);
    const intents = await db.query(`SELECT count(*)::int n FROM "ControlIntent" WHERE "runId" = $1`, [ctlRaw]);
    expect(intents.rows[0].n).toBe(1);
    // The Superloop CLI ran `cancel` exactly once, whichever replicas saw the intent.
    const cancels = readFileSync(argvLog, "utf8")
      .split("\n")
      .filter((l) => l.includes('"cancel"'));
    expect(cancels).toHaveLength(1);
  } finally {
    killSims();
    for (const c of clients) await c.dispose();
    await db.end();
    for (const r of [r1, r3]) r.child.kill("SIGTERM");
    await Promise.all([r1.exited, r3.exited]);
  }
});

function groupByRun(changes: Change[]): Record<string, Change[]> {
  const out: Record<string, Change[]> = {};
  for (const c of changes) (out[c.runId] ??= []).push(c);
  return out;
}
