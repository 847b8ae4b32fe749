import { actionBar } from "../actions";
import type { Api } from "../api";
import { badge, h, healthBadge, replace, time } from "../dom";
import { ACKNOWLEDGE, INTERVENTIONS, INTERVENTIONS_CHANGED, RECENTLY_RESOLVED } from "../queries";
import type { Intervention, InterventionChange, Resolved } from "../types";
import { debounce, type View } from "./view";

// The intervention queue: runs that need an operator, critical first, then oldest first (as the server
// orders them). Kept current from interventionsChanged; re-read in full after a reconnect. It closes the loop:
// every card can be acted on, acknowledged or snoozed (recorded with who and until when), the result of what
// was done stays on screen after the card leaves, and "recently resolved" says what happened to each item.

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

const SNOOZES: [number, string][] = [
  [15, "15 min"],
  [60, "1 hour"],
  [240, "4 hours"],
  [1440, "1 day"],
];

const CLEAR_ACK = `mutation Clear($runId: ID!) { result: clearInterventionAck(runId: $runId) { __typename ... on Error { message } } }`;

interface AckResult {
  result?: { __typename: string; kind?: string; by?: string; until?: string | null; message?: string } | null;
}

async function acknowledge(api: Api, runId: string, note: string, snooze: number | null): Promise<string> {
  const r = await api.request<AckResult>(ACKNOWLEDGE, { runId, note: note || null, snooze });
  if (r.errors?.length) return `Acknowledge failed: ${r.errors[0].message}`;
  const res = r.data?.result;
  if (res?.__typename !== "InterventionAck") return `Acknowledge refused (${res?.__typename ?? "no answer"}): ${res?.message ?? ""}`;
  return res.kind === "SNOOZED" && res.until
    ? `Snoozed by ${res.by ?? "you"} until ${new Date(res.until).toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" })}`
    : `Acknowledged by ${res.by ?? "you"}: out of the queue until a new reason appears`;
}

function card(api: Api, i: Intervention, statuses: Map<string, string>, onStatus: () => void): HTMLElement {
  const label = `${i.run.sprite.name} / ${i.run.loopId}`;
  const titleId = `q-${i.run.id}`;
  const href = `#/run/${encodeURIComponent(i.run.id)}`;
  const key = rawRunId(i.run.id);
  const actions = i.suggestedActions.filter((a) => a !== "INSPECT");
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
      h("h3", { id: titleId }, h("a", { href }, label)),
      healthBadge(i.severity),
      badge("state", i.run.state),
      h("span", { class: "muted small" }, i.run.stateReason, " · since ", time(i.since)),
    ),
    h(
      "ul",
      { class: "reasons" },
      i.reasons.map((r) => h("li", {}, healthBadge(r.severity), " ", h("code", {}, r.code), " ", r.message)),
    ),
    actionBar(api, i.run.id, actions, label, {
      status: {
        get: () => statuses.get(key) ?? "",
        set: (t) => {
          statuses.set(key, t);
          // a rebuilt card (its actions changed) shows the latest word too
          const shown = document.querySelector(`article.queue-item[data-run="${CSS.escape(i.run.id)}"] .action-status`);
          if (shown) shown.textContent = t;
          onStatus();
        },
      },
      extra: (say, note) => {
        const snoozeSel = h(
          "select",
          { "aria-label": `Snooze ${label} for`, class: "snooze-for" },
          SNOOZES.map(([m, text]) => h("option", { value: m }, text)),
        );
        const ackBtn = (snooze: boolean) =>
          h(
            "button",
            {
              type: "button",
              class: `action action-${snooze ? "snooze" : "acknowledge"}`,
              "data-action": snooze ? "SNOOZE" : "ACKNOWLEDGE",
              "aria-label": `${snooze ? "Snooze" : "Acknowledge"} ${label}`,
              onclick: async (e: Event) => {
                const btn = e.currentTarget as HTMLButtonElement;
                btn.disabled = true;
                try {
                  say(await acknowledge(api, i.run.id, note(), snooze ? Number(snoozeSel.value) : null));
                } catch (err) {
                  say(`Acknowledge failed: ${err instanceof Error ? err.message : String(err)}`);
                } finally {
                  btn.disabled = false;
                }
              },
            },
            snooze ? "Snooze" : "Acknowledge",
          );
        return [
          i.suggestedActions.includes("INSPECT") ? h("a", { class: "button-link action-inspect", href, "data-action": "INSPECT" }, "Inspect run") : null,
          ackBtn(false),
          h("span", { class: "snooze" }, ackBtn(true), snoozeSel),
        ];
      },
    }),
  );
}

