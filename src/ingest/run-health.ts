import type { ControlIntent, Run, Sprite } from "../generated/prisma/client";
import { projectHealth, type Health, type HealthReason } from "../lifecycle/health";
import { isHealthProfile, resolveThresholds, type HealthProfile, type HealthThresholds } from "../lifecycle/thresholds";
import { staleAfterMs } from "../lifecycle/project";
import { addMs } from "../lifecycle/time";
import type { Projection, RunFacts } from "../lifecycle/types";

export interface RunHealthInput {
  run: Run & { intents: ControlIntent[] };
  sprite: Sprite;
  facts: RunFacts;
  projection: Projection;
  /** stages of run.intents after this poll's updates, same order */
  intents: string[];
  transportFailures: number;
  transportError: string | null;
  /** The Sprite's agent speaks a protocol this manager refuses (why, and which it accepts). */
  agentIncompatible?: string | null;
  now: Date;
  defaultProfile: HealthProfile;
}

/** Per-sprite thresholds: its profile (or the global default) with explicit overrides from its config. */
export function spriteThresholds(sprite: Sprite, defaultProfile: HealthProfile): HealthThresholds {
  const cfg = (sprite.transportConfig ?? {}) as { healthOverrides?: Partial<HealthThresholds> };
  const profile = isHealthProfile(sprite.healthProfile) ? sprite.healthProfile : defaultProfile;
  return resolveThresholds(profile, cfg.healthOverrides ?? {});
}

/** A run waiting on a usage limit is silent until its wait is over (the same limit as its staleness): an ISO time, "never" (no limit) or null. */
function quietUntil(facts: RunFacts, projection: Projection): string | null {
  if (projection.reason !== "waiting_usage_limit") return null;
  const limit = staleAfterMs(facts, projection.reason);
  const since = facts.events.last?.timestamp;
  if (limit === null) return "never";
  return since ? addMs(since, limit) : null;
}

export function runHealth(input: RunHealthInput): Health {
  const { run, facts, projection } = input;
  const latest = run.intents[0] ?? null; // loaded newest first
  const heartbeat = facts.runtime.heartbeat;
  const health = projectHealth({
    now: input.now,
    state: projection.state,
    lastEventAt: facts.events.last?.timestamp ?? null,
    stateSince: projection.state === run.state ? run.stateSince.toISOString() : input.now.toISOString(),
    heartbeatAt: heartbeat?.timestamp ?? heartbeat?.updatedAt ?? null,
    transport: { failureStreak: input.transportFailures, failingSince: null },
    ingest: { status: facts.ingest.status, error: facts.ingest.error },
    divergence: projection.divergence,
    lastIntent: latest ? { kind: latest.kind, stage: input.intents[0] ?? latest.stage, at: latest.updatedAt.toISOString(), error: latest.error } : null,
    spriteStatus: input.sprite.status,
    thresholds: spriteThresholds(input.sprite, input.defaultProfile),
    loopNotFound: input.sprite.transport === "LOCAL" && !facts.runtime.loopDirExists && facts.events.count === 0,
    quietUntil: quietUntil(facts, projection),
    agentIncompatible: input.agentIncompatible ?? null,
    previousReasons: (Array.isArray(run.healthReasons) ? run.healthReasons : []) as unknown as HealthReason[],
  });
  // The streak alone does not tell an operator what to fix: show the raw reason of the latest failure.
  if (input.transportError === null) return health;
  const detail = input.transportError.slice(0, 500);
  return { ...health, reasons: health.reasons.map((r) => (r.code === "transport_unreachable" ? { ...r, message: `${r.message}; last error: ${detail}` } : r)) };
}
