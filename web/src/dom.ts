// A tiny element builder. Text always goes in as text nodes, never as HTML: every string shown here
// (event messages, notes, reasons) comes from runtimes and operators and must not become markup.

export type Child = Node | string | number | null | undefined | false | readonly Child[];
type AttrValue = string | number | boolean | null | undefined | ((e: Event) => void);

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, AttrValue> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

const STATE_HELP: Record<string, string> = {
  RUNNING: "running",
  PAUSED: "paused",
  AWAITING_APPROVAL: "awaiting approval",
  COMPLETE: "complete",
  STOPPED: "stopped",
  FAILED: "failed",
  IDLE: "idle",
  UNKNOWN: "unknown",
};

const KIND_LABEL = { state: "State", health: "Health", severity: "Severity", stage: "Stage" } as const;

/**
 * A state or health badge: the word is always shown (the colour only repeats it), and a screen reader hears
 * what kind of word it is ("State: AWAITING_APPROVAL") from visually hidden text, not from an aria-label,
 * which a plain span may not carry.
 */
export function badge(kind: keyof typeof KIND_LABEL, value: string): HTMLElement {
  const meaning = kind === "state" ? (STATE_HELP[value] ?? value) : value.toLowerCase();
  return h(
    "span",
    { class: `badge ${kind}-${value.toUpperCase()}`, title: `${KIND_LABEL[kind]}: ${meaning}`, "data-value": value },
    h("span", { class: "sr-only" }, `${KIND_LABEL[kind]}: `),
    value,
  );
}

export function time(iso: string | null | undefined): HTMLElement | string {
  if (!iso) return "—";
  const d = new Date(iso);
  return h("time", { datetime: iso, title: d.toLocaleString() }, relative(d));
}

export function relative(d: Date, now = Date.now()): string {
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return d.toLocaleString();
}

export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour12: false });
}
