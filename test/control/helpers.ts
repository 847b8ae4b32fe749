import { spawn } from "node:child_process";
import { mkdtempSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { startTestServer } from "../support/server";

export const SIM = path.resolve(import.meta.dirname, "../../bin/superloop-sim.mjs");
export const TOKENS = { admin: "admin-token-1", op: "operator-token-1", viewer: "viewer-token-1" };
export const OPS_TOKENS = `root:admin:${TOKENS.admin},alice:operator:${TOKENS.op},val:viewer:${TOKENS.viewer}`;

export const INTENT = `id kind stage requestedBy note error idempotencyKey resumeAfterApprove traceId deadlineAt requestedAt dispatchedAt acceptedAt confirmedAt endedAt
  stages { stage at observation evidence followUp } run { id }`;
export const RESULT = `__typename ... on ControlIntent { ${INTENT} } ... on Error { message }
  ... on PreconditionFailed { state stateReason intent { id stage error } }
  ... on ControlDisabled { intent { id stage error } } ... on ControlFrozen { intent { id stage } }
  ... on ValidationError { issues { path message } }`;

export function startControlServer(env: Record<string, string> = {}): Promise<RunningServer> {
  return startTestServer({ SUPERLOOP_BIN: SIM, OPS_POLL_INTERVAL_MS: "200", OPS_TOKENS, ...env });
}

export function emptyRepo(): string {
  return realpathSync(mkdtempSync(path.join(tmpdir(), "ops-ctl-")));
}

const started = new Set<number>();

/** A `superloop run` started by hand (not by the manager), in its own process group, like a real one. */
export function startSim(repo: string, env: Record<string, string> = {}): number {
  const child = spawn(SIM, ["run", "--repo", repo, "--loop", "demo-loop"], {
    detached: true,
    stdio: "ignore",
    env: { ...process.env, SIM_STEP_MS: "30", ...env },
  });
  child.unref();
  started.add(child.pid!);
  return child.pid!;
}

/** Kills every simulator process group this file started (by pid, never by name). */
export function killSims(): void {
  for (const pid of started) {
    for (const sig of ["SIGCONT", "SIGKILL"] as const) {
      try {
        process.kill(-pid, sig);
      } catch {
        // gone
      }
    }
  }
  started.clear();
}

export async function mutate(server: RunningServer, name: string, args: string, vars: Record<string, unknown>, token = TOKENS.op) {
  const decl = Object.keys(vars)
    .map((k) => `$${k}: ${k === "runId" ? "ID!" : k === "resumeAfterApprove" ? "Boolean" : k === "input" ? "RequestControlInput!" : "String"}`)
    .join(", ");
  const r = await gql(server.url, `mutation${decl ? `(${decl})` : ""} { r: ${name}(${args}) { ${RESULT} } }`, vars, token);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.r;
}

export async function runState(server: RunningServer, runId: string, token = TOKENS.viewer): Promise<{ state: string; stateReason: string }> {
  const r = await gql(server.url, `query($id: ID!) { run(id: $id) { ... on Run { state stateReason } } }`, { id: runId }, token);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.run;
}

export async function intentById(server: RunningServer, id: string, token = TOKENS.viewer) {
  const r = await gql(server.url, `query($id: ID!) { node(id: $id) { ... on ControlIntent { ${INTENT} } } }`, { id }, token);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.node;
}

/** Opens a raw graphql-ws socket, sends connection_init with `params`, resolves with the close code. */
export function wsCloseCode(server: RunningServer, params: Record<string, unknown>): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.url.replace(/^http/, "ws"), "graphql-transport-ws");
    const t = setTimeout(() => reject(new Error("socket was not closed")), 5000);
    ws.on("open", () => ws.send(JSON.stringify({ type: "connection_init", payload: params })));
    ws.on("message", (m) => {
      const msg = JSON.parse((m as Buffer).toString()) as { type: string };
      if (msg.type === "connection_ack") {
        clearTimeout(t);
        ws.close();
        resolve({ code: 0, reason: "acknowledged" });
      }
    });
    ws.on("close", (code, reason) => {
      clearTimeout(t);
      resolve({ code, reason: String(reason) });
    });
    ws.on("error", () => {});
  });
}

const OPSCTL = path.resolve(import.meta.dirname, "../../bin/opsctl.mjs");

/** Runs the real opsctl (bin/opsctl.mjs → tsx) against a server; resolves with its exit code and output. */
export function opsctl(server: RunningServer, args: string[], token: string | null = TOKENS.op, opts: { env?: Record<string, string>; signalAfterMs?: number } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [OPSCTL, ...args], {
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp", OPS_URL: server.url, ...(token ? { OPS_TOKEN: token } : {}), ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    if (opts.signalAfterMs !== undefined) setTimeout(() => child.kill("SIGINT"), opts.signalAfterMs);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
