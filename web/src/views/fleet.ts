import type { Api } from "../api";
import { badge, h, replace, time } from "../dom";
import { FLEET, INTERVENTIONS_CHANGED, LIFECYCLE_CHANGED, RUNS } from "../queries";
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

function runsTable(runs: RunRow[]): HTMLElement {
  if (!runs.length) return h("p", { class: "muted" }, "No runs registered yet. Start with ", h("code", {}, "npm start -- --demo"), " or registerSprite.");
  const sorted = [...runs].sort((a, b) => STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) || a.sprite.name.localeCompare(b.sprite.name));
  return h(
    "table",
    { class: "runs" },
    h("caption", {}, "Runs"),
    h("thead", {}, h("tr", {}, ["Sprite", "Loop", "State", "Reason", "Health", "Iteration", "Last event"].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      sorted.map((r) =>
        h(
          "tr",
          { "data-sprite": r.sprite.name, "data-state": r.state },
          h("th", { scope: "row" }, h("a", { href: `#/run/${encodeURIComponent(r.id)}` }, r.sprite.name)),
          h("td", {}, r.loopId),
          h("td", {}, badge("state", r.state)),
          h("td", { class: "reason" }, r.stateReason),
          h("td", {}, badge("health", r.health.status), r.health.reasons.length ? h("span", { class: "muted small" }, ` ${r.health.reasons.map((x) => x.code).join(", ")}`) : null),
          h("td", { class: "num" }, r.iteration ?? "—"),
          h("td", {}, r.lastEventName ? h("span", {}, h("code", {}, r.lastEventName), " ", time(r.lastEventAt)) : "—"),
        ),
      ),
    ),
  );
}

export function fleetView(api: Api): View {
  const summary = h("div", { class: "summary", "aria-live": "polite" });
  const table = h("div", { class: "table-wrap" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const el = h("section", { class: "view fleet", "aria-labelledby": "fleet-title" }, h("h2", { id: "fleet-title" }, "Fleet"), error, summary, table);

  let disposed = false;
  const load = async () => {
    try {
      const [runsData, fleetData] = await Promise.all([
        api.data<{ runs: { edges: { node: RunRow }[] } }>(RUNS),
        api.request<{ fleet: Fleet }>(FLEET),
      ]);
      if (disposed) return;
      const runs = runsData.runs.edges.map((e) => e.node);
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
          tally("By state", "state", STATE_ORDER, fleet.byState.map((s) => ({ key: s.state, count: s.count }))),
          tally("By health", "health", HEALTH_ORDER, fleet.byHealth.map((s) => ({ key: s.status, count: s.count }))),
        ),
      );
      replace(table, runsTable(runs));
    } catch (e) {
      if (disposed) return;
      error.hidden = false;
      error.textContent = `Cannot load the fleet: ${e instanceof Error ? e.message : String(e)}`;
    }
  };
  const reload = debounce(() => void load(), 250);
  // State changes come through runLifecycleChanged; health-only changes (a run going stale) through the queue.
  const subs = [
    api.subscribe({ query: LIFECYCLE_CHANGED, variables: { filter: null } }, { next: reload }),
    api.subscribe({ query: INTERVENTIONS_CHANGED, variables: {} }, { next: reload }),
  ];
  // "Last event 12s ago" and lag-based health move with the clock, not with events: a slow re-read covers them.
  const timer = setInterval(reload, 15_000);
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
