import type { Api } from "../api";
import { confirmAction } from "../confirm";
import { badge, detached, h, replace, time } from "../dom";
import {
  EXECUTE_CANDIDATE,
  POLICY_CANDIDATES_CHANGED,
  POLICY_INTENTS_UPDATED,
  POLICY_PAGE,
  SET_AUTOMATION_PAUSED,
  SET_KILL_SWITCH,
  SUPPRESS_CANDIDATE,
  type PolicyCandidateRow,
  type PolicyPage,
} from "../policy-queries";
import { debounce, type View } from "./view";

// Policies: the rules in force (mode, review date, what each proposes), the kill switch and the automation
// pause, the candidates with every reason they are or are not executed automatically (execute or suppress
// them here), and the recent actions with the outcome of the intent each became. Live: the candidates come
// from policyCandidatesChanged; everything else is re-read when they change.

const TERMINAL = new Set(["CONFIRMED", "FAILED", "AMBIGUOUS", "REJECTED"]);

interface Answer {
  r?: { __typename: string; message?: string; status?: string } | null;
}

function answerText(what: string, res: { data?: Answer; errors?: { message: string }[] }): string {
  if (res.errors?.length) return `${what} failed: ${res.errors[0].message}`;
  const r = res.data?.r;
  if (!r) return `${what}: no answer`;
  if (r.message !== undefined) return `${what} refused (${r.__typename}): ${r.message}`;
  return `${what}: done`;
}

const conditionText = (c: Record<string, unknown>): string =>
  Object.entries(c)
    .map(([k, v]) => (k === "type" ? String(v) : `${k}=${Array.isArray(v) ? v.join("|") : String(v)}`))
    .join(" ");

function reasonsList(c: PolicyCandidateRow): HTMLElement {
  if (!c.reasons.length) return h("span", { class: "badge health-HEALTHY", "data-eligible": "true" }, "eligible");
  return h(
    "ul",
    { class: "reasons" },
    c.reasons.map((r) => h("li", { "data-code": r.code }, h("code", {}, r.code), " ", h("span", { class: "muted small" }, r.message))),
  );
}

function candidateRow(api: Api, c: PolicyCandidateRow, say: (t: string) => void, reload: () => void): HTMLElement {
  const run = c.run ? h("a", { href: `#/run/${encodeURIComponent(c.run.id)}` }, `${c.run.sprite.name}/${c.run.loopId}`) : h("span", { class: "muted" }, c.runId);
  const execute = h(
    "button",
    {
      type: "button",
      class: "danger",
      "data-action": "execute",
      "aria-label": `Execute ${c.action} proposed by ${c.rule}`,
      disabled: c.status !== "open",
      onclick: async () => {
        const ok = await confirmAction({
          title: `${c.action} now?`,
          body: `Rule ${c.rule} proposes ${c.action}: ${c.detail}. It becomes a control intent requested by policy:${c.rule}, with you as the executor.`,
          confirm: `Execute ${c.action}`,
          cancel: "Not now",
        });
        if (!ok) return;
        say(answerText(`Execute ${c.action}`, await api.request<Answer>(EXECUTE_CANDIDATE, { id: c.id })));
        reload();
      },
    },
    "Execute",
  );
  const note = h("input", { type: "text", name: "note", required: true, placeholder: "why", "aria-label": `Why suppress ${c.rule}`, maxlength: 500 });
  const suppress = h("form", { class: "inline", "data-action": "suppress" }, note, h("button", { type: "submit", disabled: c.status !== "open" }, "Suppress"));
  suppress.addEventListener(
    "submit",
    detached(async (e) => {
      e.preventDefault();
      say(answerText(`Suppress ${c.rule}`, await api.request<Answer>(SUPPRESS_CANDIDATE, { id: c.id, note: note.value.trim() })));
      reload();
    }),
  );
  return h(
    "tr",
    { "data-candidate": c.id, "data-rule": c.rule, "data-status": c.status },
    h("td", {}, run),
    h("td", {}, h("code", {}, c.rule)),
    h("td", {}, h("strong", {}, c.action), h("div", { class: "muted small" }, c.detail)),
    h("td", {}, c.status, c.suppressedBy ? h("div", { class: "muted small" }, `by ${c.suppressedBy}: ${c.suppressedNote ?? ""}`) : null),
    h("td", {}, reasonsList(c)),
    h("td", {}, time(c.since)),
    h("td", { class: "actions" }, execute, suppress),
  );
}

