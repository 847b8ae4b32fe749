import type { Api } from "../api";
import { fleetTimeline, progressBar, sparkline } from "../charts";
import { badge, h, healthBadge, replace, time } from "../dom";
import { completionMarks } from "../marks";
import { FLEET, INTERVENTIONS_CHANGED, LIFECYCLE_CHANGED, RUNS, RUNS_BASIC, SPARK_SECONDS } from "../queries";
import type { Fleet, RunRow } from "../types";
import { debounce, type View } from "./view";

const STATE_ORDER = ["AWAITING_APPROVAL", "FAILED", "RUNNING", "PAUSED", "STOPPED", "IDLE", "COMPLETE", "UNKNOWN"];
const HEALTH_ORDER = ["CRITICAL", "DEGRADED", "HEALTHY"];

/** Counts from `runs` when the server has no `fleet` query (older servers). */
function fleetFromRuns(runs: RunRow[]): Fleet {
  const count = (key: (r: RunRow) => string) => {
    const m = new Map<string, number>();
    for (const r of runs) m.set(key(r), (m.get(key(r)) ?? 0) + 1);
    return m;
  };
  return {
    sprites: new Set(runs.map((r) => r.sprite.name)).size,
    runs: runs.length,
    needsIntervention: -1,
    byState: [...count((r) => r.state)].map(([state, n]) => ({ state, count: n })),
    byHealth: [...count((r) => r.health.status)].map(([status, n]) => ({ status, count: n })),
  };
}

function tally(title: string, kind: "state" | "health", order: string[], counts: { key: string; count: number }[]): HTMLElement {
  const byKey = new Map(counts.map((c) => [c.key, c.count]));
  const items = order.filter((k) => byKey.has(k)).map((k) => h("li", {}, badge(kind, k), h("span", { class: "n" }, String(byKey.get(k)))));
  return h("section", { class: "card", "aria-label": title }, h("h3", {}, title), items.length ? h("ul", { class: "tally" }, items) : h("p", { class: "muted" }, "none"));
}

function stateCell(r: RunRow): HTMLElement {
  const marks = completionMarks(r.state, r.signOff, r.restartCount);
  return h(
    "td",
    { class: "state-cell" },
    badge("state", r.state),
    marks.map((m) => [" ", h("span", { class: `mark mark-${m.kind}`, title: m.detail, "data-mark": m.kind }, m.text, h("span", { class: "sr-only" }, `: ${m.detail}`))]),
  );
}

function runsTable(runs: RunRow[]): HTMLElement {
  if (!runs.length)
    return h(
      "p",
      { class: "muted" },
      "No runs registered yet. Register a Sprite on the ",
      h("a", { href: "#/sprites" }, "Sprites"),
      " page, or start with ",
      h("code", {}, "npm start -- --demo"),
      ".",
    );
  const sorted = [...runs].sort((a, b) => STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) || a.sprite.name.localeCompare(b.sprite.name));
  const history = runs.some((r) => r.eventRate !== undefined);
  const cols = ["Sprite", "Loop", "State", "Reason", "Health", "Progress", ...(history ? ["Activity (5 min)", "Restarts"] : []), "Last event"];
  return h(
    "table",
    { class: "runs" },
    h("caption", {}, "Runs"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        cols.map((c) => h("th", { scope: "col" }, c)),
      ),
    ),
    h(
      "tbody",
      {},
      sorted.map((r) =>
        h(
          "tr",
          { "data-sprite": r.sprite.name, "data-state": r.state, "data-restarts": r.restartCount ?? "" },
          h("th", { scope: "row", "data-label": "Sprite" }, h("a", { href: `#/run/${encodeURIComponent(r.id)}` }, r.sprite.name)),
          h("td", { "data-label": "Loop" }, r.loopId),
          stateCell(r),
          h("td", { class: "reason", "data-label": "Reason" }, r.stateReason),
          h("td", { "data-label": "Health" }, healthBadge(r.health.status), r.health.reasons.length ? h("span", { class: "muted small" }, ` ${r.health.reasons.map((x) => x.code).join(", ")}`) : null),
          h("td", { class: "num", "data-label": "Progress" }, progressBar(r.iteration, r.maxIterations ?? null)),
          history ? h("td", { class: "spark-cell", "data-label": "Activity" }, r.eventRate ? sparkline(r.eventRate, SPARK_SECONDS, { expectActivity: r.state === "RUNNING" }) : "—") : null,
          history ? h("td", { class: "num", "data-label": "Restarts" }, String(r.restartCount ?? 0)) : null,
          h("td", { "data-label": "Last event" }, r.lastEventName ? h("span", {}, h("code", {}, r.lastEventName), " ", time(r.lastEventAt)) : "—"),
        ),
      ),
    ),
  );
}

