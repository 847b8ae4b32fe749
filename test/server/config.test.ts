import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config";

function runMain(args: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe("configuration", () => {
  it("applies defaults", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ PORT: 4000, HOST: "127.0.0.1", OPS_DATA_DIR: "./data", OPS_POLL_INTERVAL_MS: 2000, DATABASE_URL: undefined, OPS_DEMO: false });
  });

  it("reports every invalid setting at once", () => {
    try {
      loadConfig({ PORT: "abc", DATABASE_URL: "mysql://x", OPS_HEALTH_PROFILE: "lax" });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const issues = (e as ConfigError).issues.join("\n");
      expect(issues).toMatch(/^PORT:/m);
      expect(issues).toMatch(/^DATABASE_URL: must be a postgresql:\/\/ URL/m);
      expect(issues).toMatch(/^OPS_HEALTH_PROFILE:/m);
    }
  });

  it("npm start -- --help lists the settings", async () => {
    const r = await runMain(["--help"], {});
    expect(r.code).toBe(0);
    for (const name of ["PORT", "HOST", "DATABASE_URL", "OPS_DATA_DIR", "OPS_POLL_INTERVAL_MS", "OPS_TOKENS", "SUPERLOOP_BIN"]) expect(r.stdout).toContain(name);
  });

  it("exits 2 with a clear message on invalid config", async () => {
    const r = await runMain([], { PORT: "not-a-port" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid configuration:\n\s+- PORT:/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("fails fast with one line on an unreachable DATABASE_URL", async () => {
    const r = await runMain([], { PORT: "0", DATABASE_URL: "postgresql://u:secret@127.0.0.1:1/nope" });
    expect(r.code).toBe(1);
    const lines = r.stderr
      .trim()
      .split("\n")
      .filter((l) => !l.includes("OPS_TOKENS"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/cannot start: cannot connect to PostgreSQL at postgresql:\/\/u:\*\*\*@127\.0\.0\.1:1\/nope/);
    expect(r.stderr).not.toContain("secret");
    expect(r.ms).toBeLessThan(15_000);
  });

  it("refuses a non-loopback bind without tokens", async () => {
    const r = await runMain([], { PORT: "0", HOST: "0.0.0.0", DATABASE_URL: "postgresql://u@127.0.0.1:1/x" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to bind 0\.0\.0\.0 without OPS_TOKENS/);
  });
});
