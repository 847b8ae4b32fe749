import { z } from "zod";

// Restoring a Sprite checkpoint rewinds its files (docs/sprites.md), so to the manager a restore looks like a
// rewritten event log: a fork. The fork stays fail-closed either way; what the Sprites API can add is the reason.
// `GET /v1/sprites/{name}/checkpoints` lists `{id, create_time, source_id?, comment?}`, and with it the entry the
// official SDK calls "Current" (the live filesystem). Its `source_id` names the checkpoint the files derive
// from and its `create_time` when they began to: taking a checkpoint makes the new one the source at that same
// moment, restoring one makes an older checkpoint the source. So the files were rewound after `since` when
// Current began after `since` from a checkpoint older than Current itself.

const Entry = z.object({
  id: z.string().min(1).max(200),
  create_time: z.string().max(64),
  source_id: z.string().min(1).max(200).nullish(),
});
const Listing = z.array(z.unknown()).max(10_000);

export interface RestoreFact {
  checkpointId: string;
  restoredAt: string;
}

const CHECKPOINT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The restore behind the current files if it happened after `since`, from the checkpoint listing; else null. */
export function restoreSince(listing: unknown, since: Date): RestoreFact | null {
  const list = Listing.safeParse(listing);
  if (!list.success) return null;
  const entries = list.data.map((e) => Entry.safeParse(e)).flatMap((r) => (r.success ? [r.data] : []));
  const current = entries.find((e) => e.id.toLowerCase() === "current");
  if (!current?.source_id || !CHECKPOINT_ID.test(current.source_id)) return null;
  const began = Date.parse(current.create_time);
  const source = entries.find((e) => e.id === current.source_id);
  const sourceTime = source ? Date.parse(source.create_time) : NaN;
  if (Number.isNaN(began) || Number.isNaN(sourceTime) || began <= since.getTime() || sourceTime >= began) return null;
  return { checkpointId: current.source_id, restoredAt: new Date(began).toISOString() };
}
