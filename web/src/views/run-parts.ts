import { absolute, badge, clock, duration, h, time } from "../dom";
import type { FeedEvent } from "../feed";
import type { Attempt, Intent, RunDetail, SignOff } from "../types";

// The pieces of the run page (runView in run.ts): its transitions list, intent items, feed rows, sign-off card
// and attempts table.

const INTENT_PATH = ["REQUESTED", "DISPATCHED", "ACCEPTED", "CONFIRMED"];

/** Names for the annotation rows (same state, recorded for the history): shown as notes, never as X → X. */
const NOTE_TRIGGERS: Record<string, string> = { cursor_reset: "cursor reset", control_mode: "control mode changed", sprite: "Sprite status" };

export function transitionsList(run: RunDetail): HTMLElement {
  const all = run.transitions.edges.map((e) => e.node);
  // A change that kept the state (X → X) is not a transition: an operator's annotation is kept as a note line,
  // anything else (a Sprite status tick, a reason-only change) is left out.
  const items = all.filter((t) => t.from !== t.to || (t.actor !== null && NOTE_TRIGGERS[t.trigger] !== undefined));
  if (!items.length) return h("p", { class: "muted" }, "No transitions yet.");
  return h(
    "ol",
    { class: "timeline", "aria-label": "Lifecycle transitions, oldest first" },
    items.map((t) =>
      t.from === t.to
        ? h(
            "li",
            { "data-seq": t.seq, class: "note-line" },
            h("span", { class: "seq" }, `#${t.seq}`),
            " ",
            time(t.at),
            " ",
            h("span", { class: "muted" }, NOTE_TRIGGERS[t.trigger] ?? t.trigger),
            " ",
            h("code", {}, t.reason),
            h("span", { class: "muted small" }, t.actor ? ` by ${t.actor}` : ""),
          )
        : h(
            "li",
            { "data-seq": t.seq },
            h("span", { class: "seq" }, `#${t.seq}`),
            " ",
            time(t.at),
            " ",
            t.from ? badge("state", t.from) : h("span", { class: "muted" }, "new"),
            h("span", { "aria-hidden": "true" }, " → "),
            h("span", { class: "sr-only" }, " to "),
            badge("state", t.to),
            " ",
            h("code", {}, t.reason),
            h("span", { class: "muted small" }, ` via ${t.trigger}${t.actor ? ` by ${t.actor}` : ""}`),
          ),
    ),
  );
}

export function intentItem(i: Intent): HTMLElement {
  const terminalOff = !INTENT_PATH.includes(i.stage);
  const reached = INTENT_PATH.indexOf(i.stage);
  const at = new Map(i.stages.map((s) => [s.stage, s]));
  const latest = i.stages.at(-1);
  return h(
    "li",
    { class: "intent", "data-intent": i.id, "data-kind": i.kind, "data-stage": i.stage },
    h("strong", {}, i.kind),
    " by ",
    i.requestedBy,
    " ",
    time(i.requestedAt),
    i.resumeAfterApprove ? h("span", { class: "muted small" }, " (resume after approve)") : null,
    h(
      "ol",
      { class: "stages", "aria-label": `${i.kind} stages` },
      INTENT_PATH.map((s, n) => {
        const rec = at.get(s);
        return h(
          "li",
          { class: n <= reached || rec ? "done" : "todo", "aria-current": s === i.stage ? "step" : null, title: rec ? `${absolute(rec.at)} ${rec.observation}` : null },
          s,
          rec ? h("span", { class: "sr-only" }, ` at ${clock(rec.at)}`) : null,
        );
      }),
      terminalOff ? h("li", { class: "end", "aria-current": "step" }, badge("stage", i.stage)) : null,
    ),
    // The intent's current stage and what was last observed (never an old DISPATCHED line once it moved on).
    latest
      ? h("p", { class: "muted small observation" }, badge("stage", i.stage), " ", h("time", { datetime: latest.at, title: absolute(latest.at) }, clock(latest.at)), ` ${latest.observation}`)
      : null,
    i.error ? h("p", { class: "error small" }, i.error) : null,
    i.note ? h("p", { class: "muted small" }, `Note: ${i.note}`) : null,
  );
}

export function feedRow(e: FeedEvent): HTMLElement {
  return h(
    "li",
    { "data-line": e.line },
    h("span", { class: "line" }, String(e.line)),
    h("time", { datetime: e.timestamp, title: absolute(e.timestamp) }, clock(e.timestamp)),
    h("code", { class: "name" }, e.name),
    e.iteration !== null ? h("span", { class: "iter" }, `it ${e.iteration}`) : null,
    e.role ? h("span", { class: "role" }, e.role) : null,
    e.status ? h("span", { class: `status status-${e.status}` }, e.status) : null,
    e.message ? h("span", { class: "msg" }, e.message) : null,
  );
}

const VERDICT_WORD: Record<string, string> = { PASS: "pass", FAIL: "FAIL", SKIPPED: "skipped", PENDING: "pending", UNKNOWN: "?" };

