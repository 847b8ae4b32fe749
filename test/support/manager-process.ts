import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { TEST_SECRET_ENV_PREFIXES } from "./server";

const ROOT = path.resolve(import.meta.dirname, "../..");

export interface ManagerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

export interface SpawnOptions {
  /** its own process group, as a terminal's foreground job: signal it all with process.kill(-child.pid, ...) */
  detached?: boolean;
  /** a checkout other than this one (its src/main.ts is run) */
  root?: string;
  /** the command instead of `node --import tsx src/main.ts` (e.g. ["npm", "start", "--"]) */
  command?: string[];
}

/** Starts `src/main.ts` as a real child process and waits until it prints its GraphiQL URL. */
export async function spawnManager(env: Record<string, string>, args: string[] = [], timeoutMs = 60_000, opts: SpawnOptions = {}): Promise<ManagerProcess> {
  const root = opts.root ?? ROOT;
  const [cmd, ...cmdArgs] = opts.command ?? [process.execPath, "--import", "tsx", path.join(root, "src/main.ts")];
  const child = spawn(cmd, [...cmdArgs, ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "warn", PORT: "0", OPS_SECRET_ENV_PREFIXES: TEST_SECRET_ENV_PREFIXES, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: opts.detached ?? false,
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`manager did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /GraphiQL: (\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    };
    child.stdout.on("data", check);
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`manager exited with ${code}:\n${out}`));
    });
  });
  return { child, url, output: () => out, exited };
}

/** Runs `src/main.ts` to its exit (a start that is expected to be refused): exit code and all output. */
export function runToExit(env: Record<string, string>, args: string[] = [], timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "src/main.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "warn", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`still running after ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(t);
      resolve({ code, output: out });
    });
  });
}
