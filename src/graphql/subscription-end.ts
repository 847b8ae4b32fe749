import { errorTypeMap, wrapErrorIfMatches } from "@pothos/plugin-errors";
import { NotFoundError } from "../errors";
import { builder } from "./builder";
import { NotFoundRef } from "./errors";

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

/**
 * The NotFound a subscription ends with. graphql-js treats an Error a resolver returns as thrown (and Yoga masks
 * it as "Unexpected error"), so it is wrapped the way the errors plugin wraps a query's NotFound; the NotFound
 * type's isTypeOf unwraps it.
 */
export function notFound(entity: string, id: string): NotFoundError {
  return wrapErrorIfMatches(new NotFoundError(entity, id), [NotFoundError]) as NotFoundError;
}

function isNotFound(v: object): boolean {
  return errorTypeMap.get(v) === NotFoundError || v instanceof NotFoundError;
}

/** The member of a subscription's union a message ends it with (NotFound, ResyncRequired), or null for its payload. */
export function endOf(v: object): typeof NotFoundRef | typeof ResyncRequiredRef | null {
  return isNotFound(v) ? NotFoundRef : isResync(v) ? ResyncRequiredRef : null;
}
