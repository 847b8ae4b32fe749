import http from "node:http";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpRequest } from "../../src/transports/http";
import { decodeFrames, execQuery } from "../../src/transports/sprites-exec";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";
import { repoFromRecording } from "../support/fixtures";

// The fake is only worth testing against if it is as strict as the documentation (docs/sprites.md): these
// pin what it enforces, so a client that passes the transport tests passes for the documented reasons.

let api: FakeSpritesApi;
beforeAll(async () => {
  api = await startFakeSpritesApi({ idleMs: 400, coldAfterMs: 600, maxRunAfterDisconnectMs: 300 });
});
afterAll(() => api.close());

const req = (pathAndQuery: string, method: "GET" | "POST" = "GET") =>
  httpRequest({
    url: new URL(api.url + pathAndQuery),
    method,
    headers: { authorization: `Bearer ${api.token}` },
    ...(method === "POST" ? { body: Buffer.alloc(0) } : {}),
    connectTimeoutMs: 2000,
    totalTimeoutMs: 10_000,
  });

async function until<T>(what: string, probe: () => T | null | false | Promise<T | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? null;
  } catch {
    return null;
  }
}

function tasksCall(socketPath: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ socketPath, path: p, method, headers: { host: "sprite", "content-type": "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as unknown) : null });
      });
    });
    r.on("error", reject);
    r.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe("fake Sprites API: the documented parameters and error shapes", () => {
  it("fs/read needs both path and workingDir (400), answers ENOENT as {error, code, path}, and reads bytes", async () => {
    const repo = repoFromRecording("approval");
    api.create("fs-1", { dir: repo, idleMs: 60_000 });
    const file = `${repo}/.superloop/loops/demo-loop/approval.json`;
    const noWd = await req(`/v1/sprites/fs-1/fs/read?${new URLSearchParams({ path: file }).toString()}`);
    expect(noWd.status).toBe(400);
    expect(JSON.parse(noWd.body.toString("utf8"))).toMatchObject({ error: expect.stringContaining("workingDir"), code: "EINVAL" });
    expect((await req(`/v1/sprites/fs-1/fs/read?${new URLSearchParams({ workingDir: repo }).toString()}`)).status).toBe(400);
    const missing = await req(`/v1/sprites/fs-1/fs/read?${new URLSearchParams({ path: "nope.json", workingDir: repo }).toString()}`);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body.toString("utf8"))).toEqual({ error: expect.any(String), code: "ENOENT", path: "nope.json" });
    const ok = await req(`/v1/sprites/fs-1/fs/read?${new URLSearchParams({ path: file, workingDir: repo }).toString()}`);
    expect(ok.status).toBe(200);
    expect(ok.body.equals(readFileSync(file))).toBe(true);
  });

  it("429 carries Retry-After and retry_after_seconds; exec needs cmd and path; one frame per chunk, exit frame last", async () => {
    const s = api.create("ex-1", { idleMs: 60_000 });
    s.failNext = { status: 429, count: 1, retryAfterSec: 7 };
    const limited = await req("/v1/sprites/ex-1");
    expect(limited.status).toBe(429);
    expect(limited.headers["retry-after"]).toBe("7");
    expect(JSON.parse(limited.body.toString("utf8"))).toMatchObject({ error: "rate_limited", retry_after_seconds: 7 });
    expect((await req("/v1/sprites/ex-1/exec?cmd=true", "POST")).status).toBe(400); // no path
    const res = await req(`/v1/sprites/ex-1/exec?${execQuery(["sh", "-c", "printf out; printf err >&2; exit 3"])}`, "POST");
    expect(res.status).toBe(200);
    expect(res.chunks.every((c) => [1, 2, 3].includes(c[0]))).toBe(true);
    expect(res.chunks[res.chunks.length - 1].equals(Buffer.from([3, 3]))).toBe(true);
    expect(decodeFrames(res.chunks)).toEqual({ exitCode: 3, stdout: Buffer.from("out"), stderr: Buffer.from("err") });
  });
});

