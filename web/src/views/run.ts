import { actionBar, actionsForState } from "../actions";
import type { Api, GqlResult } from "../api";
import { progressBar, swimlane } from "../charts";
import { absolute, badge, clock, duration, h, healthBadge, replace, time } from "../dom";
import { FeedState, type FeedEvent, type FeedUpdate } from "../feed";
import { completionMarks } from "../marks";
import { INTENT_UPDATED, LIFECYCLE_CHANGED, RUN, RUN_EVENTS, RUN_INTENTS } from "../queries";
import type { Attempt, Intent, RunDetail, SignOff } from "../types";
import { debounce, throttle, type View } from "./view";

// One run: what it is doing, how it got here (lifecycle transitions), what operators asked of it (control
// intents and their stages) and its events as they are written.

const FEED_BACKLOG = 200;
const INTENT_PATH = ["REQUESTED", "DISPATCHED", "ACCEPTED", "CONFIRMED"];

/** Names for the annotation rows (same state, recorded for the history): shown as notes, never as X → X. */
const NOTE_TRIGGERS: Record<string, string> = { cursor_reset: "cursor reset", control_mode: "control mode changed", sprite: "Sprite status" };

function transitionsList(run: RunDetail): HTMLElement {
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

function intentItem(i: Intent): HTMLElement {
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

function feedRow(e: FeedEvent): HTMLElement {
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

function signOffCard(run: RunDetail): HTMLElement {
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

function attemptsTable(attempts: Attempt[]): HTMLElement {
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
function historySentence(run: RunDetail): HTMLElement | null {
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

export function runView(api: Api, runId: string): View {
  const head = h("div", { class: "run-head" }, h("p", { class: "muted loading" }, "Loading the run…"));
  const actions = h("div", { class: "run-actions" });
  const timeline = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const intents = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const signOff = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const attempts = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const lanes = h("div", { class: "chart-scroll" }, h("p", { class: "muted" }, "Loading…"));
  const feedInfo = h("p", { class: "muted small", "aria-live": "off" });
  const feedList = h("ol", { class: "feed", "aria-label": "Event feed", tabindex: 0 });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const body = h(
    "div",
    { class: "run-body" },
    actions,
    h("section", { class: "card", "aria-labelledby": "at-title" }, h("h3", { id: "at-title" }, "Attempts (runtime invocations)"), attempts),
    h(
      "div",
      { class: "run-grid" },
      h("section", { class: "card", "aria-labelledby": "so-title" }, h("h3", { id: "so-title" }, "Sign-off (last summary)"), signOff),
      h("section", { class: "card", "aria-labelledby": "sl-title" }, h("h3", { id: "sl-title" }, "Roles per iteration"), lanes),
    ),
    h(
      "div",
      { class: "run-grid" },
      h("section", { class: "card", "aria-labelledby": "tl-title" }, h("h3", { id: "tl-title" }, "Lifecycle"), timeline),
      h("section", { class: "card", "aria-labelledby": "in-title" }, h("h3", { id: "in-title" }, "Control intents"), intents),
    ),
    h("section", { class: "card", "aria-labelledby": "feed-title" }, h("h3", { id: "feed-title" }, "Live events"), feedInfo, feedList),
  );
  const el = h("section", { class: "view run-view", "aria-labelledby": "run-title" }, h("p", {}, h("a", { href: "#/" }, "← Fleet")), error, head, body);

  let disposed = false;
  let feed: FeedState | null = null;
  let feedSub: (() => void) | null = null;
  const intentMap = new Map<string, Intent>();
  let lastActionsSig = "";
  let lastActionStatus = "";
  // The bar is rebuilt when the state's actions change (RUNNING → STOPPED after a cancel): an intent still being
  // followed must write into the bar on screen, not into the one it was started from.
  const actionStatus = {
    get: () => lastActionStatus,
    set: (t: string) => {
      lastActionStatus = t;
      const shown = actions.querySelector(".action-status");
      if (shown) shown.textContent = t;
    },
  };
  let lifecycleSub: (() => void) | null = null;
  const lifecyclePayload = { query: LIFECYCLE_CHANGED, variables: { filter: { run: runId }, afterSeq: null as number | null } };

  const renderIntents = (available: boolean) => {
    if (!available) return replace(intents, h("p", { class: "muted" }, "This server does not report control intents."));
    const list = [...intentMap.values()].sort((a, b) => b.requestedAt.localeCompare(a.requestedAt));
    replace(intents, list.length ? h("ul", { class: "intents" }, list.map(intentItem)) : h("p", { class: "muted" }, "No control intents yet."));
  };

  const renderFeedInfo = () => {
    if (feed) feedInfo.textContent = `${feed.shown.length} events shown · cursor ${feed.cursor}`;
  };

  const startFeed = (after: number) => {
    feed ??= new FeedState(after);
    // The same variables object is re-sent by the client after a reconnect: keeping `after` current here is
    // what makes the feed resume from the last line shown instead of replaying (or missing) anything.
    const payload = { query: RUN_EVENTS, variables: { runId, after: String(feed.cursor) } };
    feedSub = api.subscribe<{ runEvents: FeedUpdate }>(payload, {
      next: (r: GqlResult<{ runEvents: FeedUpdate }>) => {
        const batch = r.data?.runEvents;
        // ResyncRequired or NotFound ends the subscription: `complete` below picks up again from our cursor.
        if (batch?.__typename !== "RunEventsBatch" || !feed) return;
        const stick = feedList.scrollTop + feedList.clientHeight >= feedList.scrollHeight - 40;
        const fresh = feed.accept(batch);
        payload.variables.after = String(feed.cursor);
        for (const e of fresh) feedList.appendChild(feedRow(e));
        while (feedList.childElementCount > feed.limit) feedList.firstElementChild?.remove();
        if (stick) feedList.scrollTop = feedList.scrollHeight;
        renderFeedInfo();
        // The swimlane, progress and attempts move with role and loop events: re-read them, at most every 2 s.
        if (fresh.some((e) => /^(role_|loop_|iteration_|gates_|approval_)/.test(e.name))) liveReload();
      },
      error: (e) => {
        feedInfo.textContent = `Event feed error: ${Array.isArray(e) ? (e as { message: string }[]).map((x) => x.message).join("; ") : String(e)}`;
      },
      // The server ends a subscriber that fell behind (ResyncRequired): pick up again from our cursor.
      complete: () => {
        if (!disposed) setTimeout(() => !disposed && startFeed(feed?.cursor ?? after), 200);
      },
    });
  };

  const loadIntents = async () => {
    const r = await api.request<{ run: { intents?: { edges: { node: Intent }[] } } }>(RUN_INTENTS, { id: runId });
    if (disposed) return;
    const list = r.data?.run?.intents?.edges.map((e) => e.node);
    if (r.errors?.length || !list) return renderIntents(false);
    intentMap.clear();
    for (const i of list) intentMap.set(i.id, i);
    renderIntents(true);
  };

  const notFound = (message: string) => {
    replace(
      head,
      h("h2", { id: "run-title" }, "Run not found"),
      h("p", { class: "not-found", role: "alert" }, `No run has the id “${runId}”. `, h("span", { class: "muted" }, message)),
      h("p", {}, h("a", { href: "#/" }, "Back to the fleet")),
    );
    body.hidden = true;
  };

  const load = async () => {
    try {
      const data = await api.data<{ run: RunDetail | { __typename: "NotFound"; message: string } }>(RUN, { id: runId });
      if (disposed) return;
      const run = data.run;
      if (run.__typename !== "Run") return notFound(run.message);
      error.hidden = true;
      body.hidden = false;
      const marks = completionMarks(run.state, run.signOff, run.restartCount);
      replace(
        head,
        h("h2", { id: "run-title" }, run.sprite.name, h("span", { class: "muted" }, ` / ${run.loopId}`)),
        h(
          "p",
          { class: "status-line" },
          badge("state", run.state),
          " ",
          h("code", { class: "reason" }, run.stateReason),
          " since ",
          time(run.stateSince),
          " · ",
          healthBadge(run.health.status),
          run.ingest.status !== "OK" ? [" · ingest ", badge("health", run.ingest.status)] : null,
          marks.filter((m) => m.kind !== "restarted").map((m) => [" ", h("span", { class: `mark mark-${m.kind}`, title: m.detail }, m.text)]),
        ),
        historySentence(run),
        h("p", { class: "progress-line" }, "Iteration ", progressBar(run.iteration, run.maxIterations ?? null)),
        run.health.reasons.length
          ? h(
              "ul",
              { class: "reasons" },
              run.health.reasons.map((r) => h("li", {}, healthBadge(r.severity), " ", h("code", {}, r.code), " ", r.message, " ", h("span", { class: "muted small" }, "since "), time(r.since))),
            )
          : null,
        run.ingest.lastError ? h("p", { class: "error small" }, run.ingest.lastError) : null,
        h(
          "p",
          { class: "muted small" },
          `repo ${run.repoPath} · runtime run ${run.runtimeRunId ?? "—"} · ${run.sprite.transport ?? ""}`,
          run.eventsRetainedFrom > 1 ? ` · stored history starts at line ${run.eventsRetainedFrom} (earlier lines pruned)` : "",
          run.archive ? ` · lines 1–${run.archive.lines} archived to ${run.archive.file}` : "",
        ),
      );
      // Rebuild the buttons only when they change: that would wipe a note being typed.
      const kinds = actionsForState(run.state, run.ingest.status);
      if (kinds.join(",") !== lastActionsSig) {
        lastActionsSig = kinds.join(",");
        replace(actions, actionBar(api, run.id, kinds, `${run.sprite.name} / ${run.loopId}`, { status: actionStatus }));
      }
      replace(timeline, transitionsList(run));
      replace(signOff, signOffCard(run));
      replace(attempts, attemptsTable(run.attempts));
      replace(
        lanes,
        run.roleSpans.length
          ? [
              swimlane(run.roleSpans),
              h(
                "ul",
                { class: "legend", "aria-label": "Turn colours" },
                ["ok", "running", "error", "timeout", "died"].map((st) => h("li", {}, h("span", { class: `swatch span-bg-${st}`, "aria-hidden": "true" }), st)),
              ),
              h("p", { class: "muted small" }, "Width: the turn's share of its iteration's longest turn; hover a turn for its duration."),
            ]
          : h("p", { class: "muted" }, "No role has run yet."),
      );
      if (!feed) startFeed(Math.max(0, run.ingest.cursorLine - FEED_BACKLOG));
      if (!lifecycleSub) {
        // Resume from the seq just read: a reconnect re-sends this payload with the latest seq seen.
        lifecyclePayload.variables.afterSeq = run.seq;
        lifecycleSub = api.subscribe<{ runLifecycleChanged: { seq?: number } }>(lifecyclePayload, {
          next: (r) => {
            const seq = r.data?.runLifecycleChanged?.seq;
            if (typeof seq === "number") lifecyclePayload.variables.afterSeq = Math.max(lifecyclePayload.variables.afterSeq ?? 0, seq);
            reload();
          },
        });
      }
    } catch (e) {
      if (disposed) return;
      error.hidden = false;
      error.textContent = `Cannot load run ${runId}: ${e instanceof Error ? e.message : String(e)}`;
      replace(head);
    }
  };

  const reload = debounce(() => void load(), 200);
  const liveReload = throttle(() => void load(), 2000);
  const subs = [
    api.subscribe<{ controlIntentUpdated: Intent & { __typename: string } }>(
      { query: INTENT_UPDATED, variables: { runId } },
      {
        next: (r) => {
          const i = r.data?.controlIntentUpdated;
          if (i?.__typename !== "ControlIntent") return;
          intentMap.set(i.id, i);
          renderIntents(true);
          reload();
        },
      },
    ),
  ];
  // Health moves with the clock (a silent run turns stale without any event): re-read now and then.
  const timer = setInterval(reload, 10_000);
  void load();
  void loadIntents();
  return {
    el,
    refresh: () => {
      void load();
      void loadIntents();
    },
    dispose: () => {
      disposed = true;
      reload.cancel();
      liveReload.cancel();
      clearInterval(timer);
      feedSub?.();
      lifecycleSub?.();
      for (const d of subs) d();
    },
  };
}
