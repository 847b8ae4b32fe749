import { execFileSync, spawnSync } from "node:child_process";

// PostgreSQL refuses to run as root. When the manager runs as root (a fresh VM or container, CI), the embedded
// server runs as an unprivileged system user instead; everything it must open (binaries, data directory) then has
// to be reachable by THAT user, which a checkout under a 0700 home or a `mktemp -d` directory is not.

/** Why the embedded PostgreSQL cannot run here, and what to set instead: main.ts prints it as one line, exit 2. */
export class EmbeddedUnavailableError extends Error {}

export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

export const SERVER_USER_NAME = "postgres";

function idOf(name: string): ServerUser | null {
  try {
    const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) && uid > 0 ? { name, uid, gid } : null;
  } catch {
    return null;
  }
}

function tryRun(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * The user the server runs as: null when we are not root (it runs as us). As root: the existing `postgres`
 * user, or a system user of that name created now (no home, no login shell).
 */
export function serverUser(): ServerUser | null {
  if (process.getuid?.() !== 0) return null;
  const existing = idOf(SERVER_USER_NAME);
  if (existing) return existing;
  tryRun("groupadd", ["--system", SERVER_USER_NAME]); // fails harmlessly when the group exists
  const created =
    tryRun("useradd", ["--system", "--gid", SERVER_USER_NAME, "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVER_USER_NAME]) ||
    tryRun("adduser", ["-S", "-D", "-H", SERVER_USER_NAME]); // busybox (Alpine)
  const user = created ? idOf(SERVER_USER_NAME) : null;
  if (!user) {
    throw new EmbeddedUnavailableError(
      `running as root, the embedded PostgreSQL needs an unprivileged "${SERVER_USER_NAME}" user and none could be created (useradd failed): create one (useradd --system ${SERVER_USER_NAME}), run as a normal user, or set DATABASE_URL`,
    );
  }
  return user;
}

/**
 * Whether `user` can do `test <flag> path` (-x search/execute, -r read, -w write). Asked of the kernel as that
 * user (a shell run with its uid/gid and no supplementary groups, exactly how the server is spawned), so ACLs,
 * group bits and every parent directory count.
 */
export function userCan(user: ServerUser | null, flag: "-x" | "-r" | "-w", target: string): boolean {
  const r = spawnSync("/bin/sh", ["-c", `test ${flag} "$1"`, "sh", target], {
    stdio: "ignore",
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
  });
  return r.status === 0;
}
