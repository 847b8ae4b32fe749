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
  /**
   * Its recent (state, reason) history, newest first, the current one included (lifecycle transitions without
   * the control_mode ones): a condition that held across several of them is one episode. Absent: stateSince.
   */
  history?: readonly { at: Date; state: string; reason: string }[];
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

/** Since when `match` has held without a break: the oldest entry of the newest unbroken run of matches. */
export function holdingSince(run: Pick<RunView, "history" | "stateSince">, match: (state: string, reason: string) => boolean): Date {
  let since: Date | null = null;
  for (const h of run.history ?? []) {
    if (!match(h.state, h.reason)) break;
    since = h.at;
  }
  return since ?? run.stateSince;
}

const stateMatch = (states: readonly string[], reasons: readonly string[] | undefined) => (state: string, reason: string) =>
  states.includes(state) && (!reasons || !reasons.length || reasons.includes(reason));

/** The (state, reason) predicate of a state-like condition; null for the others. */
export function statePredicate(c: Condition): ((state: string, reason: string) => boolean) | null {
  switch (c.type) {
    case "state":
      return stateMatch(c.states, c.reasons);
    case "awaiting_approval":
      return stateMatch(["AWAITING_APPROVAL"], undefined);
    case "usage_limit_wait":
      return (_s, reason) => reason === "waiting_usage_limit";
    case "sprite_missing":
      return (_s, reason) => reason === "sprite_missing";
    case "stale_running":
      return stateMatch(["RUNNING"], undefined);
    default:
      return null;
  }
}

export function evaluateCondition(c: Condition, run: RunView, now: Date): Hit | null {
  const inState = (match: (state: string, reason: string) => boolean, forMs: number, what: string): Hit | null => {
    if (!match(run.state, run.stateReason)) return null;
    const since = holdingSince(run, match);
    if (!longEnough(since, forMs, now)) return null;
    return { since, episodeKey: `state:${iso(since)}`, detail: `${what} ${run.state}/${run.stateReason} for ${minutes(now.getTime() - since.getTime())}` };
  };
  switch (c.type) {
    case "state":
      return inState(statePredicate(c)!, c.forMs, "in");
    case "awaiting_approval":
      return inState(statePredicate(c)!, c.forMs, "waiting for approval:");
    case "usage_limit_wait":
      return inState(statePredicate(c)!, c.forMs, "usage-limit wait:");
    case "sprite_missing":
      return inState(statePredicate(c)!, c.forMs, "Sprite missing:");
    case "stale_running": {
      if (run.state !== "RUNNING") return null;
      const anchor = staleAnchor(holdingSince(run, statePredicate(c)!), run.lastEventAt);
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
