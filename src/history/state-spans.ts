// The fleet timeline: a run's lifecycle state as spans over a window (the last 24 h). Pure: built from the
// transitions, where an X → X row (a new reason, same state) does not start a new span.

export interface StateTransition {
  from: string | null;
  to: string;
  at: Date;
}

export interface StateSpan {
  state: string;
  from: Date;
  /** null while it lasts */
  to: Date | null;
}

/**
 * `before` is the state the run was in when the window opened (the `to` of the last transition before it), or
 * null when the run did not exist yet.
 */
export function deriveStateSpans(before: string | null, transitions: StateTransition[], windowStart: Date): StateSpan[] {
  const spans: StateSpan[] = [];
  let state = before;
  let since = windowStart;
  for (const t of [...transitions].sort((a, b) => a.at.getTime() - b.at.getTime())) {
    if (t.at < windowStart) {
      state = t.to;
      continue;
    }
    if (t.to === state) continue;
    if (state !== null && t.at > since) spans.push({ state, from: since, to: t.at });
    state = t.to;
    since = t.at < windowStart ? windowStart : t.at;
  }
  if (state !== null) spans.push({ state, from: since, to: null });
  return spans;
}