describe("fake Sprites API: exec outliving its connection, and the lifecycle", () => {
  it("max_run_after_disconnect kills a command that outlives its connection; a setsid'd one survives that", async () => {
    api.create("mr-1", { idleMs: 60_000 });
    const url = new URL(`${api.url}/v1/sprites/mr-1/exec?${execQuery(["sh", "-c", "setsid -f sleep 30 >/dev/null 2>&1 </dev/null; exec sleep 30"])}`);
    await new Promise<void>((resolve, reject) => {
      const r = http.request(url, { method: "POST", headers: { authorization: `Bearer ${api.token}` } }, (res) => {
        res.destroy(); // the client goes away while the command still runs
        resolve();
      });
      r.on("error", reject);
      r.end();
    });
    const both = await until("two processes", () => (api.processes("mr-1").length === 2 ? api.processes("mr-1") : null));
    const survivor = await until("the attached one killed", () => (api.processes("mr-1").length === 1 ? api.processes("mr-1")[0] : null), 5000);
    expect(both).toContain(survivor);
    expect(readFileSync(`/proc/${survivor}/cmdline`, "utf8")).toContain("sleep");
  });

  it("idle → warm (processes stopped), wake on fs/exec (continued), → cold (killed, new boot id); status polls never wake it", async () => {
    const s = api.create("lc-1");
    await req(`/v1/sprites/lc-1/exec?${execQuery(["sh", "-c", "setsid -f sleep 30 >/dev/null 2>&1 </dev/null"])}`, "POST");
    const isSleep = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep\0");
      } catch {
        return false;
      }
    };
    const [pid] = await until("the detached sleep alone", () => {
      const pids = api.processes("lc-1");
      return pids.length === 1 && isSleep(pids[0]) ? pids : null;
    });
    await until("warm", () => s.status === "warm");
    // SIGSTOP is delivered asynchronously: on a loaded machine the state lags the signal by a scheduling slice
    await until("the process stopped (T)", () => procState(pid) === "T", 5000);
    await req("/v1/sprites/lc-1"); // a status read
    expect(s.status).toBe("warm");
    await req(`/v1/sprites/lc-1/exec?${execQuery(["true"])}`, "POST");
    await until("the process continued", () => procState(pid) !== "T", 5000);
    const boot = s.bootId;
    await until("cold", () => s.status === "cold");
    expect([null, "Z"]).toContain(procState(pid)); // killed (a zombie until whoever adopted it reaps it)
    expect(s.bootId).not.toBe(boot);
    const bootRead = await req(`/v1/sprites/lc-1/exec?${execQuery(["cat", "/proc/sys/kernel/random/boot_id"])}`, "POST");
    expect(decodeFrames(bootRead.chunks).stdout.toString("utf8").trim()).toBe(s.bootId);
    expect(s.transitions.map((t) => t.to)).toEqual(["warm", "running", "warm", "cold", "running"]);
  });

  it("a live Task (Tasks API on the Sprite's socket) keeps it running; deleting it lets it sleep", async () => {
    const s = api.create("tk-1");
    expect((await tasksCall(s.socketPath, "POST", "/v1/tasks", { name: "run", expire: "5m" })).status).toBe(201);
    expect((await tasksCall(s.socketPath, "POST", "/v1/tasks", { name: "run", expire: "5m" })).status).toBe(409);
    expect((await tasksCall(s.socketPath, "PUT", "/v1/tasks/run", { expire: "2h" })).status).toBe(400);
    expect((await tasksCall(s.socketPath, "PUT", "/v1/tasks/run", { expire: "5m" })).status).toBe(200);
    expect((await tasksCall(s.socketPath, "GET", "/v1/tasks")).body).toEqual({ tasks: [{ name: "run", started_at: expect.any(String), expires_at: expect.any(String) }] });
    await new Promise((r) => setTimeout(r, 1000)); // well past idleMs
    expect(s.status).toBe("running");
    expect((await tasksCall(s.socketPath, "DELETE", "/v1/tasks/run")).status).toBe(204);
    expect((await tasksCall(s.socketPath, "DELETE", "/v1/tasks/run")).status).toBe(404);
    await until("warm once the task is gone", () => s.status === "warm");
  });
});
