import { actionBar, actionsForState } from "../actions";
import type { Api, GqlResult } from "../api";
import { badge, clock, h, replace, time } from "../dom";
import { FeedState, type FeedBatch, type FeedEvent } from "../feed";
import { INTENT_UPDATED, LIFECYCLE_CHANGED, RUN, RUN_EVENTS, RUN_INTENTS } from "../queries";
import type { Intent, RunDetail } from "../types";
import { debounce, type View } from "./view";

// One run: what it is doing, how it got here (lifecycle transitions), what operators asked of it (control
// intents and their stages) and its events as they are written.

const FEED_BACKLOG = 200;
const INTENT_PATH = ["REQUESTED", "DISPATCHED", "ACCEPTED", "CONFIRMED"];

function transitionsList(run: RunDetail): HTMLElement {
  const items = run.transitions.edges.map((e) => e.node);
  if (!items.length) return h("p", { class: "muted" }, "No transitions yet.");
  return h(
    "ol",
    { class: "timeline", "aria-label": "Lifecycle transitions, oldest first" },
    items.map((t) =>
      h(
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
          { class: n <= reached || rec ? "done" : "todo", "aria-current": s === i.stage ? "step" : null, title: rec ? `${clock(rec.at)} ${rec.observation}` : null },
          s,
          rec ? h("span", { class: "sr-only" }, ` at ${clock(rec.at)}`) : null,
        );
      }),
      terminalOff ? h("li", { class: "end", "aria-current": "step" }, badge("stage", i.stage)) : null,
    ),
    latest ? h("p", { class: "muted small observation" }, `${clock(latest.at)} ${latest.observation}`) : null,
    i.error ? h("p", { class: "error small" }, i.error) : null,
    i.note ? h("p", { class: "muted small" }, `Note: ${i.note}`) : null,
  );
}

function feedRow(e: FeedEvent): HTMLElement {
  return h(
    "li",
    { "data-line": e.line },
    h("span", { class: "line" }, String(e.line)),
    h("time", { datetime: e.timestamp }, clock(e.timestamp)),
    h("code", { class: "name" }, e.name),
    e.iteration !== null ? h("span", { class: "iter" }, `it ${e.iteration}`) : null,
    e.role ? h("span", { class: "role" }, e.role) : null,
    e.status ? h("span", { class: `status status-${e.status}` }, e.status) : null,
    e.message ? h("span", { class: "msg" }, e.message) : null,
  );
}

export function runView(api: Api, runId: string): View {
  const head = h("div", { class: "run-head" });
  const actions = h("div", { class: "run-actions" });
  const timeline = h("div", {});
  const intents = h("div", {});
  const feedInfo = h("p", { class: "muted small", "aria-live": "off" });
  const feedList = h("ol", { class: "feed", "aria-label": "Event feed", tabindex: 0 });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const el = h(
    "section",
    { class: "view run-view", "aria-labelledby": "run-title" },
    h("p", {}, h("a", { href: "#/" }, "← Fleet")),
    error,
    head,
    actions,
    h(
      "div",
      { class: "run-grid" },
      h("section", { class: "card", "aria-labelledby": "tl-title" }, h("h3", { id: "tl-title" }, "Lifecycle"), timeline),
      h("section", { class: "card", "aria-labelledby": "in-title" }, h("h3", { id: "in-title" }, "Control intents"), intents),
    ),
    h("section", { class: "card", "aria-labelledby": "feed-title" }, h("h3", { id: "feed-title" }, "Live events"), feedInfo, feedList),
  );

  let disposed = false;
  let feed: FeedState | null = null;
  let feedSub: (() => void) | null = null;
  const intentMap = new Map<string, Intent>();
  let lastActionsSig = "";
  let lastActionStatus = "";
  const actionStatus = { get: () => lastActionStatus, set: (t: string) => (lastActionStatus = t) };

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
    feedSub = api.subscribe<{ runEvents: FeedBatch }>(payload, {
      next: (r: GqlResult<{ runEvents: FeedBatch }>) => {
        const batch = r.data?.runEvents;
        if (!batch || !feed) return;
        const stick = feedList.scrollTop + feedList.clientHeight >= feedList.scrollHeight - 40;
        const fresh = feed.accept(batch);
        payload.variables.after = String(feed.cursor);
        for (const e of fresh) feedList.appendChild(feedRow(e));
        while (feedList.childElementCount > feed.limit) feedList.firstElementChild?.remove();
        if (stick) feedList.scrollTop = feedList.scrollHeight;
        renderFeedInfo();
      },
      error: (e) => {
        feedInfo.textContent = `Event feed error: ${Array.isArray(e) ? (e as { message: string }[]).map((x) => x.message).join("; ") : String(e)}`;
      },
      // The server ends a subscriber that fell behind (resyncRequired): pick up again from our cursor.
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

  const load = async () => {
    try {
      const data = await api.data<{ run: RunDetail | { __typename: "NotFound"; message: string } }>(RUN, { id: runId });
      if (disposed) return;
      const run = data.run;
      if (run.__typename !== "Run") throw new Error(run.message);
      error.hidden = true;
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
          badge("health", run.health.status),
          run.iteration !== null ? ` · iteration ${run.iteration}` : "",
          run.ingest.status !== "OK" ? [" · ingest ", badge("health", run.ingest.status)] : null,
        ),
        run.health.reasons.length
          ? h("ul", { class: "reasons" }, run.health.reasons.map((r) => h("li", {}, badge("severity", r.severity), " ", h("code", {}, r.code), " ", r.message)))
          : null,
        run.ingest.lastError ? h("p", { class: "error small" }, run.ingest.lastError) : null,
        h("p", { class: "muted small" }, `repo ${run.repoPath} · runtime run ${run.runtimeRunId ?? "—"} · ${run.sprite.transport ?? ""}`),
      );
      // Rebuild the buttons only when they change: that would wipe a note being typed.
      const kinds = actionsForState(run.state, run.ingest.status);
      if (kinds.join(",") !== lastActionsSig) {
        lastActionsSig = kinds.join(",");
        replace(actions, actionBar(api, run.id, kinds, `${run.sprite.name} / ${run.loopId}`, { status: actionStatus }));
      }
      replace(timeline, transitionsList(run));
      if (!feed) startFeed(Math.max(0, run.ingest.cursorLine - FEED_BACKLOG));
    } catch (e) {
      if (disposed) return;
      error.hidden = false;
      error.textContent = `Cannot load run ${runId}: ${e instanceof Error ? e.message : String(e)}`;
    }
  };

  const reload = debounce(() => void load(), 200);
  const subs = [
    api.subscribe({ query: LIFECYCLE_CHANGED, variables: { filter: { run: runId } } }, { next: reload }),
    api.subscribe<{ controlIntentUpdated: Intent }>(
      { query: INTENT_UPDATED, variables: { runId } },
      {
        next: (r) => {
          const i = r.data?.controlIntentUpdated;
          if (!i) return;
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
      clearInterval(timer);
      feedSub?.();
      for (const d of subs) d();
    },
  };
}