export function signOffCard(run: RunDetail): HTMLElement {
  const s: SignOff | null | undefined = run.signOff;
  if (!s) return h("p", { class: "muted" }, "No iteration has been evaluated yet.");
  const a = s.approval;
  return h(
    "div",
    { class: "signoff", "data-all-green": String(s.allGreen) },
    h(
      "p",
      {},
      s.allGreen ? h("span", { class: "badge verdict-PASS" }, "ALL GATES GREEN") : h("span", { class: "badge verdict-FAIL" }, "NOT ALL GREEN"),
      s.completionOk !== null && s.completionOk !== undefined ? h("span", { class: "muted small" }, ` · completion_ok ${String(s.completionOk)}`) : null,
    ),
    h(
      "ul",
      { class: "gates", "aria-label": "Gates of the last summary" },
      h(
        "li",
        { "data-gate": "promise", "data-verdict": s.promiseMatched === null ? "UNKNOWN" : s.promiseMatched ? "PASS" : "FAIL" },
        h("span", { class: `badge verdict-${s.promiseMatched ? "PASS" : s.promiseMatched === false ? "FAIL" : "UNKNOWN"}` }, s.promiseMatched ? "pass" : s.promiseMatched === false ? "FAIL" : "?"),
        " promise",
        s.promiseExpected ? h("span", { class: "muted small" }, ` (${s.promiseExpected})`) : null,
      ),
      s.gates.map((g) =>
        h(
          "li",
          { "data-gate": g.name, "data-verdict": g.verdict },
          h("span", { class: `badge verdict-${g.verdict}` }, VERDICT_WORD[g.verdict] ?? g.verdict),
          ` ${g.name}`,
          h("span", { class: "muted small" }, ` (${g.status ?? ""})`),
        ),
      ),
    ),
    h("p", { class: "small" }, "Tests mode: ", h("code", { "data-tests-mode": "" }, s.testsMode ?? "unknown")),
    a
      ? h(
          "p",
          { class: "approver", "data-approver": a.by ?? "" },
          h("strong", {}, a.status === "approved" ? "Approved" : a.status === "rejected" ? "Rejected" : a.status),
          a.by ? [" by ", h("strong", {}, a.by)] : null,
          a.at ? [" ", time(a.at)] : null,
          a.note ? [" — ", h("q", { class: "approval-note" }, a.note)] : h("span", { class: "muted" }, " (no note)"),
          a.source === "intent" ? h("span", { class: "muted small" }, " (as requested here; the runtime has not recorded it yet)") : null,
        )
      : h("p", { class: "muted approver" }, s.approvalSkipped ? "No human approval was asked for." : "Not approved yet."),
  );
}

const OUTCOME_STATE: Record<string, string> = { COMPLETE: "COMPLETE", STOPPED: "STOPPED", FAILED: "FAILED", AWAITING_APPROVAL: "AWAITING_APPROVAL", RUNNING: "RUNNING", PAUSED: "PAUSED" };

export function attemptsTable(attempts: Attempt[]): HTMLElement {
  if (!attempts.length) return h("p", { class: "muted" }, "The runtime has not started this loop yet.");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "runs attempts" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["#", "Started", "By", "Runtime run id", "Iterations", "Outcome", "Ended"].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h(
        "tbody",
        {},
        attempts.map((a) =>
          h(
            "tr",
            { "data-attempt": a.index, "data-outcome": a.outcome, "data-started-by": a.startedBy },
            h("td", { "data-label": "#" }, String(a.index), a.restart ? h("span", { class: "mark mark-restarted" }, " restart") : null),
            h("td", { "data-label": "Started" }, time(a.startedAt)),
            h(
              "td",
              { "data-label": "By" },
              a.startedBy === "runtime"
                ? h("span", { class: "muted", title: "Not started through this manager" }, "runtime")
                : [a.startedBy, a.intentKind ? h("span", { class: "muted small" }, ` (${a.intentKind})`) : null],
            ),
            h("td", { "data-label": "Runtime run id" }, h("code", {}, a.runtimeRunId ?? "—")),
            h(
              "td",
              { "data-label": "Iterations" },
              a.firstIteration === null ? "—" : a.firstIteration === a.lastIteration ? String(a.firstIteration) : `${a.firstIteration}–${a.lastIteration}`,
              a.maxIterations ? h("span", { class: "muted" }, ` of ${a.maxIterations}`) : null,
            ),
            h(
              "td",
              { "data-label": "Outcome" },
              OUTCOME_STATE[a.outcome] ? badge("state", a.outcome) : h("span", { class: "badge state-UNKNOWN" }, a.outcome),
              a.stopReason ? [" ", h("code", { class: "reason" }, a.stopReason)] : null,
              a.stoppedBy ? h("span", { class: "muted small" }, ` by ${a.stoppedBy}`) : null,
            ),
            h(
              "td",
              { "data-label": "Ended" },
              a.endedAt ? [time(a.endedAt), h("span", { class: "muted small" }, ` after ${duration((Date.parse(a.endedAt) - Date.parse(a.startedAt)) / 1000)}`)] : "—",
            ),
          ),
        ),
      ),
    ),
  );
}

/** "COMPLETE after 1 crash and 1 restart": the attempts in one sentence, when there was more than a plain run. */
export function historySentence(run: RunDetail): HTMLElement | null {
  const crashes = run.attempts.filter((a) => a.outcome === "FAILED").length;
  const restarts = run.attempts.filter((a) => a.restart).length;
  if (!crashes && !restarts) return null;
  const parts = [crashes ? `${crashes} crash${crashes === 1 ? "" : "es"}` : null, restarts ? `${restarts} restart${restarts === 1 ? "" : "s"}` : null].filter(Boolean).join(" and ");
  return h(
    "p",
    { class: "history-sentence", "data-crashes": crashes, "data-restarts": restarts },
    badge("state", run.state),
    ` after ${parts}`,
    h("span", { class: "muted small" }, ` (${run.attempts.length} attempts below)`),
  );
}
