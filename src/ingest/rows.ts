import type { LoopRunEvent } from "../contract";

// An envelope becomes a stored row only if it is exactly what this run expects next: v1, this loop,
// the next line number. Anything else fails closed (ARCHITECTURE invariant 3).

export interface EventRow {
  line: number;
  timestamp: Date;
  name: string;
  role: string | null;
  status: string | null;
  message: string | null;
  runtimeRunId: string | null;
  iteration: number | null;
  payload: Record<string, unknown> | null;
  raw: Record<string, unknown>;
}

export class EnvelopeRejected extends Error {
  constructor(
    readonly code: "unsupported_schema_version" | "wrong_loop_id" | "sequence_gap" | "invalid_event",
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

export function rowsFromEnvelopes(envelopes: readonly LoopRunEvent[], loopId: string, afterLine: number): EventRow[] {
  const rows: EventRow[] = [];
  let expected = afterLine + 1;
  for (const env of envelopes) {
    const line = env.sequence?.value;
    if (env.schemaVersion !== "v1" || env.envelopeType !== "loop_run_event") {
      throw new EnvelopeRejected("unsupported_schema_version", `line ${line}: envelope ${String(env.schemaVersion)}/${String(env.envelopeType)} is not v1 loop_run_event`, line);
    }
    if (env.source?.loopId !== loopId) {
      throw new EnvelopeRejected("wrong_loop_id", `line ${line}: envelope is for loop "${env.source?.loopId}", expected "${loopId}"`, line);
    }
    if (line !== expected) {
      throw new EnvelopeRejected("sequence_gap", `expected line ${expected}, got ${line}: refusing to skip or repeat lines`, line);
    }
    const ts = new Date(env.event.timestamp);
    if (Number.isNaN(ts.getTime())) {
      throw new EnvelopeRejected("invalid_event", `line ${line}: timestamp "${env.event.timestamp}" is not a date`, line);
    }
    const raw = env.event.raw;
    rows.push({
      line,
      timestamp: ts,
      name: env.event.name,
      role: env.event.role,
      status: env.event.status,
      message: env.event.message,
      runtimeRunId: typeof raw.run_id === "string" ? raw.run_id : env.run?.runId ?? null,
      iteration: typeof raw.iteration === "number" && Number.isInteger(raw.iteration) ? raw.iteration : null,
      payload: env.event.payload,
      raw,
    });
    expected++;
  }
  return rows;
}
