import pg from "pg";
import type { Db } from "../db/client";
import type { OpsBus } from "../pubsub/topics";

// Control intents are dispatched exactly once across replicas. Only the holder of the run's lease dispatches
// (it is the replica talking to that run's Sprite); any other replica leaves the intent REQUESTED in the
// database, and the holder picks it up as soon as the change reaches it (NOTIFY → fan-out → pickup) or at
// its next lease round. A per-intent claim (in-process promise + PostgreSQL advisory lock + re-reading the
// stage under it) keeps the inline path, the pickup and a lease handover from dispatching the same intent twice.
//
// Integration: the control service calls dispatchOrForward after creating the intent (REQUESTED, in a
// transaction that bumps Run.seq), and the cluster's pickup calls dispatchOnce; both get the same
// IntentDispatchDeps object from src/server.ts (its identity keys the in-process claim). The dispatch function
// must itself move the intent out of REQUESTED (DISPATCHED / FAILED / REJECTED).

/** Who polls (and so dispatches for) a run in a cluster: the holder of its lease. */
export interface RunOwner {
  isLeaseHolder(runId: string): boolean;
  /** Ask the holder of the run's lease to look for REQUESTED intents now. */
  nudge(runId: string): void;
}

export interface IntentDispatchDeps {
  databaseUrl: string;
  db: Db;
  bus: OpsBus;
  /** null in a single process (OPS_CLUSTER=off): every run is dispatched here. */
  cluster: RunOwner | null;
}

export type DispatchOutcome =
  /** this call ran the dispatch */
  | "dispatched"
  /** someone already moved it past REQUESTED (another path on this replica, or another replica) */
  | "already"
  /** another replica holds the claim right now (lease handover); it will finish or the next pickup retries */
  | "busy"
  /** not the lease holder: left REQUESTED; the holder dispatched it within the wait */
  | "forwarded"
  /** not the lease holder and nobody moved it within the wait; it stays REQUESTED for the holder to pick up */
  | "queued";

const LOCK_SPACE = 7_202_011; // arbitrary, constant: "superloop-ops intent dispatch"
const inflight = new WeakMap<IntentDispatchDeps, Map<string, Promise<DispatchOutcome>>>();

/**
 * Intents whose request is still being made in this process (from its insert until the requester's own dispatch
 * call): a pickup here (the fan-out reading the new row, often before the requester's next step) leaves them to
 * it, so the dispatch runs in the request's context (its trace span) rather than a background one.
 */
const requesting = new WeakMap<IntentDispatchDeps, Set<string>>();

/** Marks an intent as being requested here; returns the release (idempotent), to call once its dispatch was asked. */
export function holdForRequester(deps: IntentDispatchDeps, intentId: string): () => void {
  let held = requesting.get(deps);
  if (!held) requesting.set(deps, (held = new Set<string>()));
  held.add(intentId);
  return () => void held.delete(intentId);
}

/** Whether the intent's request is still being made in this process (its requester dispatches it). */
export function heldForRequester(deps: IntentDispatchDeps, intentId: string): boolean {
  return requesting.get(deps)?.has(intentId) ?? false;
}

/** Whether this replica dispatches control for the run now. Single process (OPS_CLUSTER=off): always. */
export function shouldDispatchLocally(deps: IntentDispatchDeps, runId: string): boolean {
  return !deps.cluster || deps.cluster.isLeaseHolder(runId);
}

/** Runs `dispatch` for an intent that is still REQUESTED, at most once across every replica. */
export function dispatchOnce(deps: IntentDispatchDeps, intentId: string, dispatch: () => Promise<void>): Promise<DispatchOutcome> {
  let mine = inflight.get(deps);
  if (!mine) inflight.set(deps, (mine = new Map<string, Promise<DispatchOutcome>>()));
  const running = mine.get(intentId);
  if (running) return running.then(() => "already" as const);
  const p = claimAndRun(deps, intentId, dispatch).finally(() => mine.delete(intentId));
  mine.set(intentId, p);
  return p;
}

async function claimAndRun(deps: IntentDispatchDeps, intentId: string, dispatch: () => Promise<void>): Promise<DispatchOutcome> {
  // A client of its own, not from the pool: the dispatch itself needs pool connections while we hold the lock.
  const client = new pg.Client({ connectionString: deps.databaseUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const lock = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok`, [LOCK_SPACE, intentId]);
    if (!lock.rows[0]?.ok) return "busy";
    const stage = await client.query<{ stage: string }>(`SELECT stage::text AS stage FROM "ControlIntent" WHERE id = $1`, [intentId]);
    if (stage.rows[0]?.stage !== "REQUESTED") return "already";
    await dispatch();
    return "dispatched";
  } finally {
    await client.end().catch(() => {}); // ending the session drops the advisory lock
  }
}

/** For a replica that does not hold the lease: wait until the holder moves the intent past REQUESTED. */
export async function waitForDispatch(deps: IntentDispatchDeps, intent: { id: string; runId: string }, timeoutMs = 5000): Promise<string | null> {
  const sub = deps.bus.subscribe("intent", intent.runId, 1000);
  const deadline = Date.now() + timeoutMs;
  const read = async () => (await deps.db.controlIntent.findUnique({ where: { id: intent.id }, select: { stage: true } }))?.stage ?? null;
  try {
    for (;;) {
      const stage = await read();
      if (stage !== "REQUESTED") return stage;
      const left = deadline - Date.now();
      if (left <= 0) return stage;
      // Woken by the fan-out when the holder's stage change arrives; a slow re-read covers anything missed.
      await Promise.race([sub.next(), new Promise((r) => setTimeout(r, Math.min(left, 500)))]);
    }
  } finally {
    sub.close();
  }
}

/** The whole decision for a freshly requested intent: dispatch here if this replica holds the lease, else forward. */
export async function dispatchOrForward(deps: IntentDispatchDeps, intent: { id: string; runId: string }, dispatch: () => Promise<void>, opts: { waitMs?: number } = {}): Promise<DispatchOutcome> {
  if (shouldDispatchLocally(deps, intent.runId)) return dispatchOnce(deps, intent.id, dispatch);
  deps.cluster?.nudge(intent.runId);
  const stage = await waitForDispatch(deps, intent, opts.waitMs ?? 5000);
  return stage === "REQUESTED" ? "queued" : "forwarded";
}
