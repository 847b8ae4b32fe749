import { builder } from "./builder";

// How every subscription ends when it cannot go on: one union member each, never a masked error. A subscriber
// that fell too far behind gets ResyncRequired (with where it was); a subscription to something that does not
// exist gets NotFound. Either is the stream's last message.

export interface Resync {
  resyncRequired: true;
  reason: string;
  lastSeq: number | null;
  lastCursor: string | null;
}

export const ResyncRequiredRef = builder.objectRef<Resync>("ResyncRequired").implement({
  description: "The subscriber fell too far behind; the server dropped its buffer and ends the subscription. Re-read current state with a query, then subscribe again from the last cursor.",
  fields: (t) => ({
    resyncRequired: t.boolean({ resolve: () => true }),
    reason: t.exposeString("reason"),
    lastSeq: t.exposeInt("lastSeq", { nullable: true, description: "runLifecycleChanged, controlIntentUpdated: the seq of the last change delivered" }),
    lastCursor: t.exposeString("lastCursor", { nullable: true, description: "runEvents: the cursor of the last event delivered; pass it as `after`" }),
  }),
});

/** The subscriber is too slow (its buffer overflowed, or its socket holds too many unsent bytes). */
export function tooSlow(last: { lastSeq?: number | null; lastCursor?: string | null } = {}): Resync {
  return { resyncRequired: true, reason: "subscriber_too_slow", lastSeq: last.lastSeq ?? null, lastCursor: last.lastCursor ?? null };
}

export function isResync(v: object): v is Resync {
  return "resyncRequired" in v && (v as Resync).resyncRequired;
}
