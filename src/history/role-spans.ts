// The swimlane: which agent role ran when, in which iteration, for how long, and how it ended. Pure: pairs each
// role_start with the role_end (or role_timeout) of the same role that follows it; a role that never ended is
// "running" while the run is, and "died" when the runtime started again or the run is no longer running.

export interface RoleEvent {
  line: number;
  name: string;
  timestamp: Date;
  iteration: number | null;
  role: string | null;
  status: string | null;
}

export interface RoleSpan {
  /** 1-based attempt (loop_start) the span belongs to, counting from the first loop_start given */
  attempt: number;
  iteration: number | null;
  role: string;
  startedAt: Date;
  endedAt: Date | null;
  durationMs: number | null;
  /** ok | error | timeout | running | died */
  status: string;
  startLine: number;
}

export const ROLE_EVENT_NAMES = ["loop_start", "role_start", "role_end", "role_timeout"];

export function deriveRoleSpans(input: RoleEvent[], running: boolean): RoleSpan[] {
  const events = [...input].sort((a, b) => a.line - b.line);
  const spans: RoleSpan[] = [];
  const open = new Map<string, RoleSpan>();
  let attempt = 0;
  const close = (span: RoleSpan, at: Date | null, status: string) => {
    span.endedAt = at;
    span.durationMs = at ? Math.max(0, at.getTime() - span.startedAt.getTime()) : null;
    span.status = status;
  };
  for (const e of events) {
    if (e.name === "loop_start") {
      // A new invocation: whatever was still open belonged to a runtime that is gone.
      for (const s of open.values()) close(s, null, "died");
      open.clear();
      attempt++;
      continue;
    }
    if (!e.role) continue;
    const key = `${e.iteration ?? ""}/${e.role}`;
    if (e.name === "role_start") {
      const stale = open.get(key);
      if (stale) close(stale, null, "died");
      const span: RoleSpan = { attempt: Math.max(attempt, 1), iteration: e.iteration, role: e.role, startedAt: e.timestamp, endedAt: null, durationMs: null, status: "running", startLine: e.line };
      spans.push(span);
      open.set(key, span);
      continue;
    }
    const span = open.get(key);
    if (!span) continue;
    open.delete(key);
    if (e.name === "role_timeout") close(span, e.timestamp, "timeout");
    else close(span, e.timestamp, e.status === "error" || e.status === "failed" ? "error" : "ok");
  }
  if (!running) for (const s of open.values()) close(s, null, "died");
  return spans;
}
