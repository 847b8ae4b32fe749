// Small SVG pictures drawn from API data: a sparkline of event rate, a progress bar, the per-run swimlane of
// roles, and the fleet's 24 h state timeline. Every picture carries its meaning as text too (aria-label / title),
// so nothing is said by colour or shape alone.
import type { RoleSpanRow } from "./types";

const NS = "http://www.w3.org/2000/svg";

type SvgAttrs = Record<string, string | number>;

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: SvgAttrs = {}, ...children: (SVGElement | null)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.appendChild(c);
  return el;
}

function titled<T extends SVGElement>(el: T, text: string): T {
  const t = document.createElementNS(NS, "title");
  t.textContent = text;
  el.prepend(t);
  return el;
}

/** How many of the newest buckets must be empty for a running run to read as "silent". */
export const SILENT_BUCKETS = 3;

/**
 * Event-rate sparkline, oldest bucket left. `data-recent` is the count in the newest SILENT_BUCKETS buckets: a
 * stuck run draws a flat line at the bottom there.
 */
export function sparkline(values: readonly number[], bucketSeconds: number, opts: { expectActivity: boolean }, width = 120, height = 24): SVGSVGElement {
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const y = (v: number) => (height - 2 - (v / max) * (height - 4)).toFixed(1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${y(v)}`).join(" ");
  const recent = values.slice(-SILENT_BUCKETS).reduce((a, b) => a + b, 0);
  const total = values.reduce((a, b) => a + b, 0);
  const minutes = Math.round((values.length * bucketSeconds) / 60);
  // Silence only alarms while the run is supposed to be working (a finished run is quiet by nature).
  const silent = opts.expectActivity && recent === 0;
  const label = `${total} events in the last ${minutes} min; ${recent} in the last ${SILENT_BUCKETS * bucketSeconds} s${silent ? " — silent while running" : ""}`;
  const el = svg(
    "svg",
    {
      class: `spark${recent === 0 ? " flat" : ""}${silent ? " silent" : ""}`,
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-label": label,
      "data-recent": recent,
      "data-total": total,
    },
    svg("line", { x1: 0, x2: width, y1: height - 2, y2: height - 2, class: "base" }),
    svg("polyline", { points, fill: "none" }),
  );
  return titled(el, label);
}

export function progressBar(n: number | null, max: number | null): HTMLElement {
  const wrap = document.createElement("span");
  wrap.className = "progress";
  if (n === null) {
    wrap.textContent = "—";
    return wrap;
  }
  const bar = document.createElement("progress");
  if (max) {
    bar.max = max;
    bar.value = Math.min(n, max);
  }
  const label = max ? `iteration ${n} of ${max}` : `iteration ${n}`;
  bar.setAttribute("aria-label", label);
  bar.title = label;
  const text = document.createElement("span");
  text.className = "progress-text";
  text.textContent = max ? `${n}/${max}` : String(n);
  wrap.append(bar, text);
  return wrap;
}

const ROLE_ORDER = ["planner", "implementer", "tester", "reviewer"];

function fmtDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * Swimlane: one lane per role, iterations left to right in order of appearance; each cell is a role's turn,
 * its width proportional to its duration within the iteration's column (so a slow tester is visibly wide).
 */
export function swimlane(spans: readonly RoleSpanRow[], now = Date.now()): SVGSVGElement {
  const roles = [...new Set(spans.map((s) => s.role))].sort((a, b) => (ROLE_ORDER.indexOf(a) + 1 || 99) - (ROLE_ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b));
  const iterKeys: string[] = [];
  for (const s of spans) {
    const k = `${s.attempt}/${s.iteration ?? "?"}`;
    if (!iterKeys.includes(k)) iterKeys.push(k);
  }
  const labelW = 92;
  const colW = Math.max(60, Math.min(140, Math.floor(640 / Math.max(1, iterKeys.length))));
  const laneH = 22;
  const top = 18;
  const width = labelW + colW * iterKeys.length + 4;
  const height = top + laneH * roles.length + 4;
  const root = svg("svg", {
    class: "swimlane",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": `Roles per iteration: ${iterKeys.length} iterations, ${spans.length} role turns`,
  });
  const multiAttempt = new Set(spans.map((s) => s.attempt)).size > 1;
  iterKeys.forEach((k, i) => {
    const [attempt, iteration] = k.split("/");
    const t = svg("text", { x: labelW + i * colW + 4, y: 12, class: "lane-head" });
    t.textContent = multiAttempt ? `a${attempt} it ${iteration}` : `it ${iteration}`;
    root.appendChild(t);
  });
  roles.forEach((role, r) => {
    const t = svg("text", { x: 0, y: top + r * laneH + 15, class: "lane-label" });
    t.textContent = role;
    root.appendChild(t);
  });
  // Scale within each iteration column by that iteration's longest role turn.
  iterKeys.forEach((k, i) => {
    const inCol = spans.filter((s) => `${s.attempt}/${s.iteration ?? "?"}` === k);
    const dur = (s: RoleSpanRow) => s.durationMs ?? Math.max(0, (s.endedAt ? Date.parse(s.endedAt) : now) - Date.parse(s.startedAt));
    const longest = Math.max(1, ...inCol.map(dur));
    for (const s of inCol) {
      const r = roles.indexOf(s.role);
      // Runtime timestamps have a one-second resolution: a turn is at least a third of its column, so short
      // turns stay visible and a long one still stands out.
      const w = (colW - 8) * (0.35 + (0.65 * dur(s)) / longest);
      const text = `${s.role}, iteration ${s.iteration ?? "?"}${multiAttempt ? ` (attempt ${s.attempt})` : ""}: ${s.status}${s.durationMs !== null ? `, ${fmtDuration(s.durationMs)}` : s.status === "running" ? `, running for ${fmtDuration(dur(s))}` : ""}`;
      const rect = svg("rect", {
        x: labelW + i * colW + 2,
        y: top + r * laneH + 3,
        width: w.toFixed(1),
        height: laneH - 6,
        rx: 3,
        class: `span span-${s.status}`,
        "data-role": s.role,
        "data-iteration": s.iteration ?? "",
        "data-status": s.status,
      });
      root.appendChild(titled(rect, text));
    }
  });
  return root;
}

export interface TimelineRow {
  label: string;
  href: string;
  spans: { state: string; from: string; to: string | null }[];
}

/** Fleet timeline: one row per run over the last `hours`, each span coloured by state (its title says which). */
export function fleetTimeline(rows: readonly TimelineRow[], hours: number, now = Date.now()): SVGSVGElement {
  const labelW = 110;
  const plotW = 600;
  const rowH = 16;
  const top = 16;
  const width = labelW + plotW;
  const height = top + rows.length * rowH + 4;
  const start = now - hours * 3600_000;
  const x = (t: number) => labelW + ((Math.max(t, start) - start) / (now - start)) * plotW;
  const root = svg("svg", {
    class: "fleet-timeline",
    viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "xMinYMin meet",
    role: "img",
    "aria-label": `Lifecycle state of ${rows.length} runs over the last ${hours} h`,
  });
  for (let h = 0; h <= hours; h += hours <= 24 ? 6 : 24) {
    const t = svg("text", { x: x(start + h * 3600_000), y: 11, class: "tick", "text-anchor": h === 0 ? "start" : h === hours ? "end" : "middle" });
    t.textContent = h === hours ? "now" : `-${hours - h} h`;
    root.appendChild(t);
  }
  rows.forEach((row, i) => {
    const a = svg("a", { href: row.href });
    const label = svg("text", { x: 0, y: top + i * rowH + 11, class: "lane-label" });
    label.textContent = row.label.length > 16 ? `${row.label.slice(0, 15)}…` : row.label;
    a.appendChild(titled(label, row.label));
    root.appendChild(a);
    for (const s of row.spans) {
      const from = Date.parse(s.from);
      const to = s.to ? Date.parse(s.to) : now;
      if (to < start) continue;
      const rect = svg("rect", {
        x: x(from).toFixed(1),
        y: top + i * rowH + 2,
        width: Math.max(1, x(to) - x(from)).toFixed(1),
        height: rowH - 4,
        class: `tl state-fill-${s.state}`,
        "data-state": s.state,
      });
      root.appendChild(titled(rect, `${row.label}: ${s.state} from ${new Date(from).toLocaleString()} ${s.to ? `to ${new Date(to).toLocaleString()}` : "until now"}`));
    }
  });
  return root;
}