function actionRow(c: PolicyCandidateRow): HTMLElement {
  return h(
    "tr",
    { "data-action-row": c.id, "data-rule": c.rule },
    h("td", {}, time(c.executedAt)),
    h("td", {}, c.run ? h("a", { href: `#/run/${encodeURIComponent(c.run.id)}` }, `${c.run.sprite.name}/${c.run.loopId}`) : c.runId),
    h("td", {}, h("code", {}, c.rule)),
    h("td", {}, c.action),
    h("td", {}, c.executedAuto ? "automatic" : `by ${c.executedBy ?? "?"}`),
    h("td", {}, c.intent ? badge("stage", c.intent.stage) : h("span", { class: "muted" }, c.action === "ALERT" ? "alert raised" : "—")),
  );
}

function table(head: string[], rows: HTMLElement[], empty: string, cls: string): HTMLElement {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    { class: `table ${cls}` },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        head.map((t) => h("th", { scope: "col" }, t)),
      ),
    ),
    h("tbody", {}, rows),
  );
}

export function policiesView(api: Api): View {
  const status = h("p", { class: "action-status", role: "status", "aria-live": "polite" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const policyBox = h("section", { class: "card policy", "aria-labelledby": "policy-title" }, h("p", { class: "muted" }, "Loading the policy…"));
  const switches = h("section", { class: "card switches", "aria-labelledby": "switches-title" });
  const candidates = h("section", { class: "card candidates", "aria-labelledby": "candidates-title" });
  const actions = h("section", { class: "card policy-actions", "aria-labelledby": "actions-title" });
  let disposed = false;
  const say = (t: string) => (status.textContent = t);

  const render = (p: PolicyPage) => {
    const pol = p.policy;
    replace(
      policyBox,
      h("h3", { id: "policy-title" }, `Policy v${pol.version}`),
      h(
        "p",
        {},
        "Mode ",
        h("strong", { "data-mode": pol.effectiveMode }, pol.effectiveMode),
        pol.mode !== pol.effectiveMode ? ` (declared ${pol.mode})` : "",
        pol.reviewBy ? [" · review by ", time(pol.reviewBy)] : "",
        pol.reviewExpired ? h("span", { class: "badge health-CRITICAL", role: "note" }, "review expired: guarded_auto acts as advisory") : "",
      ),
      pol.rationale
        ? h("p", { class: "muted small" }, `${pol.source ?? ""} · ${pol.actor ?? ""}: ${pol.rationale}`)
        : h("p", { class: "muted" }, 'No policy set yet (setPolicy or the fleet file\'s "policies").'),
      table(
        ["Rule", "Mode", "When", "Proposes", "Severity"],
        pol.rules.map((r) =>
          h("tr", { "data-rule": r.id }, h("td", {}, h("code", {}, r.id)), h("td", {}, r.mode), h("td", {}, conditionText(r.condition)), h("td", {}, r.action), h("td", {}, r.severity)),
        ),
        "No rules.",
        "rules",
      ),
    );
    const rt = p.policyRuntime;
    replace(
      switches,
      h("h3", { id: "switches-title" }, "Automation"),
      h(
        "p",
        { "data-kill-switch": String(rt.killSwitch) },
        "Kill switch: ",
        h("strong", {}, rt.killSwitch ? "ON" : "off"),
        rt.killSwitchSource ? h("span", { class: "muted small" }, ` (${rt.killSwitchSource})`) : "",
      ),
      h("p", { "data-paused": rt.paused ?? "no" }, "Paused: ", h("strong", {}, rt.paused ?? "no"), rt.pausedReason ? h("span", { class: "muted small" }, ` — ${rt.pausedReason}`) : ""),
      h(
        "div",
        { class: "buttons" },
        h(
          "button",
          {
            type: "button",
            class: rt.killSwitch ? "" : "danger",
            "data-action": "kill-switch",
            onclick: async () => {
              const on = !rt.killSwitch;
              const ok = await confirmAction({
                title: on ? "Turn the kill switch on?" : "Turn the kill switch off?",
                body: on ? "No policy will act automatically; candidates are still proposed." : "Policies in guarded_auto act again within their limits.",
                confirm: on ? "Kill switch on" : "Kill switch off",
                cancel: "Leave it",
              });
              if (!ok) return;
              say(answerText(`Kill switch ${on ? "on" : "off"}`, await api.request<Answer>(SET_KILL_SWITCH, { on })));
              void load();
            },
          },
          rt.killSwitch ? "Turn kill switch off" : "Kill switch",
        ),
        h(
          "button",
          {
            type: "button",
            "data-action": "pause",
            onclick: async () => {
              say(answerText(rt.paused ? "Resume automation" : "Pause automation", await api.request<Answer>(SET_AUTOMATION_PAUSED, { paused: !rt.paused })));
              void load();
            },
          },
          rt.paused ? "Resume automation" : "Pause automation",
        ),
      ),
    );
    renderCandidates(p.policyCandidates);
    // an outcome still pending is looked at again even if its stage change was not pushed to us
    if (p.policyActions.some((a) => a.intent && !TERMINAL.has(a.intent.stage))) reload();
    replace(
      actions,
      h("h3", { id: "actions-title" }, "Recent actions"),
      table(["When", "Run", "Rule", "Action", "By", "Outcome"], p.policyActions.map(actionRow), "No policy has acted yet.", "actions-table"),
    );
  };
  const renderCandidates = (rows: PolicyCandidateRow[]) =>
    replace(
      candidates,
      h("h3", { id: "candidates-title" }, `Candidates (${rows.length})`),
      table(
        ["Run", "Rule", "Proposes", "Status", "Automatic execution", "Since", ""],
        rows.map((c) => candidateRow(api, c, say, () => void load())),
        "No run needs a policy's attention.",
        "candidates-table",
      ),
    );

  const load = async () => {
    try {
      const p = await api.data<PolicyPage>(POLICY_PAGE);
      if (disposed) return;
      error.hidden = true;
      render(p);
    } catch (e) {
      if (disposed) return;
      error.hidden = false;
      error.textContent = `Cannot load the policies: ${e instanceof Error ? e.message : String(e)}`;
    }
  };
  const reload = debounce(() => void load(), 1000);
  const unsubscribe = api.subscribe<{ policyCandidatesChanged: PolicyCandidateRow[] }>({ query: POLICY_CANDIDATES_CHANGED, variables: {} }, { next: () => reload() });
  // the outcomes of the recent actions: a policy's intent moving to its next stage
  const unsubscribeIntents = api.subscribe<{ controlIntentUpdated: { requestedBy: string } }>(
    { query: POLICY_INTENTS_UPDATED, variables: {} },
    { next: (r) => (r.data?.controlIntentUpdated.requestedBy.startsWith("policy:") ? reload() : undefined) },
  );
  const el = h(
    "section",
    { class: "view policies-view", "aria-labelledby": "policies-title" },
    h("h2", { id: "policies-title" }, "Policies"),
    error,
    status,
    h("div", { class: "run-grid" }, policyBox, switches),
    candidates,
    actions,
  );
  void load();
  return {
    el,
    refresh: () => void load(),
    dispose: () => {
      disposed = true;
      reload.cancel();
      unsubscribe();
      unsubscribeIntents();
    },
  };
}
