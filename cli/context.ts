import type { Api } from "./api";
import type { Printer } from "./output";

export interface Io {
  env: Record<string, string | undefined>;
  out: (line: string) => void;
  err: (line: string) => void;
  /** resolves when the user interrupts (SIGINT/SIGTERM): streams end with exit 0 */
  interrupted: Promise<void>;
  /** stdout is a terminal: colour and progress lines */
  isTTY?: boolean;
}

/** What every command gets: the API (connected lazily, so that `completion` and `config` need no server). */
export interface Ctx {
  io: Io;
  p: Printer;
  api: () => Api;
}
import { CliError, EXIT } from "./exit-codes";

export const INTENT_FIELDS = `id kind stage error terminal requestedBy note idempotencyKey resumeAfterApprove traceId deadlineAt requestedAt
  dispatchedAt acceptedAt confirmedAt endedAt stages { stage at observation followUp } run { id loopId state stateReason sprite { name } }`;

/** controlIntentUpdated's selection: the intent, or how the subscription ended (ResyncRequired, NotFound). */
export const INTENT_UPDATE = `__typename ... on ControlIntent { ${INTENT_FIELDS} } ... on NotFound { message }`;

/** What a subscription sends besides its own payload: the last message of a stream that cannot go on. */
export interface SubscriptionEnd {
  __typename: "ResyncRequired" | "NotFound";
  message?: string;
}

/** NotFound is the answer (exit 3); ResyncRequired only means subscribe again from what was received. */
export function endOfStream(end: SubscriptionEnd): "continue" {
  if (end.__typename === "NotFound") throw new CliError(end.message ?? "not found", EXIT.notFound);
  return "continue";
}

export type IntentUpdate = (IntentView & { __typename: "ControlIntent" }) | SubscriptionEnd;

export interface IntentView {
  id: string;
  kind: string;
  stage: string;
  error: string | null;
  terminal: boolean;
  requestedBy: string;
  note: string | null;
  idempotencyKey: string;
  resumeAfterApprove: boolean;
  traceId: string;
  requestedAt: string;
  endedAt: string | null;
  stages: { stage: string; at: string; observation: string; followUp: string | null }[];
  run: { id: string; loopId: string; state: string; stateReason: string; sprite: { name: string } };
}

/** Durations as kubectl takes them: 1500ms, 30s, 5m, 1h; a bare number is seconds. */
export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new TypeError(`${flag}: a duration like 30s, 5m or 1500ms (got ${value})`);
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const ms = n * (unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000);
  if (!(ms > 0)) throw new TypeError(`${flag}: must be > 0`);
  return Math.round(ms);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