function timelineCard(runs: RunRow[]): HTMLElement | null {
  const rows = runs
    .filter((r) => r.stateSpans && r.stateSpans.length)
    .sort((a, b) => a.sprite.name.localeCompare(b.sprite.name))
    .map((r) => ({ label: `${r.sprite.name}/${r.loopId}`, href: `#/run/${encodeURIComponent(r.id)}`, spans: r.stateSpans! }));
  if (!rows.length) return null;
  const states = [...new Set(rows.flatMap((r) => r.spans.map((s) => s.state)))].sort((a, b) => STATE_ORDER.indexOf(a) - STATE_ORDER.indexOf(b));
  return h(
    "section",
    { class: "card timeline-card", "aria-labelledby": "tl24-title" },
    h("h3", { id: "tl24-title" }, "Last 24 hours"),
    h("div", { class: "chart-scroll" }, fleetTimeline(rows, 24)),
    h(
      "ul",
      { class: "legend", "aria-label": "Colours" },
      states.map((s) => h("li", {}, h("span", { class: `swatch state-fill-${s}`, "aria-hidden": "true" }), badge("state", s))),
    ),
  );
}

export function fleetView(api: Api): View {
  const summary = h("div", { class: "summary", "aria-live": "polite" }, h("p", { class: "muted" }, "Loading the fleet…"));
  const table = h("div", { class: "table-wrap" });
  const timeline = h("div", {});
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const el = h("section", { class: "view fleet", "aria-labelledby": "fleet-title" }, h("h2", { id: "fleet-title" }, "Fleet"), error, summary, table, timeline);

  let disposed = false;
  let basic = false;
  const readRuns = async (): Promise<RunRow[]> => {
    if (!basic) {
      const r = await api.request<{ runs: { edges: { node: RunRow }[] } }>(RUNS);
      // An older server without the history fields still gets a fleet table.
      if (r.errors?.some((e) => /Cannot query field/.test(e.message))) basic = true;
      else if (r.errors?.length || !r.data) throw new Error(r.errors?.[0]?.message ?? "no data");
      else return r.data.runs.edges.map((e) => e.node);
    }
    return (await api.data<{ runs: { edges: { node: RunRow }[] } }>(RUNS_BASIC)).runs.edges.map((e) => e.node);
  };
  const load = async () => {
    try {
      const [runs, fleetData] = await Promise.all([readRuns(), api.request<{ fleet: Fleet }>(FLEET)]);
      if (disposed) return;
      const fleet = fleetData.data?.fleet ?? fleetFromRuns(runs);
      error.hidden = true;
      replace(
        summary,
        h(
          "p",
          { class: "headline" },
          h("strong", {}, String(fleet.sprites)),
          " sprites · ",
          h("strong", {}, String(fleet.runs)),
          " runs",
          fleet.needsIntervention >= 0 ? [" · ", h("a", { href: "#/queue" }, h("strong", {}, String(fleet.needsIntervention)), " need an operator")] : null,
        ),
        h(
          "div",
          { class: "cards" },
          tally(
            "By state",
            "state",
            STATE_ORDER,
            fleet.byState.map((s) => ({ key: s.state, count: s.count })),
          ),
          tally(
            "By health",
            "health",
            HEALTH_ORDER,
            fleet.byHealth.map((s) => ({ key: s.status, count: s.count })),
          ),
        ),
      );
      replace(table, runsTable(runs));
      replace(timeline, timelineCard(runs));
    } catch (e) {
      if (disposed) return;
      error.hidden = false;
      error.textContent = `Cannot load the fleet: ${e instanceof Error ? e.message : String(e)}`;
    }
  };
  const reload = debounce(() => void load(), 250);
  // State changes come through runLifecycleChanged; health-only changes (a run going stale) through the queue.
  const subs = [api.subscribe({ query: LIFECYCLE_CHANGED, variables: { filter: null } }, { next: reload }), api.subscribe({ query: INTERVENTIONS_CHANGED, variables: {} }, { next: reload })];
  // Sparklines, "12s ago" and lag-based health move with the clock, not with lifecycle changes: re-read often.
  const timer = setInterval(reload, SPARK_SECONDS * 1000);
  void load();
  return {
    el,
    refresh: () => void load(),
    dispose: () => {
      disposed = true;
      reload.cancel();
      clearInterval(timer);
      for (const d of subs) d();
    },
  };
}
