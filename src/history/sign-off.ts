// "Did it complete safely?": the last summary's gates, pass/fail each, the completion promise, the tests mode and
// who approved with which note. Pure: built from the run's stored gates (last run-summary entry) and the last
// gates/promise/tests/approval events; the runtime's own words win over the manager's intents.

export type GateVerdict = "PASS" | "FAIL" | "SKIPPED" | "PENDING" | "UNKNOWN";

export interface GateResult {
  name: string;
  /** the runtime's own word: ok, skipped, failed, pending, approved, ... */
  status: string;
  verdict: GateVerdict;
}

export interface Approver {
  status: string;
  by: string | null;
  note: string | null;
  at: Date | null;
  /** runtime: the approval_decision event; intent: only this manager's APPROVE/REJECT intent is known */
  source: "runtime" | "intent";
}

export interface SignOff {
  gates: GateResult[];
  allGreen: boolean;
  promiseMatched: boolean | null;
  promiseExpected: string | null;
  testsMode: string | null;
  approval: Approver | null;
  /** approval was not asked for (gate skipped or absent) */
  approvalSkipped: boolean;
  completionOk: boolean | null;
}

const PASS = new Set(["ok", "pass", "passed", "approved", "true", "success"]);
const FAIL = new Set(["fail", "failed", "error", "rejected", "blocked", "false", "timeout"]);
const SKIP = new Set(["skipped", "disabled", "n/a", "none", "off"]);

export function verdictOf(status: string): GateVerdict {
  const s = status.toLowerCase();
  if (PASS.has(s)) return "PASS";
  if (FAIL.has(s)) return "FAIL";
  if (SKIP.has(s)) return "SKIPPED";
  if (s === "pending") return "PENDING";
  return "UNKNOWN";
}

/** Gate names shown first, in the runtime's order; anything else after them. */
const ORDER = ["promise", "tests", "validation", "prerequisites", "checklist", "evidence", "lifecycle", "approval"];
/** Keys of gates_evaluated that are not gates. */
const NOT_GATES = new Set(["stuck", "promise"]);

export interface SignOffInput {
  /** Run.gates: gates of the last run-summary entry */
  summaryGates: Record<string, unknown> | null;
  /** payload of the last gates_evaluated event */
  gatesEvent: Record<string, unknown> | null;
  /** payload of the last promise_checked event */
  promise: Record<string, unknown> | null;
  /** tests_start's data.mode, or loop_start's data.tests_mode */
  testsMode: string | null;
  /** payload + timestamp of the last approval_decision / approval_consumed event */
  decision: { payload: Record<string, unknown>; timestamp: Date } | null;
  /** the latest APPROVE or REJECT intent that was not refused */
  approveIntent: { kind: string; requestedBy: string; note: string | null; requestedAt: Date } | null;
  completionOk: boolean | null;
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : typeof v === "boolean" ? String(v) : null);

export function deriveSignOff(input: SignOffInput): SignOff | null {
  const source = input.summaryGates ?? input.gatesEvent;
  if (!source && !input.promise && !input.decision) return null;
  const gates: GateResult[] = [];
  for (const [name, value] of Object.entries(source ?? {})) {
    const status = str(value);
    if (status === null || NOT_GATES.has(name)) continue;
    gates.push({ name, status, verdict: verdictOf(status) });
  }
  const rank = (n: string) => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  gates.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));

  const matched = input.promise?.["matched"];
  const promiseMatched = typeof matched === "boolean" ? matched : typeof input.gatesEvent?.["promise"] === "boolean" ? input.gatesEvent["promise"] : null;

  let approval: Approver | null = null;
  if (input.decision) {
    const p = input.decision.payload;
    const at = str(p["at"]);
    approval = { status: str(p["status"]) ?? "unknown", by: str(p["by"]), note: str(p["note"]) || null, at: at ? new Date(at) : input.decision.timestamp, source: "runtime" };
  } else if (input.approveIntent) {
    const i = input.approveIntent;
    approval = { status: i.kind === "APPROVE" ? "approved" : "rejected", by: i.requestedBy, note: i.note, at: i.requestedAt, source: "intent" };
  }
  const approvalGate = gates.find((g) => g.name === "approval");
  const approvalSkipped = !approvalGate || approvalGate.verdict === "SKIPPED";
  // Green means verified: a skipped gate did not fail, but it did not check anything either.
  const allGreen = promiseMatched !== false && gates.every((g) => g.verdict === "PASS" || (g.name === "approval" && g.verdict === "SKIPPED"));
  return { gates, allGreen, promiseMatched, promiseExpected: str(input.promise?.["expected"]), testsMode: input.testsMode, approval, approvalSkipped, completionOk: input.completionOk };
}
