import { evaluateCondition, selects, type RunView } from "./conditions";
import type { Rule } from "./schema";

// simulatePolicy, pure: replays a run's stored history (lifecycle transitions, event ingestion, intent endings)
// and reports every condition episode the rules would have proposed in a window. Between two stored changes a
// run's view is constant and every condition only grows truer with time, so each interval is evaluated once,
// just before the next change: an episode that held at any moment is found, with the same episode key the
// live engine derives (src/policy/conditions.ts).

export interface ReplayRun {
  id: string;
  loopId: string;
  spriteName: string;
  spriteLabels: readonly string[];
  transport: string;
  /** ordered by seq; control_mode entries (state unchanged) are ignored */
  transitions: readonly { at: Date; to: string; reason: string; trigger: string }[];
  /** ordered by line: when each event was stored and its own timestamp */
  events: readonly { ingestedAt: Date; timestamp: Date }[];
  intents: readonly { id: string; kind: string; stage: string; endedAt: Date | null }[];
}

export interface SimulatedCandidate {
  ruleId: string;
  runId: string;
  episodeKey: string;
  action: string;
  condition: string;
  since: Date;
  /** the first moment in the window at which the rule would have proposed it */
  at: Date;
  detail: string;
}

/** Rules simulatePolicy cannot replay: health reasons are not stored per moment. */
export const notReplayable = (r: Rule): boolean => r.condition.type === "health_reason";

export function replayRun(rules: readonly Rule[], run: ReplayRun, from: Date, to: Date): SimulatedCandidate[] {
  const active = rules.filter((r) => r.mode !== "off" && !notReplayable(r) && selects(r.selector, run));
  if (!active.length) return [];
  const points = new Set<number>();
  for (const t of run.transitions) if (t.trigger !== "control_mode") points.add(t.at.getTime());
  for (const e of run.events) points.add(e.ingestedAt.getTime());
  for (const i of run.intents) if (i.endedAt) points.add(i.endedAt.getTime());
  const times = [...points].filter((t) => t <= to.getTime()).sort((a, b) => a - b);
  const out = new Map<string, SimulatedCandidate>();
  for (let k = 0; k < times.length; k++) {
    const start = times[k];
    const end = Math.min((times[k + 1] ?? Infinity) - 1, to.getTime());
    if (end < from.getTime() || end < start) continue;
    const view = viewAt(run, start);
    if (!view) continue;
    const at = new Date(end);
    for (const rule of active) {
      const hit = evaluateCondition(rule.condition, view, at);
      if (!hit) continue;
      const key = `${rule.id}|${run.id}|${hit.episodeKey}`;
      if (out.has(key)) continue;
      // the first moment it held: the later of the window's start, the interval's start and since + forMs
      const forMs = "forMs" in rule.condition ? rule.condition.forMs : 0;
      const first = Math.max(from.getTime(), start, hit.since.getTime() + forMs);
      out.set(key, { ruleId: rule.id, runId: run.id, episodeKey: hit.episodeKey, action: rule.action, condition: rule.condition.type, since: hit.since, at: new Date(first), detail: hit.detail });
    }
  }
  return [...out.values()];
}

/** The run as the live engine would have read it at `t` (null before it was registered). */
export function viewAt(run: ReplayRun, t: number): RunView | null {
  let state: string | null = null;
  let reason = "";
  let since = new Date(0);
  const history: { at: Date; state: string; reason: string }[] = [];
  for (const tr of run.transitions) {
    if (tr.at.getTime() > t) break;
    if (tr.trigger === "control_mode") continue;
    if (tr.to !== state || tr.reason !== reason) {
      since = tr.at;
      history.unshift({ at: tr.at, state: tr.to, reason: tr.reason });
    }
    state = tr.to;
    reason = tr.reason;
  }
  if (state === null) return null;
  // events are stored in line order, so ingestedAt never decreases: binary search for the last one stored by t
  let lo = 0;
  let hi = run.events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (run.events[mid].ingestedAt.getTime() <= t) lo = mid + 1;
    else hi = mid;
  }
  const lastEventAt = lo > 0 ? run.events[lo - 1].timestamp : null;
  let lastIntent: RunView["lastIntent"] = null;
  for (const i of run.intents) {
    if (!i.endedAt || i.endedAt.getTime() > t) continue;
    if (!lastIntent || i.endedAt > lastIntent.endedAt!) lastIntent = i;
  }
  return {
    id: run.id,
    loopId: run.loopId,
    spriteName: run.spriteName,
    spriteLabels: run.spriteLabels,
    transport: run.transport,
    state,
    stateReason: reason,
    stateSince: since,
    lastEventAt,
    healthCodes: [],
    lastIntent,
    history: history.slice(0, HISTORY),
  };
}

/** As many history entries as the live engine reads (src/policy/candidates.ts loadHistories). */
export const HISTORY = 50;

export function simulate(rules: readonly Rule[], runs: readonly ReplayRun[], from: Date, to: Date): SimulatedCandidate[] {
  return runs.flatMap((r) => replayRun(rules, r, from, to)).sort((a, b) => a.at.getTime() - b.at.getTime() || a.ruleId.localeCompare(b.ruleId));
}
