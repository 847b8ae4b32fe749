import type { Condition, Rule, Selector } from "./schema";

// Condition evaluation, pure: does a rule's condition hold for a run at `now`, since when, and which episode is
// it. The episode key is the moment the condition's clock started (the start of the state, the last event, the
// ambiguous intent), so one condition episode yields one candidate however often it is evaluated, and the
// replay (src/policy/replay.ts) derives the same key from stored transitions and events.

export interface RunView {
  id: string;
  loopId: string;
  spriteName: string;
  spriteLabels: readonly string[];
  transport: string;
  state: string;
  stateReason: string;
  stateSince: Date;
  lastEventAt: Date | null;
  healthCodes: readonly string[];
  /** the run's latest ended control intent, if any */
  lastIntent: { id: string; kind: string; stage: string; endedAt: Date | null } | null;
}

export interface Hit {
  /** when the condition's clock started */
  since: Date;
  episodeKey: string;
  detail: string;
}

const iso = (d: Date) => d.toISOString();
const longEnough = (since: Date, forMs: number, now: Date) => now.getTime() - since.getTime() >= forMs;
const minutes = (ms: number) => (ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`);

export function evaluateCondition(c: Condition, run: RunView, now: Date): Hit | null {
  const inState = (states: readonly string[], reasons: readonly string[] | undefined, forMs: number, what: string): Hit | null => {
    if (!states.includes(run.state)) return null;
    if (reasons && reasons.length && !reasons.includes(run.stateReason)) return null;
    if (!longEnough(run.stateSince, forMs, now)) return null;
    return { since: run.stateSince, episodeKey: `state:${iso(run.stateSince)}`, detail: `${what} ${run.state}/${run.stateReason} for ${minutes(now.getTime() - run.stateSince.getTime())}` };
  };
  switch (c.type) {
    case "state":
      return inState(c.states, c.reasons, c.forMs, "in");
    case "awaiting_approval":
      return inState(["AWAITING_APPROVAL"], undefined, c.forMs, "waiting for approval:");
    case "usage_limit_wait":
      return inState(["RUNNING", "STOPPED", "IDLE", "PAUSED"], ["waiting_usage_limit"], c.forMs, "usage-limit wait:");
    case "sprite_missing":
      return inState(["UNKNOWN", "STOPPED", "FAILED", "IDLE", "RUNNING", "PAUSED", "AWAITING_APPROVAL"], ["sprite_missing"], c.forMs, "Sprite missing:");
    case "stale_running": {
      if (run.state !== "RUNNING") return null;
      const anchor = staleAnchor(run.stateSince, run.lastEventAt);
      if (!longEnough(anchor, c.forMs, now)) return null;
      return { since: anchor, episodeKey: `stale:${iso(anchor)}`, detail: `RUNNING without a new event for ${minutes(now.getTime() - anchor.getTime())} (rule: ${minutes(c.forMs)})` };
    }
    case "intent_ambiguous": {
      const i = run.lastIntent;
      if (!i || i.stage !== "AMBIGUOUS" || !i.endedAt) return null;
      if (c.kinds && c.kinds.length && !c.kinds.includes(i.kind as never)) return null;
      return { since: i.endedAt, episodeKey: `intent:${i.id}`, detail: `${i.kind} intent ${i.id} ended AMBIGUOUS` };
    }
    case "health_reason": {
      const hit = c.codes.filter((code) => run.healthCodes.includes(code));
      if (!hit.length) return null;
      // No stored moment for a health reason: the episode is the current state's (a new state, a new episode).
      return { since: run.stateSince, episodeKey: `health:${hit.join(",")}:${iso(run.stateSince)}`, detail: `health reason ${hit.join(", ")}` };
    }
  }
}

/** The later of the last event and the start of RUNNING: staleness counts from there. */
export function staleAnchor(stateSince: Date, lastEventAt: Date | null): Date {
  return lastEventAt && lastEventAt > stateSince ? lastEventAt : stateSince;
}

function labelMatches(want: string, labels: readonly string[]): boolean {
  if (want.includes("=")) return labels.includes(want);
  return labels.some((l) => l === want || l.startsWith(`${want}=`));
}

export function selects(s: Selector, run: Pick<RunView, "spriteName" | "spriteLabels" | "transport" | "loopId">): boolean {
  if (s.sprites && !s.sprites.includes(run.spriteName)) return false;
  if (s.transports && !s.transports.includes(run.transport as never)) return false;
  if (s.loops && !s.loops.includes(run.loopId)) return false;
  if (s.labels && !s.labels.every((l) => labelMatches(l, run.spriteLabels))) return false;
  return true;
}

export interface Proposal {
  rule: Rule;
  hit: Hit;
}

/** Every rule (not off) whose selector picks the run and whose condition holds. */
export function proposalsFor(rules: readonly Rule[], run: RunView, now: Date): Proposal[] {
  const out: Proposal[] = [];
  for (const rule of rules) {
    if (rule.mode === "off" || !selects(rule.selector, run)) continue;
    const hit = evaluateCondition(rule.condition, run, now);
    if (hit) out.push({ rule, hit });
  }
  return out;
}
