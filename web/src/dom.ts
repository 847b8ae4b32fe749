// A tiny element builder. Text always goes in as text nodes, never as HTML: every string shown here
// (event messages, notes, reasons) comes from runtimes and operators and must not become markup.

export type Child = Node | string | number | null | undefined | false | readonly Child[];
/** An event handler may be async (a button that calls the API): its promise is not awaited. */
type AttrValue = string | number | boolean | null | undefined | ((e: Event) => void | Promise<void>);

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, AttrValue> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), (e) => void value(e));
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Array.isArray does not narrow a readonly array type: this does. */
const isList = (c: Child): c is readonly Child[] => Array.isArray(c);

export function append(el: Node, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (isList(c)) append(el, c);
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
  return h("span", { class: `badge ${kind}-${value.toUpperCase()}`, title: `${KIND_LABEL[kind]}: ${meaning}`, "data-value": value }, h("span", { class: "sr-only" }, `${KIND_LABEL[kind]}: `), value);
}

/** "Mon 30 Nov 2026, 01:02:03 UTC": a day and a timezone, so a screenshot or a pasted line is unambiguous. */
export function absolute(iso: string | Date): string {
  const d = typeof iso === "string" ? new Date(iso) : iso;
  return d.toLocaleString(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
    timeZoneName: "short",
  });
}

/** A relative time ("3m ago") with the absolute one on hover; kept current by refreshTimes(). */
export function time(iso: string | null | undefined): HTMLElement | string {
  if (!iso) return "—";
  const d = new Date(iso);
  return h("time", { datetime: iso, title: absolute(d), "data-rel": "" }, relative(d));
}

export function relative(d: Date, now = Date.now()): string {
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < -5) return `in ${duration(-s)}`;
  if (s < 5) return "just now";
  return `${duration(s)} ago`;
}

/** 42s, 5m, 3h 10m, 2d 4h */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** Re-renders every relative time on the page (they move with the clock, not with data). */
export function refreshTimes(root: ParentNode = document): void {
  for (const t of Array.from(root.querySelectorAll<HTMLTimeElement>("time[data-rel]"))) t.textContent = relative(new Date(t.dateTime));
}

/** Wall-clock time of day, with the absolute date and zone on hover. */
export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour12: false });
}

/**
 * One health vocabulary everywhere (fleet, queue, run page): HEALTHY / DEGRADED / CRITICAL. The API's reason and
 * intervention severities ("warning", "critical") are shown in the same words.
 */
export function healthWord(severityOrStatus: string): string {
  const v = severityOrStatus.toUpperCase();
  if (v === "WARNING") return "DEGRADED";
  return v;
}

export function healthBadge(severityOrStatus: string): HTMLElement {
  return badge("health", healthWord(severityOrStatus));
}

/** An async listener for addEventListener: its promise is not awaited (the DOM ignores a listener's result). */
export function detached<E extends Event>(fn: (e: E) => Promise<void>): (e: E) => void {
  return (e) => void fn(e);
}
