import { detectDivergence } from "./divergence";
import { pickFacts } from "./fact-paths";
import { latestRunIdentity } from "./identity";
import { LIFECYCLE_RULES } from "./rules";
import { ageMs } from "./time";
import type { LifecycleRule, Projection, RunFacts } from "./types";

export function matchRule(facts: RunFacts, rules: readonly LifecycleRule[] = LIFECYCLE_RULES): LifecycleRule {
  const rule = rules.find((candidate) => candidate.when(facts));
  // The table ends with a catch-all; reaching this means someone passed a table without one.
  if (rule === undefined) throw new Error("lifecycle rule table has no catch-all rule");
  return rule;
}

// The time the run last showed a sign of life. A start that has produced no event yet is measured from its
// dispatch, otherwise an old run's last event would make a brand-new start look stale at once.
function lastSignOfLife(facts: RunFacts, reason: string): string | null {
  if (reason === "starting") return facts.control.startDispatchedAt;
  return facts.events.last?.timestamp ?? facts.runtime.activeRun?.updated_at ?? facts.runtime.state?.updated_at ?? null;
}

/**
 * How long a RUNNING run may go without a sign of life. A run waiting on a usage limit writes nothing for up
 * to `usage_check.max_wait_seconds` by design (0 = it waits forever): only after that is it stale.
 */
export function staleAfterMs(facts: RunFacts, reason: string): number | null {
  if (reason !== "waiting_usage_limit") return facts.thresholds.staleAfterMs;
  const wait = facts.runtime.usageWaitMaxSeconds ?? 7200;
  return wait === 0 ? null : Math.max(facts.thresholds.staleAfterMs, wait * 1000);
}

export function isStale(facts: RunFacts, state: Projection["state"], reason: string): boolean {
  if (state !== "RUNNING") return false;
  const limit = staleAfterMs(facts, reason);
  const age = ageMs(facts.now, lastSignOfLife(facts, reason));
  return limit !== null && age !== null && age > limit;
}

export function projectLifecycle(facts: RunFacts): Projection {
  const rule = matchRule(facts);
  const reason = typeof rule.reason === "string" ? rule.reason : rule.reason(facts);
  const identity = latestRunIdentity(facts);
  return {
    state: rule.state,
    reason,
    ruleId: rule.id,
    runtimeRunId: identity.runtimeRunId,
    iteration: identity.iteration,
    divergence: detectDivergence(facts),
    stale: isStale(facts, rule.state, reason),
    evidence: pickFacts(facts, rule.facts),
  };
}
