// npm run bench:fanout — one lifecycle change delivered to N graphql-ws subscribers (N = 1,000 and 5,000) on one
// replica, then across two replicas through PostgreSQL NOTIFY: p50/p99 delivery latency (commit → message
// parsed by the client) and the server's RSS. The last line printed is one JSON object with the figures.
//
// Processes: this one runs replica A (embedded PostgreSQL) and drives the changes; replica B is a real
// `src/main.ts` child on A's database; subscribers live in two client child processes (this file with
// argument "clients") speaking the graphql-transport-ws protocol directly over `ws`, so the client side stays
// cheap. Changes are committed the way the ingestor commits them (one transaction: run row + transition,
// then publish on the committing replica), so A delivers through its local path and B through NOTIFY.
import { fork, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import type { LifecycleState } from "../src/generated/prisma/enums";

const now = () => performance.timeOrigin + performance.now();
const SUB = `subscription($f: RunLifecycleFilter) { runLifecycleChanged(filter: $f) { ... on RunLifecycleChange { seq state } ... on ResyncRequired { reason } } }`;

type ToClient = { cmd: "connect"; url: string; n: number; runId: string } | { cmd: "collect" } | { cmd: "close" };
type FromClient = { connected: number; failed: number } | { times: Record<string, number[]> } | { closed: true };

if (process.argv[2] === "clients") {
  await clientMain();
} else {
  await benchMain();
}

// ---------------------------------------------------------------- client process
async function clientMain(): Promise<void> {
  const sockets: WebSocket[] = [];
  let times: Record<string, number[]> = {};
  const send = (m: FromClient) => process.send!(m);
  const open = (url: string, runId: string) =>
    new Promise<boolean>((resolve) => {
      const ws = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws", { perMessageDeflate: false });
      const timer = setTimeout(() => resolve(false), 30_000);
      ws.on("open", () => ws.send(JSON.stringify({ type: "connection_init", payload: {} })));
      ws.on("message", (raw) => {
        const t = now();
        const text = Buffer.isBuffer(raw) ? raw.toString("utf8") : Buffer.from(raw as ArrayBuffer).toString("utf8");
        // The hot path: a `next` frame; pick the seq out without parsing the whole message.
        const next = /^\{"id":"1","type":"next","payload":\{"data":\{"runLifecycleChanged":\{"seq":(\d+)/.exec(text);
        if (next) {
          (times[next[1]] ??= []).push(t);
          return;
        }
        const m = JSON.parse(text) as { type: string; payload?: { data?: { runLifecycleChanged?: { seq?: number } } } };
        if (m.type === "connection_ack") {
          ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: SUB, variables: { f: { run: runId } } } }));
          clearTimeout(timer);
          resolve(true);
        } else if (m.type === "next") {
          const seq = m.payload?.data?.runLifecycleChanged?.seq;
          if (seq !== undefined) (times[seq] ??= []).push(t);
        } else if (m.type === "ping") {
          ws.send(JSON.stringify({ type: "pong" }));
        }
      });
      ws.on("error", () => {
        clearTimeout(timer);
        resolve(false);
      });
      sockets.push(ws);
    });
  process.on(
    "message",
    (m: ToClient) =>
      void (async () => {
        if (m.cmd === "connect") {
          let ok = 0;
          let failed = 0;
          // In waves: thousands of simultaneous handshakes only measure the accept queue.
          for (let i = 0; i < m.n; i += 100) {
            const got = await Promise.all(Array.from({ length: Math.min(100, m.n - i) }, () => open(m.url, m.runId)));
            for (const g of got) {
              if (g) ok++;
              else failed++;
            }
          }
          send({ connected: ok, failed });
        } else if (m.cmd === "collect") {
          send({ times });
          times = {};
        } else if (m.cmd === "close") {
          for (const s of sockets) s.terminate();
          sockets.length = 0;
          send({ closed: true });
        }
      })(),
  );
  process.on("disconnect", () => process.exit(0));
}

// ---------------------------------------------------------------- driver (replica A)
async function benchMain(): Promise<void> {
  const { benchServer, percentile, round, rssSampler } = await import("./support");
  const { registerSprite } = await import("../src/registry/register");
  const self = fileURLToPath(import.meta.url);
  const root = path.resolve(path.dirname(self), "..");
  const ROUNDS = Number(process.env.ROUNDS ?? 20);
  const deadline = Date.now() + 8 * 60_000;
  const guard = setInterval(() => {
    if (Date.now() > deadline) {
      console.error("bench:fanout: took longer than 8 minutes; giving up");
      process.exit(1);
    }
  }, 1000);
  guard.unref();

  // Replica B joins A's embedded database, so A runs in cluster mode explicitly (its default there is off).
  const a = await benchServer({ OPS_POLL_INTERVAL_MS: "600000", OPS_REPLICA_ID: "bench-a", LOG_LEVEL: "error", OPS_CLUSTER: "on" });
  const repo = mkdtempSync(path.join(tmpdir(), "ops-fanout-"));
  mkdirSync(path.join(repo, ".superloop", "loops", "demo-loop"), { recursive: true });
  const { run, sprite } = await registerSprite(a.app, { name: "fanout", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" }, "bench");
  await a.app.requestSync(run.id);
  const relayId = Buffer.from(`Run:${run.id}`).toString("base64");

  const clients: ChildProcess[] = [];
  const children: ChildProcess[] = [];
  const ask = <T extends FromClient>(c: ChildProcess, m: ToClient) =>
    new Promise<T>((resolve) => {
      c.once("message", (r: FromClient) => resolve(r as T));
      c.send(m);
    });
  // One client process by default: on a 2-core machine a second one only competes with the server for CPU.
  for (let i = 0; i < Number(process.env.CLIENT_PROCS ?? 1); i++) {
    const c = fork(self, ["clients"], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    clients.push(c);
    children.push(c);
  }
  const cleanup = () => {
    for (const c of children) c.kill("SIGKILL");
  };
  process.on("exit", cleanup);

  // The change a poll commits when a run stops or starts: run row + transition in one transaction, then the
  // committing replica's publish (what the ingestor does after commit).
  let state: LifecycleState = run.state;
  const commitChange = async (): Promise<{ seq: number; t0: number }> => {
    state = state === "RUNNING" ? "STOPPED" : "RUNNING";
    const reason = state === "RUNNING" ? "running" : "max_iterations";
    const c = await a.app.pool.connect();
    try {
      await c.query("BEGIN");
      const r = await c.query<{ seq: number; prev: string }>(
        `UPDATE "Run" r SET seq = r.seq + 1, state = $2::"LifecycleState", "stateReason" = $3 FROM "Run" old WHERE r.id = $1 AND old.id = r.id RETURNING r.seq, old.state::text AS prev`,
        [run.id, state, reason],
      );
      const { seq, prev } = r.rows[0];
      await c.query(`INSERT INTO "LifecycleTransition" ("runId", seq, "from", "to", reason, trigger) VALUES ($1, $2, $3::"LifecycleState", $4::"LifecycleState", $5, 'ingest')`, [
        run.id,
        seq,
        prev,
        state,
        reason,
      ]);
      const t0 = now();
      await c.query("COMMIT");
      a.app.bus.publish("run", run.id, { runId: run.id, spriteId: sprite.id, seq, previousState: prev as LifecycleState, state, reason, lifecycleChanged: true, at: new Date() });
      return { seq, t0 };
    } finally {
      c.release();
    }
  };

  /** Connects n subscribers to url (split over the client processes) and waits until the server counts them. */
  const connect = async (url: string, n: number, count: () => Promise<number>, expectTotal: number) => {
    const per = Math.ceil(n / clients.length);
    const res = await Promise.all(clients.map((c, i) => ask<{ connected: number; failed: number }>(c, { cmd: "connect", url, n: Math.min(per, n - i * per), runId: relayId })));
    const failed = res.reduce((s, r) => s + r.failed, 0);
    if (failed) throw new Error(`${failed} subscribers could not connect to ${url}`);
    for (let i = 0; i < 600 && (await count()) < expectTotal; i++) await new Promise((r) => setTimeout(r, 50));
    if ((await count()) < expectTotal) throw new Error(`only ${await count()} of ${expectTotal} subscriptions live`);
  };
  const collectAll = async () => {
    const merged: Record<string, number[]> = {};
    for (const c of clients) {
      const r = await ask<{ times: Record<string, number[]> }>(c, { cmd: "collect" });
      for (const [seq, ts] of Object.entries(r.times)) (merged[seq] ??= []).push(...ts);
    }
    return merged;
  };
  const closeAll = () => Promise.all(clients.map((c) => ask(c, { cmd: "close" })));

  /** `count` changes, each awaited by every subscriber; returns every delivery latency (ms), sorted. */
  const rounds = async (expectPerChange: number, count = ROUNDS) => {
    const lat: number[] = [];
    for (let r = 0; r < count; r++) {
      const { seq, t0 } = await commitChange();
      let got: number[] = [];
      for (let i = 0; i < 200; i++) {
        await new Promise((res) => setTimeout(res, 25));
        got = (await collectAllPeek(seq)) ?? [];
        if (got.length >= expectPerChange) break;
      }
      if (got.length < expectPerChange) throw new Error(`change ${seq}: ${got.length} of ${expectPerChange} deliveries`);
      for (const t of got) lat.push(t - t0);
      await new Promise((res) => setTimeout(res, 100));
    }
    return lat.sort((x, y) => x - y);
  };
  let pending: Record<string, number[]> = {};
  const collectAllPeek = async (seq: number) => {
    const m = await collectAll();
    for (const [s, ts] of Object.entries(m)) (pending[s] ??= []).push(...ts);
    return pending[String(seq)];
  };

  const sampler = rssSampler(50);
  const result: Record<string, unknown> = { bench: "fanout", rounds: ROUNDS };
  const subscriptionsOn = async (url: string) => {
    const r = (await (await fetch(url.replace("/graphql", "/ready"))).json()) as { checks: { subscriptions?: number } };
    return r.checks.subscriptions ?? 0;
  };
  const countA = () => subscriptionsOn(a.url);

  // ---- one replica
  const summary: string[] = [];
  let connected = 0;
  for (const n of [1000, 5000]) {
    await connect(a.url, n - connected, countA, n);
    connected = n;
    pending = {};
    const rssBefore = process.memoryUsage().rss;
    const lat = await rounds(n);
    const p50 = round(percentile(lat, 50), 2);
    const p99 = round(percentile(lat, 99), 2);
    result[`n${n}`] = { p50Ms: p50, p99Ms: p99, maxMs: round(lat.at(-1)!, 2), rssMB: round(rssBefore / 2 ** 20, 0) };
    summary.push(`one replica, ${n} subscribers: p50 ${p50} ms, p99 ${p99} ms, max ${round(lat.at(-1)!, 2)} ms, server RSS ${round(rssBefore / 2 ** 20, 0)} MB`);
  }
  const peakRss = sampler.stop();
  result.rssMB = round(peakRss / 2 ** 20, 0);
  await closeAll();
  for (let i = 0; i < 200 && (await countA()) > 0; i++) await new Promise((r) => setTimeout(r, 25));

  // ---- two replicas: B is a separate process on A's database; half the subscribers on each.
  const dataDir = mkdtempSync(path.join(tmpdir(), "ops-fanout-b-"));
  const b = spawn(process.execPath, ["--import", "tsx", path.join(root, "src/main.ts")], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      DATABASE_URL: a.app.databaseUrl,
      PORT: "0",
      OPS_DATA_DIR: dataDir,
      OPS_REPLICA_ID: "bench-b",
      OPS_POLL_INTERVAL_MS: "600000",
      LOG_LEVEL: "error",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(b);
  const bUrl = await new Promise<string>((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => reject(new Error(`replica B did not start:\n${out}`)), 60_000);
    b.stdout.on("data", (d) => {
      out += d;
      const m = /GraphiQL: (\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
  });
  const countB = () => subscriptionsOn(bUrl);
  const HALF = 1000;
  const settle = async (count: () => Promise<number>) => {
    for (let i = 0; i < 200 && (await count()) > 0; i++) await new Promise((r) => setTimeout(r, 25));
  };
  // 1,000 subscribers on B; every change is committed (and published locally) on A, so B learns of it
  // only through NOTIFY and its cursor read.
  await connect(bUrl, HALF, countB, HALF);
  pending = {};
  const onB = await rounds(HALF);
  await closeAll();
  await settle(countB);
  // The hop itself, without the width of the fan-out: one subscriber on A, then one on B, same changes.
  const HOP_ROUNDS = Math.max(ROUNDS, 30);
  const single = async (url: string, count: () => Promise<number>) => {
    await connect(url, 1, count, 1);
    pending = {};
    const lat = await rounds(1, HOP_ROUNDS);
    await closeAll();
    await settle(count);
    return lat;
  };
  const hopA = await single(a.url, countA);
  const hopB = await single(bUrl, countB);
  // Both replicas at once: half the subscribers on each.
  await connect(a.url, HALF, countA, HALF);
  await connect(bUrl, HALF, countB, HALF);
  pending = {};
  const both = await rounds(2 * HALF);
  await closeAll();

  const p = (l: number[], q: number) => round(percentile(l, q), 2);
  const hop = round(p(hopB, 50) - p(hopA, 50), 2);
  result.crossReplica = {
    subscribers: HALF,
    p50Ms: p(onB, 50),
    p99Ms: p(onB, 99),
    hopP50Ms: hop,
    singleSubscriber: { localP50Ms: p(hopA, 50), remoteP50Ms: p(hopB, 50), remoteP99Ms: p(hopB, 99), rounds: HOP_ROUNDS },
    bothReplicas: { subscribers: 2 * HALF, p50Ms: p(both, 50), p99Ms: p(both, 99) },
  };
  summary.push(`two replicas, ${HALF} subscribers on B, changes committed on A (NOTIFY): p50 ${p(onB, 50)} ms, p99 ${p(onB, 99)} ms`);
  summary.push(`  one subscriber: on A (local) p50 ${p(hopA, 50)} ms, on B p50 ${p(hopB, 50)} ms (p99 ${p(hopB, 99)} ms) → the hop adds ${hop} ms at p50`);
  summary.push(`  ${2 * HALF} subscribers split over A and B: p50 ${p(both, 50)} ms, p99 ${p(both, 99)} ms`);
  summary.push(`peak RSS of replica A (with the driver) while serving 5,000: ${result.rssMB} MB`);

  b.kill("SIGTERM");
  await new Promise((r) => b.once("exit", r));
  for (const c of clients) c.disconnect();
  await a.close();

  const n5000 = result.n5000 as { p99Ms: number };
  const cross = result.crossReplica as { hopP50Ms: number };
  console.log(`bench:fanout — ${ROUNDS} lifecycle changes per measurement, latency = commit → message parsed by the client`);
  for (const s of summary) console.log(s);
  console.log(`target p99 < 250 ms at 5,000 subscribers: ${n5000.p99Ms < 250 ? "met" : "NOT met"}; cross-replica hop < 20 ms at p50: ${cross.hopP50Ms < 20 ? "met" : "NOT met"}`);
  console.log(JSON.stringify(result));
  process.exit(0);
}
