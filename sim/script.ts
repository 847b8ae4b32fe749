import path from "node:path";
import { field, isJsonObject, type JsonObject } from "./artifacts";
import { paths, readJson, ROLES, type Role } from "./files";

// What a `run` does for a loop, decided before it starts: scripted by the loop's `simulator` entry in
// `.superloop/config.json`, or by the runtime's own mock runner the loop's roles point at, or by the environment
// (the header of cli.ts lists the three).

export interface Script {
  id: string;
  /** by config.json's `simulator` entry: the n-th run of the loop does `invocations[n]`, then "pass" */
  scripted: boolean;
  maxIterations: number;
  approval: boolean;
  stepMs: number;
  passOnIteration: number;
  /** "pass", "maxiter", "crash", "stuck" (config.json may hold anything: what is not one of these never passes) */
  invocations: unknown[];
  /** per role, the mode of the runtime's mock runner; null when the loop does not use it */
  mock: Record<Role, string> | null;
  /** a role's timeout (`timeouts.default` when `timeouts.enabled`), 0 = none */
  timeoutSeconds: number;
  /** `stuck.threshold` when `stuck.enabled`, 0 = off */
  stuckThreshold: number;
}

/** A loop entry of config.json: an object with a string id. */
interface LoopEntry extends JsonObject {
  id: string;
}

const isLoopEntry = (value: unknown): value is LoopEntry => isJsonObject(value) && typeof value.id === "string";

/** An optional sub-object of a loop entry: anything else (a string, an array, null) reads as absent. */
const section = (value: unknown): JsonObject | undefined => (isJsonObject(value) ? value : undefined);

const listOrEmpty = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** A non-negative number of milliseconds from the environment; 0 when it is not a number. */
function envMs(name: string, fallback: number): number {
  return Math.max(0, Number(process.env[name] ?? fallback) || 0);
}

/**
 * How `run` behaves for a loop: the loop's `simulator` entry in config.json if it has one, else the environment.
 * Without --loop, the first loop in config.json (the real CLI runs every configured loop), else "demo-loop".
 */
export function loadScript(repo: string, loopId: string | undefined): Script {
  const config = readJson(paths(repo).config);
  const loops = Array.isArray(config?.loops) ? config.loops.filter(isLoopEntry) : [];
  const id = loopId ?? loops[0]?.id ?? "demo-loop";
  const entry = loops.find((l) => l.id === id);
  // an array is an object too: a `simulator: []` entry scripts the loop with every default
  const sim = entry?.simulator;
  const none = { mock: null, timeoutSeconds: 0, stuckThreshold: 0 };
  if (entry && typeof sim === "object" && sim !== null) {
    return {
      ...none,
      id,
      scripted: true,
      maxIterations: Number(entry.max_iterations ?? 3),
      approval: section(entry.approval)?.enabled === true,
      stepMs: Number(field(sim, "step_ms") ?? 1000),
      passOnIteration: Number(field(sim, "pass_on_iteration") ?? 1),
      invocations: listOrEmpty(field(sim, "invocations")),
    };
  }
  const mock = entry ? mockRoles(config, entry) : null;
  if (entry && mock) {
    return {
      id,
      scripted: false,
      mock,
      maxIterations: Number(entry.max_iterations ?? 3),
      approval: section(entry.approval)?.enabled === true && section(entry.approval)?.require_on_completion === true,
      stepMs: envMs("SIM_STEP_MS", 50),
      passOnIteration: 1,
      timeoutSeconds: section(entry.timeouts)?.enabled === true ? Number(field(entry.timeouts, "default") ?? 0) : 0,
      stuckThreshold: section(entry.stuck)?.enabled === true ? Number(field(entry.stuck, "threshold") ?? 0) : 0,
      invocations: ["mock"],
    };
  }
  const approval = process.env.SIM_APPROVAL === "1";
  const outcomes: Record<string, string> = { complete: "pass", hang: "stuck", crash: "crash" };
  const outcome = outcomes[process.env.SIM_OUTCOME ?? "complete"] ?? "pass";
  return {
    ...none,
    id,
    scripted: false,
    maxIterations: 3,
    approval,
    stepMs: envMs("SIM_STEP_MS", 200),
    passOnIteration: 1,
    invocations: [approval ? "pass" : outcome],
  };
}

/**
 * Per role, the mode of the runtime's mock runner the loop's config points it at (null when the loop does not
 * use the mock runner): `mock-runner.sh <mode>`, or a command that prints a provider's rate-limit error.
 */
function mockRoles(config: JsonObject | null, entry: LoopEntry): Record<Role, string> | null {
  if (!isJsonObject(entry.roles)) return null;
  const out: Partial<Record<Role, string>> = {};
  for (const role of ROLES) {
    const name = field(field(entry.roles, role), "runner");
    const argv = field(field(config?.runners, String(name)), "command");
    const command = Array.isArray(argv) ? argv.map(String) : null;
    if (!command) return null;
    const at = command.findIndex((part) => path.basename(part) === "mock-runner.sh");
    if (at !== -1) out[role] = command[at + 1] ?? "success";
    else if (command.join(" ").includes("rate_limit_error")) out[role] = "rate-limit";
    else return null;
  }
  return out as Record<Role, string>;
}
