import { actionBar, actionsForState } from "../actions";
import type { Api, GqlResult } from "../api";
import { progressBar, swimlane } from "../charts";
import { badge, h, healthBadge, replace, time } from "../dom";
import { FeedState, type FeedUpdate } from "../feed";
import { completionMarks } from "../marks";
import { INTENT_UPDATED, LIFECYCLE_CHANGED, RUN, RUN_EVENTS, RUN_INTENTS } from "../queries";
import type { Intent, RunDetail } from "../types";
import { debounce, throttle, type View } from "./view";
import { transitionsList, intentItem, feedRow, signOffCard, attemptsTable, historySentence } from "./run-parts";

// One run: what it is doing, how it got here (lifecycle transitions), what operators asked of it (control
// intents and their stages) and its events as they are written.

const FEED_BACKLOG = 200;

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
