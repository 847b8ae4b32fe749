import type { Api } from "./api";
import { confirmAction } from "./confirm";
import { h } from "./dom";
import { ACTIONS, INTENT_STAGES, INTENT_UPDATED, type ActionKind } from "./queries";

// Action buttons: each one calls its mutation with the operator's token and says what came back, in words,
// next to the buttons (role=status so screen readers hear it too). A request that became a control intent is
// followed to its current stage (DISPATCHED → ACCEPTED → CONFIRMED ...), so the line never goes stale.
// Anything that cannot be undone asks first.

export const LABELS: Record<ActionKind, string> = {
  APPROVE: "Approve",
  REJECT: "Reject",
  CANCEL: "Cancel run",
  PAUSE: "Pause",
  RESUME: "Resume",
  START: "Start",
  RESTART: "Restart",
  RESET_CURSOR: "Reset cursor",
};

/** What each destructive action will do, said before it is done. */
const DESTRUCTIVE: Partial<Record<ActionKind, (label: string, mode: string) => { title: string; body: string; confirm: string; cancel: string } | null>> = {
  CANCEL: (label) => ({ title: `Cancel ${label}?`, body: "The run's process is stopped; work in progress in this iteration is lost.", confirm: "Cancel the run", cancel: "Keep it running" }),
  REJECT: (label) => ({ title: `Reject ${label}?`, body: "The pending approval is rejected: the loop iterates again and asks again.", confirm: "Reject", cancel: "Keep it pending" }),
  RESET_CURSOR: (label, mode) =>
    mode === "REPLAY_FROM_START"
      ? {
          title: `Replay ${label} from the start?`,
          body: "Every stored event of this run is deleted and the file is ingested again from line 1.",
          confirm: "Replay from start",
          cancel: "Keep the events",
        }
      : null,
};

const TERMINAL = new Set(["CONFIRMED", "FAILED", "AMBIGUOUS", "REJECTED"]);

export function isAction(a: string): a is ActionKind {
  return Object.prototype.hasOwnProperty.call(ACTIONS, a);
}

interface ActionResult {
  result?: { __typename: string; id?: string; stage?: string; error?: string | null; kind?: string; message?: string; mode?: string; newLine?: number } | null;
}

