import type { Api } from "./api";
import { h } from "./dom";
import { ACTIONS, type ActionKind } from "./queries";

// Action buttons: each one calls its mutation with the operator's token and says what came back, in words,
// next to the buttons (role=status so screen readers hear it too).

const LABELS: Record<ActionKind, string> = {
  APPROVE: "Approve",
  REJECT: "Reject",
  CANCEL: "Cancel run",
  PAUSE: "Pause",
  RESUME: "Resume",
  START: "Start",
  RESET_CURSOR: "Reset cursor",
};

export function isAction(a: string): a is ActionKind {
  return Object.prototype.hasOwnProperty.call(ACTIONS, a);
}

interface ActionResult {
  result?: { __typename: string; stage?: string; kind?: string; message?: string; mode?: string; newLine?: number } | null;
}

/** One key per click: the server returns the first outcome if the same request arrives twice. */
function idempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `ui-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

async function perform(api: Api, kind: ActionKind, runId: string, note: string, mode: string): Promise<string> {
  const vars: Record<string, unknown> = { runId, note: note || null };
  if (kind === "RESET_CURSOR") vars["mode"] = mode;
  else vars["key"] = idempotencyKey();
  const r = await api.request<ActionResult>(ACTIONS[kind], vars);
  if (r.errors?.length) return `${LABELS[kind]} failed: ${r.errors[0]!.message}`;
  const res = r.data?.result;
  if (!res) return `${LABELS[kind]}: no answer`;
  if (res.__typename === "ControlIntent") return `${LABELS[kind]} requested: ${res.stage ?? "?"}`;
  if (res.__typename === "CursorReset") return `Cursor reset (${res.mode ?? ""}): ingesting after line ${res.newLine ?? "?"}`;
  return `${LABELS[kind]} refused (${res.__typename}): ${res.message ?? ""}`;
}

export interface ActionBarOptions {
  onDone?: () => void;
  /** the last result shown for this run, kept by the caller so a re-rendered bar still says it */
  status?: { get(): string; set(text: string): void };
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
  const mode = h(
    "select",
    { id: modeId },
    h("option", { value: "ADOPT_CURRENT" }, "adopt current file"),
    h("option", { value: "REPLAY_FROM_START" }, "replay from start"),
  );
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
          btn.disabled = true;
          say(`${LABELS[kind]}…`);
          try {
            say(await perform(api, kind, runId, note.value.trim(), mode.value));
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
  if (!kinds.length) return h("div", { class: "actions" }, h("p", { class: "muted" }, "No action available."));
  return h(
    "div",
    { class: "actions", role: "group", "aria-label": `Actions for ${label}` },
    h("div", { class: "buttons" }, buttons),
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
    default:
      out.push("START");
  }
  return out;
}
