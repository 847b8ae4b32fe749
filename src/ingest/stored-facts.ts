import type { RuntimeFacts as AdapterRuntimeFacts } from "../contract";
import { emptyEventFacts } from "../lifecycle/event-facts";
import type { EventFacts, RuntimeFacts } from "../lifecycle/types";

// What Run.facts holds: the incremental fold of the event log plus the runtime facts of the latest poll.
export interface StoredFacts {
  events: EventFacts;
  runtime: RuntimeFacts | null;
}

export function parseStoredFacts(json: unknown): StoredFacts {
  const v = (json ?? {}) as Partial<StoredFacts>;
  return { events: v.events ?? emptyEventFacts(), runtime: v.runtime ?? null };
}

export const EMPTY_RUNTIME: RuntimeFacts = {
  loopDirExists: false,
  eventsFileExists: false,
  state: null,
  activeRun: null,
  activeRunAlive: null,
  processStopped: null,
  approval: null,
  lastSummary: null,
  heartbeat: null,
};

/** The agent's reading, reduced to what the projection reads (the raw files stay in the snapshot). */
export function toRuntimeFacts(f: AdapterRuntimeFacts): RuntimeFacts {
  return {
    loopDirExists: f.loopDirExists,
    eventsFileExists: f.eventsFileExists,
    state: f.state ? { active: f.state.active === true, current_loop_id: str(f.state.current_loop_id), iteration: num(f.state.iteration), updated_at: str(f.state.updated_at) } : null,
    activeRun: f.activeRun
      ? {
          pid: num(f.activeRun.pid),
          pgid: num(f.activeRun.pgid),
          loop_id: str(f.activeRun.loop_id),
          iteration: num(f.activeRun.iteration),
          stage: str(f.activeRun.stage),
          updated_at: str(f.activeRun.updated_at),
        }
      : null,
    activeRunAlive: f.activeRunAlive,
    processStopped: f.processStopped,
    approval: f.approval ? { status: String(f.approval.status), run_id: str(f.approval.run_id), iteration: num(f.approval.iteration), requested_at: str(f.approval.requested_at) } : null,
    lastSummary: f.lastSummary
      ? {
          run_id: str(f.lastSummary.run_id),
          iteration: num(f.lastSummary.iteration),
          completion_ok: typeof f.lastSummary.completion_ok === "boolean" ? f.lastSummary.completion_ok : null,
          ended_at: str(f.lastSummary.ended_at),
          gates: isRecord(f.lastSummary.gates) ? f.lastSummary.gates : null,
          stuck: isStuck(f.lastSummary.stuck) ? f.lastSummary.stuck : null,
        }
      : null,
    heartbeat: f.heartbeat ? { timestamp: str(f.heartbeat.timestamp), updatedAt: str(f.heartbeat.updatedAt), status: str(f.heartbeat.status), stage: str(f.heartbeat.stage) } : null,
    ...(f.supervisor ? { supervisor: { status: f.supervisor.status, pid: f.supervisor.pid, bootId: f.supervisor.bootId, currentBootId: f.supervisor.currentBootId } } : {}),
    launch: f.launch ?? null,
    launchAlive: f.launchAlive ?? null,
    rateLimit: f.rateLimit ? { role: str(f.rateLimit.role), occurred_at: str(f.rateLimit.occurred_at), message: rateLimitMessage(f.rateLimit.info), type: str(f.rateLimit.info?.type) } : null,
    stuck: f.stuck ? { streak: num(f.stuck.streak), threshold: num(f.stuck.threshold), reason: str(f.stuck.reason), updated_at: str(f.stuck.updated_at) } : null,
    escalation: f.escalation
      ? {
          timestamp: str(f.escalation.timestamp),
          iteration: num(f.escalation.iteration),
          type: str(f.escalation.type),
          status: str(f.escalation.status),
          proposal: proposalText(f.escalation.recovery_proposal),
          reason: str(f.escalation.reason),
        }
      : null,
    usageWaitMaxSeconds: num(f.usageWaitMaxSeconds),
  };
}

/** The provider's own words (`info.error.message`, e.g. "Rate limit exceeded") over the runtime's summary of them. */
function rateLimitMessage(info: unknown): string | null {
  if (!isRecord(info)) return null;
  const error = info["error"];
  const provider = isRecord(error) ? str(error["message"]) : null;
  return (provider ?? str(info["message"]))?.slice(0, 500) ?? null;
}

/** The runtime's recovery proposal is an object ({command, ...}) or a string: kept as short text for the operator. */
function proposalText(v: unknown): string | null {
  if (typeof v === "string") return v.slice(0, 500);
  if (isRecord(v)) {
    const command = v["command"] ?? v["action"] ?? v["cmd"];
    if (typeof command === "string") return command.slice(0, 500);
    return JSON.stringify(v).slice(0, 500);
  }
  return null;
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isStuck = (v: unknown): v is { streak: number; threshold: number } => isRecord(v) && typeof v.streak === "number" && typeof v.threshold === "number";
