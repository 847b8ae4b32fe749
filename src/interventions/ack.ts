// Acknowledge / snooze: an operator says "seen, I'm on it" (or "not now, until T") and the run leaves the queue,
// with who, why and until when recorded. Pure rule: an acknowledgement holds while it is not cleared, not past
// its `until`, and the intervention has no reason the operator did not see (a new reason brings it back).

export interface AckRow {
  id: string;
  runId: string;
  kind: string;
  by: string;
  note: string | null;
  until: Date | null;
  reasonCodes: unknown;
  createdAt: Date;
  clearedAt: Date | null;
}

export const ACK_KINDS = ["ACKNOWLEDGED", "SNOOZED"] as const;
export type AckKind = (typeof ACK_KINDS)[number];

export function ackCodes(ack: Pick<AckRow, "reasonCodes">): string[] {
  return Array.isArray(ack.reasonCodes) ? ack.reasonCodes.filter((c): c is string => typeof c === "string") : [];
}

export function ackHolds(ack: Pick<AckRow, "until" | "clearedAt" | "reasonCodes">, currentCodes: readonly string[], now: Date): boolean {
  if (ack.clearedAt) return false;
  if (ack.until && ack.until.getTime() <= now.getTime()) return false;
  const seen = new Set(ackCodes(ack));
  return currentCodes.every((c) => seen.has(c));
}

/** The holding acknowledgement among a run's rows (newest first wins), or null. */
export function activeAck<T extends AckRow>(rows: readonly T[], currentCodes: readonly string[], now: Date): T | null {
  const newest = [...rows].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
  return newest && ackHolds(newest, currentCodes, now) ? newest : null;
}
