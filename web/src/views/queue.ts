import { actionBar } from "../actions";
import type { Api } from "../api";
import { badge, h, replace, time } from "../dom";
import { INTERVENTIONS, INTERVENTIONS_CHANGED } from "../queries";
import type { Intervention, InterventionChange } from "../types";
import type { View } from "./view";

// The intervention queue: runs that need an operator, critical first, then oldest first (as the server
// orders them). Kept current from interventionsChanged; re-read in full after a reconnect.

/** Queries give Relay ids, interventionsChanged the raw run id: key everything by the raw one. */
function rawRunId(id: string): string {
  try {
    const decoded = atob(id);
    return decoded.startsWith("Run:") ? decoded.slice(4) : id;
  } catch {
    return id;
  }
}

const SEVERITY_RANK: Record<string, number> = { critical: 0, warning: 1 };

function sortQueue(items: Intervention[]): Intervention[] {
  return items.sort((a, b) => (SEVERITY_RANK[a.severity] ?? 2) - (SEVERITY_RANK[b.severity] ?? 2) || a.since.localeCompare(b.since));
}

function card(api: Api, i: Intervention, statuses: Map<string, string>): HTMLElement {
  const label = `${i.run.sprite.name} / ${i.run.loopId}`;
  const titleId = `q-${i.run.id}`;
  return h(
    "article",
    {
      class: `queue-item severity-${i.severity}`,
      "aria-labelledby": titleId,
      "data-run": i.run.id,
      "data-sprite": i.run.sprite.name,
      "data-actions": i.suggestedActions.join(","),
    },
    h(
      "header",
      {},
      h("h3", { id: titleId }, h("a", { href: `#/run/${encodeURIComponent(i.run.id)}` }, label)),
      badge("severity", i.severity),
      badge("state", i.run.state),
      h("span", { class: "muted small" }, i.run.stateReason, " · since ", time(i.since)),
    ),
    h(
      "ul",
      { class: "reasons" },
      i.reasons.map((r) => h("li", {}, badge("severity", r.severity), " ", h("code", {}, r.code), " ", r.message)),
    ),
    actionBar(api, i.run.id, i.suggestedActions, label, {
      status: { get: () => statuses.get(i.run.id) ?? "", set: (t) => statuses.set(i.run.id, t) },
    }),
  );
}

export function queueView(api: Api): View {
  const list = h("div", { class: "queue" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const el = h(
    "section",
    { class: "view queue-view", "aria-labelledby": "queue-title" },
    h("h2", { id: "queue-title" }, "Intervention queue"),
    h("p", { class: "muted" }, "Runs that need an operator. Actions are sent with your API token."),
    error,
    list,
  );
  const items = new Map<string, Intervention>();
  const seqs = new Map<string, number>();
  // A run's suggested actions change as it moves (approve → IDLE with START → gone): its card is rebuilt,
  // but the operator should still read what their click did.
  const statuses = new Map<string, string>();
  let disposed = false;

  const render = () => {
    const sorted = sortQueue([...items.values()]);
    // Re-rendering would wipe a note being typed and the result line of a button just clicked: keep the
    // cards of runs still queued, replace only their header and reasons.
    const existing = new Map<string, Element>();
    for (const c of Array.from(list.querySelectorAll("article.queue-item"))) existing.set(c.getAttribute("data-run") ?? "", c);
    if (!sorted.length) {
      replace(list, h("p", { class: "empty" }, "Nothing needs an operator right now."));
      return;
    }
    const next = sorted.map((i) => {
      const fresh = card(api, i, statuses);
      const old = existing.get(i.run.id);
      if (!old || old.getAttribute("data-actions") !== fresh.getAttribute("data-actions")) return fresh;
      old.replaceChild(fresh.querySelector("header")!, old.querySelector("header")!);
      old.replaceChild(fresh.querySelector("ul.reasons")!, old.querySelector("ul.reasons")!);
      old.className = fresh.className;
      return old;
    });
    replace(list, next);
  };

  const load = async () => {
    try {
      const data = await api.data<{ interventions: Intervention[] }>(INTERVENTIONS);
      if (disposed) return;
      items.clear();
      for (const i of data.interventions) items.set(rawRunId(i.run.id), i);
      error.hidden = true;
      render();
    } catch (e) {
      if (disposed) return;
      error.hidden = false;
      error.textContent = `Cannot load the queue: ${e instanceof Error ? e.message : String(e)}`;
    }
  };

  const sub = api.subscribe<{ interventionsChanged: InterventionChange }>(
    { query: INTERVENTIONS_CHANGED, variables: {} },
    {
      next: (r) => {
        const c = r.data?.interventionsChanged;
        if (!c) return;
        // Changes for one run carry its increasing seq: an older one arriving late must not win.
        const id = rawRunId(c.runId);
        if ((seqs.get(id) ?? -1) > c.seq) return;
        seqs.set(id, c.seq);
        if (c.intervention) items.set(id, c.intervention);
        else items.delete(id);
        render();
      },
    },
  );
  void load();
  return {
    el,
    refresh: () => void load(),
    dispose: () => {
      disposed = true;
      sub();
    },
  };
}
