import { DIVERGENCE_FLAGS } from "./divergence";
import { factPaths } from "./fact-paths";
import { HEALTH_REASON_CATALOG } from "./health";
import { LIFECYCLE_RULES } from "./rules";
import { HEALTH_PROFILES, type HealthProfile } from "./thresholds";

// docs/lifecycle.md is rendered from the same tables the code runs, so the doc cannot drift from behaviour
// (a test compares the committed file with this output).

interface FactDoc {
  path: string;
  source: string;
  meaning: string;
}

const RUNTIME_FACTS: readonly FactDoc[] = [
  { path: "runtime.loopDirExists", source: "`.superloop/loops/<loop>/`", meaning: "the loop directory exists" },
  { path: "runtime.eventsFileExists", source: "`events.jsonl`", meaning: "the event log exists" },
  { path: "runtime.state", source: "`.superloop/state.json`", meaning: "`active`, `current_loop_id`, `iteration`, `updated_at`; null when missing (cancel deletes it)" },
  { path: "runtime.activeRun", source: "`.superloop/active-run.json`", meaning: "`pid`, `pgid`, `loop_id`, `iteration`, `stage`; null when no `run` process claims the repo" },
  { path: "runtime.activeRunAlive", source: "pid check next to the runtime", meaning: "true/false; null when it cannot be checked (remote transport)" },
  { path: "runtime.processStopped", source: "process-group state", meaning: "the run's process group is SIGSTOPped; null when unknown" },
  { path: "runtime.approval", source: "`approval.json`", meaning: "`status` pending/approved/rejected, `run_id`, `iteration`; deleted when consumed" },
  { path: "runtime.lastSummary", source: "last entry of `run-summary.json`", meaning: "`completion_ok`, `run_id`, `iteration`, `gates`, `stuck`" },
  { path: "runtime.heartbeat", source: "`heartbeat.v1.json` (optional)", meaning: "`timestamp`/`updatedAt`, `status`, `stage`" },
  { path: "events.count", source: "`events.jsonl`", meaning: "lines ingested so far" },
  { path: "events.last", source: "`events.jsonl`", meaning: "name, status, timestamp, run id, iteration of the last ingested event" },
  { path: "events.latestRunId", source: "`events.jsonl`", meaning: "run id of the latest `loop_start`, else of the last event" },
  { path: "events.latestLoopStartAt", source: "`events.jsonl`", meaning: "timestamp of the latest `loop_start`" },
  { path: "events.latestIteration", source: "`events.jsonl`", meaning: "iteration of the latest `iteration_start`" },
  { path: "events.lastActivePhaseEventAt", source: "`events.jsonl`", meaning: "timestamp of the last iteration/role/gate-phase event" },
  { path: "events.stopReason", source: "`events.jsonl`", meaning: "`data.reason` of the latest `loop_stop`" },
];

const MANAGER_FACTS: readonly FactDoc[] = [
  { path: "control.cancelAcceptedAt", source: "manager intents", meaning: "a cancel was accepted (exit 0) and not superseded by a later start" },
  { path: "control.pauseConfirmedAt", source: "manager intents", meaning: "a pause was confirmed and no resume since" },
  { path: "control.startDispatchedAt", source: "manager intents", meaning: "a start was dispatched and `loop_start` not yet observed" },
  { path: "ingest.status / ingest.regression", source: "manager ingest", meaning: "OK / FORKED / ERROR; stored vs file line counts after a regression" },
  { path: "sprite.status", source: "Sprites API / transport", meaning: "COLD, WARM, RUNNING, UNREACHABLE, MISSING, UNKNOWN" },
  { path: "thresholds.staleAfterMs, now", source: "manager config and clock", meaning: "a RUNNING run with no sign of life for longer is flagged `stale`" },
];

const MANAGER_PREFIXES = ["control.", "ingest.", "sprite.", "thresholds.", "now"];

