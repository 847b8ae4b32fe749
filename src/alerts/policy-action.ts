import { randomUUID } from "node:crypto";
import type { Severity } from "./config";
import { policySnapshotSchema, type PolicySnapshot } from "./conditions";
import { currentTraceId } from "../observability/trace";

// The one way other code raises a `policy_action` alert: when an automatic fleet policy acts (restarts a run,
// pauses a Sprite...), it calls raisePolicyActionAlert with the transaction that records the action. The alert
// is an outbox row (AlertSignal, subject "policy") in that same transaction: a rolled-back action raises nothing,
// a committed one is announced exactly once (one-shot: no resolve), routed like any condition (category
// "policy_action", Sprite/label selectors from the run's or Sprite's row), with the current trace id.

/** A pg client inside BEGIN…COMMIT, or a Prisma interactive-transaction client. */
export type AlertTx = { query(text: string, values?: unknown[]): Promise<unknown> } | { $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number> };

export interface PolicyActionAlert {
  /** the policy's name, e.g. "restart-on-failure" */
  policy: string;
  /** what it did, e.g. "RESTART" */
  action: string;
  /** one line for humans, e.g. "restarted after runtime_died (attempt 2 of 3)" */
  summary: string;
  /** default "warning" */
  severity?: Severity;
  runId?: string | null;
  spriteId?: string | null;
  /** stable id of this action (e.g. the intent or policy-run id); makes the alert's dedup key. Default: random */
  actionId?: string;
  details?: Record<string, unknown>;
  /** default: the trace id of the current work, if any */
  traceId?: string | null;
}

const INSERT = `INSERT INTO "AlertSignal" ("subject", "runId", "spriteId", "snapshot") VALUES ('policy', $1, $2, $3::jsonb)`;

/** Queues a policy_action alert inside `tx`. Throws (zod) on an invalid alert, so the caller's action rolls back. */
export async function raisePolicyActionAlert(tx: AlertTx, alert: PolicyActionAlert): Promise<void> {
  const snapshot: PolicySnapshot = policySnapshotSchema.parse({
    actionId: alert.actionId ?? randomUUID(),
    policy: alert.policy,
    action: alert.action,
    summary: alert.summary,
    severity: alert.severity ?? "warning",
    runId: alert.runId ?? null,
    spriteId: alert.spriteId ?? null,
    traceId: alert.traceId ?? currentTraceId(),
    details: alert.details ?? {},
  });
  const values = [snapshot.runId, snapshot.spriteId, JSON.stringify(snapshot)];
  if ("query" in tx) await tx.query(INSERT, values);
  else await tx.$executeRawUnsafe(INSERT, ...values);
}