/** One key per click: the server returns the first outcome if the same request arrives twice. */
function idempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `ui-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

interface Performed {
  text: string;
  intentId: string | null;
  stage: string | null;
}

async function perform(api: Api, kind: ActionKind, runId: string, note: string, mode: string): Promise<Performed> {
  const vars: Record<string, unknown> = { runId, note: note || null };
  if (kind === "RESET_CURSOR") vars["mode"] = mode;
  else vars["key"] = idempotencyKey();
  const r = await api.request<ActionResult>(ACTIONS[kind], vars);
  const none = { intentId: null, stage: null };
  if (r.errors?.length) return { text: `${LABELS[kind]} failed: ${r.errors[0].message}`, ...none };
  const res = r.data?.result;
  if (!res) return { text: `${LABELS[kind]}: no answer`, ...none };
  if (res.__typename === "ControlIntent") return { text: stageText(kind, res.stage ?? "?", res.error ?? null), intentId: res.id ?? null, stage: res.stage ?? null };
  if (res.__typename === "CursorReset") return { text: `Cursor reset (${res.mode ?? ""}): ingesting after line ${res.newLine ?? "?"}`, ...none };
  return { text: `${LABELS[kind]} refused (${res.__typename}): ${res.message ?? ""}`, ...none };
}

function stageText(kind: ActionKind, stage: string, error: string | null): string {
  const word = TERMINAL.has(stage) ? (stage === "CONFIRMED" ? "done" : "did not happen") : "in progress";
  return `${LABELS[kind]} requested: ${stage} (${word})${error ? ` — ${error}` : ""}`;
}

export interface ActionBarOptions {
  onDone?: () => void;
  /** the last result shown for this run, kept by the caller so a re-rendered bar (or a card that left) still says it */
  status?: { get(): string; set(text: string): void };
  /** extra buttons after the action buttons (acknowledge, snooze, inspect) */
  extra?: (say: (text: string) => void, note: () => string) => (HTMLElement | null)[];
}

/** Follows an intent until it is terminal; `say` gets its current stage each time it moves. */
function follow(api: Api, runId: string, intentId: string, kind: ActionKind, say: (t: string) => void): void {
  let dispose: (() => void) | null = null;
  const seen = (stage: string, error: string | null) => {
    say(stageText(kind, stage, error));
    if (TERMINAL.has(stage)) dispose?.();
  };
  dispose = api.subscribe<{ controlIntentUpdated: { __typename: string; id?: string; stage: string; error: string | null } }>(
    { query: INTENT_UPDATED, variables: { runId } },
    {
      next: (r) => {
        const i = r.data?.controlIntentUpdated;
        if (i?.__typename === "ControlIntent" && i.id === intentId) seen(i.stage, i.error);
      },
    },
  );
  // It may move before the subscription is active on the server: re-read it until it is terminal.
  let reads = 0;
  const read = () =>
    void api.request<{ run: { intents?: { edges: { node: { id: string; stage: string; error: string | null } }[] } } | null }>(INTENT_STAGES, { runId }).then((r) => {
      const n = r.data?.run?.intents?.edges.map((e) => e.node).find((i) => i.id === intentId);
      if (n?.stage) seen(n.stage, n.error);
      if (!n?.stage || !TERMINAL.has(n.stage)) {
        if (++reads < 200) timer = setTimeout(read, 3000);
      }
    });
  let timer: ReturnType<typeof setTimeout> | null = null;
  read();
  // Nothing follows an intent forever: its deadline makes it terminal well within this.
  setTimeout(() => {
    dispose?.();
    if (timer) clearTimeout(timer);
  }, 10 * 60_000);
}

/** A group of buttons for `actions` on one run, an optional note, and a live status line. */
export function actionBar(api: Api, runId: string, actions: readonly string[], label: string, opts: ActionBarOptions = {}): HTMLElement {
  const kinds = actions.filter(isAction);
  const status = h("p", { class: "action-status", role: "status", "aria-live": "polite" }, opts.status?.get() ?? "");
  const say = (text: string) => {
    status.textContent = text;
    opts.status?.set(text);
  };
  const noteId = `note-${runId}-${Math.random().toString(36).slice(2, 7)}`;
  const note = h("input", { id: noteId, type: "text", placeholder: "optional", maxlength: 500 });
  const modeId = `${noteId}-mode`;
  const mode = h("select", { id: modeId }, h("option", { value: "ADOPT_CURRENT" }, "adopt current file"), h("option", { value: "REPLAY_FROM_START" }, "replay from start"));
  const buttons = kinds.map((kind) =>
    h(
      "button",
      {
        type: "button",
        class: `action action-${kind.toLowerCase()}`,
        "data-action": kind,
        "aria-label": `${LABELS[kind]} ${label}`,
        onclick: async (e: Event) => {
          const btn = e.currentTarget as HTMLButtonElement;
          const ask = DESTRUCTIVE[kind]?.(label, mode.value);
          if (ask && !(await confirmAction(ask))) {
            say(`${LABELS[kind]}: not sent (you chose “${ask.cancel}”)`);
            return;
          }
          btn.disabled = true;
          say(`${LABELS[kind]}…`);
          try {
            const done = await perform(api, kind, runId, note.value.trim(), mode.value);
            say(done.text);
            if (done.intentId && done.stage && !TERMINAL.has(done.stage)) follow(api, runId, done.intentId, kind, say);
            opts.onDone?.();
          } catch (err) {
            say(`${LABELS[kind]} failed: ${err instanceof Error ? err.message : String(err)}`);
          } finally {
            btn.disabled = false;
          }
        },
      },
      LABELS[kind],
    ),
  );
  const extra = opts.extra?.(say, () => note.value.trim()) ?? [];
  if (!kinds.length && !extra.some(Boolean)) return h("div", { class: "actions" }, h("p", { class: "muted" }, "No action available."));
  return h(
    "div",
    { class: "actions", role: "group", "aria-label": `Actions for ${label}` },
    h("div", { class: "buttons" }, buttons, extra),
    h("label", { for: noteId, class: "note" }, "Note ", note),
    kinds.includes("RESET_CURSOR") ? h("label", { for: modeId, class: "note" }, "Reset mode ", mode) : null,
    status,
  );
}

/** The actions that make sense in a state, for the run page (the queue uses the server's suggestions). */
export function actionsForState(state: string, ingestStatus: string): ActionKind[] {
  const out: ActionKind[] = [];
  if (ingestStatus !== "OK") out.push("RESET_CURSOR");
  switch (state) {
    case "AWAITING_APPROVAL":
      out.push("APPROVE", "REJECT", "CANCEL");
      break;
    case "RUNNING":
      out.push("PAUSE", "CANCEL");
      break;
    case "PAUSED":
      out.push("RESUME", "CANCEL");
      break;
    case "FAILED":
    case "STOPPED":
      // after a crash or a stop the runtime refuses a plain run: RESTART clears its state first
      out.push("RESTART", "START");
      break;
    default:
      out.push("START");
  }
  return out;
}