function isManagerFact(path: string): boolean {
  return MANAGER_PREFIXES.some((prefix) => path.startsWith(prefix));
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function code(list: readonly string[]): string {
  return list.length === 0 ? "—" : list.map((item) => `\`${item}\``).join(", ");
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  for (const row of rows) lines.push(`| ${row.map(cell).join(" | ")} |`);
  return lines.join("\n");
}

export function renderLifecycleDoc(): string {
  const ruleRows = LIFECYCLE_RULES.map((rule, index) => {
    const paths = factPaths(rule.facts);
    const reason = typeof rule.reason === "string" ? `\`${rule.reason}\`` : (rule.reasonDoc ?? "computed");
    return [String(index + 1), `\`${rule.id}\``, rule.state, reason, rule.describe, code(paths.filter((path) => !isManagerFact(path))), code(paths.filter(isManagerFact))];
  });
  const profiles = (Object.keys(HEALTH_PROFILES) as HealthProfile[]).map((name) => {
    const p = HEALTH_PROFILES[name];
    return [`\`${name}\``, `${p.ingestLagWarningSec} s / ${p.ingestLagCriticalSec} s`, `${p.transportFailureWarning} / ${p.transportFailureCritical}`];
  });

  return [
    "# Lifecycle projection",
    "",
    "<!-- Generated by `npx tsx scripts/gen-lifecycle-doc.ts` from src/lifecycle. Do not edit by hand:",
    "     test/lifecycle/doc.test.ts fails when this file is stale. -->",
    "",
    "The manager never stores a lifecycle state of its own: on every poll it projects the runtime's facts",
    "(plus what it knows about its own control intents) into one state with `projectLifecycle(facts)`, a pure",
    "function. This page keeps the two apart: **runtime facts** are what the Sprite's files and event log say;",
    "the **manager interpretation** is the ordered rule table that turns them into a state.",
    "",
    "## 1. Runtime facts (read from the Sprite, never invented by the manager)",
    "",
    table(
      ["fact", "source", "meaning"],
      RUNTIME_FACTS.map((f) => [`\`${f.path}\``, f.source, f.meaning]),
    ),
    "",
    "## 2. Manager facts (what the manager itself knows)",
    "",
    table(
      ["fact", "source", "meaning"],
      MANAGER_FACTS.map((f) => [`\`${f.path}\``, f.source, f.meaning]),
    ),
    "",
    "## 3. Manager interpretation: lifecycle rules (first match wins)",
    "",
    "Each projection records the matching rule id and, as evidence, the values of the facts that rule reads.",
    "",
    table(["#", "rule", "state", "reason", "when", "runtime facts read", "manager facts read"], ruleRows),
    "",
    "### Decisions",
    "",
    "- **`approved` recording → IDLE/`approved_pending_run`.** approval.json says `approved` but nothing has",
    "  completed: completion needs another `superloop run`. Nobody has to decide any more (so not",
    "  AWAITING_APPROVAL) and no completion is recorded (so not COMPLETE). Interventions suggest START.",
    "- **`runtimeRunId` is the run id of the latest `loop_start`** (else the last event's, else approval.json's,",
    "  else the summary's). After an approval the completing events carry the original run id; the identity",
    "  follows the newest invocation, and the original id stays in the summary and the evidence.",
    "- **A dispatched start is RUNNING/`starting`** until `loop_start` is ingested, so a restarted run does not",
    "  flap back to its old terminal state; it is `stale` if nothing happens within `staleAfterMs` of the dispatch.",
    "- **`iteration`** comes from the live process, else the latest `iteration_start`, else state.json while",
    "  active, else the summary (`loop_stop` carries max+1 and state.json is reset to 0 after completion).",
    "- **`stale`** is set only for RUNNING: no event (or, for `starting`, no `loop_start`) for longer than",
    "  `thresholds.staleAfterMs`. The state itself does not change; health reports it.",
    "",
    "## 4. Divergence flags (raised alongside the state, never silently resolved)",
    "",
    "Any raised flag freezes automated control for the run (`ControlFrozen`) until an operator acts.",
    "",
    table(
      ["flag", "raised when", "facts read"],
      DIVERGENCE_FLAGS.map((flag) => [`\`${flag.name}\``, flag.describe, code(factPaths(flag.facts))]),
    ),
    "",
    "## 5. Health reason codes",
    "",
    "Health status is the worst severity among the reasons: none → HEALTHY, warnings only → DEGRADED, any",
    "critical → CRITICAL. A reason that persists keeps the `since` of its first appearance.",
    "",
    table(
      ["code", "severity", "meaning"],
      HEALTH_REASON_CATALOG.map((entry) => [`\`${entry.code}\``, entry.severity, entry.describe]),
    ),
    "",
    "Threshold profiles (`resolveThresholds(profile, overrides)`; explicit overrides win):",
    "",
    table(["profile", "ingest lag warning / critical", "transport failure streak warning / critical"], profiles),
    "",
  ].join("\n");
}