function resolvedItem(api: Api, r: Resolved, refresh: () => void): HTMLElement {
  const label = r.run ? `${r.run.sprite.name} / ${r.run.loopId}` : "(run removed)";
  const ack = r.kind === "ACKNOWLEDGED" || r.kind === "SNOOZED";
  const what = ack
    ? `${r.kind === "SNOOZED" ? "snoozed" : "acknowledged"} by ${r.by}${r.until ? ` until ${new Date(r.until).toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" })}` : ""}`
    : `${r.kind} by ${r.by}`;
  return h(
    "li",
    { class: "resolved", "data-kind": r.kind, "data-outcome": r.outcome, "data-run": r.run?.id ?? "" },
    time(r.at),
    " ",
    r.run ? h("a", { href: `#/run/${encodeURIComponent(r.run.id)}` }, label) : label,
    ": ",
    what,
    " → ",
    h("span", { class: `badge stage-${r.outcome}` }, r.outcome),
    r.note ? h("span", { class: "muted" }, ` “${r.note}”`) : null,
    r.run ? [" · now ", badge("state", r.run.state)] : null,
    ack && r.outcome === "ACTIVE" && r.run
      ? [
          " ",
          h(
            "button",
            {
              type: "button",
              class: "small-button",
              "aria-label": `Put ${label} back in the queue`,
              onclick: async () => {
                await api.request(CLEAR_ACK, { runId: r.run!.id });
                refresh();
              },
            },
            "Put back",
          ),
        ]
      : null,
  );
}

export function queueView(api: Api): View {
  const list = h("div", { class: "queue" }, h("p", { class: "muted" }, "Loading the queue…"));
  const results = h("section", { class: "card results", "aria-labelledby": "results-title", hidden: true }, h("h3", { id: "results-title" }, "Results of your actions"));
  const resultsList = h("ul", { class: "results-list" });
  results.appendChild(resultsList);
  const resolved = h("ul", { class: "resolved-list" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const el = h(
    "section",
    { class: "view queue-view", "aria-labelledby": "queue-title" },
    h("h2", { id: "queue-title" }, "Intervention queue"),
    h("p", { class: "muted" }, "Runs that need an operator. Actions are sent with your API token; cancel and reject ask first."),
    error,
    results,
    list,
    h("section", { class: "card", "aria-labelledby": "resolved-title" }, h("h3", { id: "resolved-title" }, "Recently resolved (24 h)"), resolved),
  );
  const items = new Map<string, Intervention>();
  const seqs = new Map<string, number>();
  const labels = new Map<string, { label: string; href: string }>();
  // A run's suggested actions change as it moves (approve → IDLE with START → gone): its card is rebuilt,
  // but the operator should still read what their click did, also once the card has left.
  const statuses = new Map<string, string>();
  let disposed = false;

  const renderResults = () => {
    const gone = [...statuses.entries()].filter(([id, text]) => text && !items.has(id));
    results.hidden = gone.length === 0;
    replace(
      resultsList,
      gone.map(([id, text]) => {
        const l = labels.get(id);
        return h("li", { "data-run": id }, l ? h("a", { href: l.href }, l.label) : id, ": ", h("span", { class: "result-text" }, text));
      }),
    );
  };

  const render = () => {
    const sorted = sortQueue([...items.values()]);
    // Re-rendering would wipe a note being typed and the result line of a button just clicked: keep the
    // cards of runs still queued, replace only their header and reasons.
    const existing = new Map<string, Element>();
    for (const c of Array.from(list.querySelectorAll("article.queue-item"))) existing.set(c.getAttribute("data-run") ?? "", c);
    renderResults();
    if (!sorted.length) {
      replace(list, h("p", { class: "empty" }, "Nothing needs an operator right now."));
      return;
    }
    const next = sorted.map((i) => {
      const fresh = card(api, i, statuses, renderResults);
      const old = existing.get(i.run.id);
      if (!old || old.getAttribute("data-actions") !== fresh.getAttribute("data-actions")) return fresh;
      old.replaceChild(fresh.querySelector("header")!, old.querySelector("header")!);
      old.replaceChild(fresh.querySelector("ul.reasons")!, old.querySelector("ul.reasons")!);
      old.className = fresh.className;
      return old;
    });
    replace(list, next);
  };

  const remember = (i: Intervention) => labels.set(rawRunId(i.run.id), { label: `${i.run.sprite.name} / ${i.run.loopId}`, href: `#/run/${encodeURIComponent(i.run.id)}` });

  const loadResolved = async () => {
    const r = await api.request<{ recentlyResolved: Resolved[] }>(RECENTLY_RESOLVED).catch(() => null);
    if (disposed) return;
    const rows = r?.data?.recentlyResolved;
    if (!rows) return replace(resolved, h("li", { class: "muted" }, "This server does not report resolved items."));
    replace(resolved, rows.length ? rows.map((x) => resolvedItem(api, x, refreshAll)) : h("li", { class: "muted" }, "Nothing resolved in the last 24 hours."));
  };
  const reloadResolved = debounce(() => void loadResolved(), 400);

  const load = async () => {
    try {
      const data = await api.data<{ interventions: Intervention[] }>(INTERVENTIONS);
      if (disposed) return;
      items.clear();
      for (const i of data.interventions) {
        items.set(rawRunId(i.run.id), i);
        remember(i);
      }
      error.hidden = true;
      render();
    } catch (e) {
      if (disposed) return;
      error.hidden = false;
      error.textContent = `Cannot load the queue: ${e instanceof Error ? e.message : String(e)}`;
    }
  };
  const refreshAll = () => {
    void load();
    void loadResolved();
  };

  const sub = api.subscribe<{ interventionsChanged: InterventionChange & { __typename: string } }>(
    { query: INTERVENTIONS_CHANGED, variables: {} },
    {
      next: (r) => {
        const c = r.data?.interventionsChanged;
        if (!c) return;
        if (c.__typename !== "InterventionChange") {
          // ResyncRequired: this subscriber missed changes; read the queue again.
          refreshAll();
          return;
        }
        // Changes for one run carry its increasing seq: an older one arriving late must not win.
        const id = rawRunId(c.runId);
        if ((seqs.get(id) ?? -1) > c.seq) return;
        seqs.set(id, c.seq);
        if (c.intervention) {
          items.set(id, c.intervention);
          remember(c.intervention);
        } else items.delete(id);
        render();
        reloadResolved();
      },
    },
  );
  // A snooze ends with the clock, not with an event: re-read now and then.
  const timer = setInterval(refreshAll, 30_000);
  refreshAll();
  return {
    el,
    refresh: refreshAll,
    dispose: () => {
      disposed = true;
      clearInterval(timer);
      reloadResolved.cancel();
      sub();
    },
  };
}
