import { randomUUID } from "node:crypto";
import type pg from "pg";
import { effectiveSeverity, route } from "../alerts/routing";
import { delivery, newTraceId, type EpisodeRow } from "../alerts/intake";
import { insertDeliveries, insertEpisodes, readAlertsConfig } from "../alerts/store";
import type { Severity } from "../alerts/config";

// A policy_action alert (automation paused itself, an ALERT rule fired), written through the alert machinery
// (src/alerts/: routing, episodes, deliveries sent and retried by the dispatcher) inside the caller's
// transaction: the change that raised it and the alert commit together or not at all. One-shot: there is no
// "resolved" moment for an action that happened.

export interface PolicyAlert {
  /** unique per occurrence, e.g. "policy:auto_pause:<iso time>" */
  key: string;
  severity: Severity;
  summary: string;
  details: Record<string, unknown>;
  run?: { id: string; loopId: string; repoPath: string; spriteId: string; spriteName: string } | null;
}

export async function raisePolicyAlert(c: Pick<pg.PoolClient, "query">, a: PolicyAlert, now = new Date()): Promise<number> {
  const { config } = await readAlertsConfig(c);
  const severity = effectiveSeverity(config, "policy_action", a.severity);
  const routed = route(config, { condition: "policy_action", severity, spriteName: a.run?.spriteName ?? null, labels: {} }, now);
  const ep: EpisodeRow = {
    id: randomUUID(),
    key: a.key,
    condition: "policy_action",
    severity,
    runId: a.run?.id ?? null,
    spriteId: a.run?.spriteId ?? null,
    subject: {
      summary: a.summary,
      details: a.details,
      run: a.run ? { id: a.run.id, loopId: a.run.loopId, repoPath: a.run.repoPath } : null,
      sprite: a.run ? { id: a.run.spriteId, name: a.run.spriteName } : null,
    },
    sinks: routed.map((r) => r.sink),
    traceId: newTraceId(),
    openedAt: now,
    resolvedAt: now,
    isNew: true,
  };
  await insertEpisodes(c, [ep]);
  await insertDeliveries(
    c,
    routed.map((r) => delivery(ep, r.sink, "trigger", now, r.notBefore)),
  );
  return routed.length;
}
