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

/** Starts `src/main.ts` as a real child process and waits until it prints its GraphiQL URL. */
export async function spawnManager(env: Record<string, string>, args: string[] = [], timeoutMs = 60_000): Promise<ManagerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "src/main.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "warn", PORT: "0", OPS_SECRET_ENV_PREFIXES: TEST_SECRET_ENV_PREFIXES, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`manager did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /GraphiQL: (\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", check);
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`manager exited with ${code}:\n${out}`));
    });
  });
  return { child, url, output: () => out, exited };
}
