import type { AlertsConfig, ConditionName, QuietHours, Route, Severity } from "./config";
import { severityRank } from "./config";

// Routing, pure: which sinks hear about a condition, when (quiet hours defer, never drop) and how often it is
// repeated while it lasts. Routes whose category, selectors and minimum severity match all contribute their
// sinks; a condition no route matches goes to routing.defaultSinks at defaultMinSeverity.

export interface RouteContext {
  condition: ConditionName;
  severity: Severity;
  spriteName: string | null;
  labels: Record<string, string>;
}

export interface Routed {
  sink: string;
  /** null = send now; otherwise the end of the quiet hours */
  notBefore: Date | null;
  /** 0 = no reminders */
  reminderMs: number;
}

/** The severity after categorySeverity overrides (the bash manager's per-category severities). */
export function effectiveSeverity(config: AlertsConfig, condition: ConditionName, detected: Severity): Severity {
  return config.routing.categorySeverity[condition] ?? detected;
}

export function globMatch(glob: string, value: string): boolean {
  const re = new RegExp(
    `^${glob
      .split("*")
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  );
  return re.test(value);
}

function routeMatches(route: Route, ctx: RouteContext, defaultMin: Severity): boolean {
  if (!route.enabled) return false;
  const categories = Array.isArray(route.category) ? route.category : [route.category];
  if (!categories.includes("*") && !categories.includes(ctx.condition)) return false;
  if (severityRank(ctx.severity) < severityRank(route.minSeverity ?? defaultMin)) return false;
  if (route.sprites && !(ctx.spriteName !== null && route.sprites.some((g) => globMatch(g, ctx.spriteName!)))) return false;
  if (route.labels && !Object.entries(route.labels).every(([k, v]) => ctx.labels[k] === v)) return false;
  return true;
}

function minutesIn(now: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(now);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return get("hour") * 60 + get("minute");
}

/** The end of the quiet window `now` falls in, or null when outside it (or when severity is allowed through). */
export function quietUntil(now: Date, qh: QuietHours | undefined, severity: Severity): Date | null {
  if (!qh || severityRank(severity) >= severityRank(qh.allowSeverity)) return null;
  const [sh, sm] = qh.start.split(":").map(Number) as [number, number];
  const [eh, em] = qh.end.split(":").map(Number) as [number, number];
  const start = sh * 60 + sm;
  const end = eh * 60 + em;
  if (start === end) return null;
  const m = minutesIn(now, qh.timezone);
  const inside = start < end ? m >= start && m < end : m >= start || m < end;
  if (!inside) return null;
  const left = (end - m + 1440) % 1440;
  const t = new Date(now.getTime() + left * 60_000);
  t.setUTCSeconds(0, 0);
  return t;
}

/**
 * `wallClock`: the time of day quiet hours are judged by (tests fake it through StartOptions.alertsWallClock);
 * the deferral it yields is applied from `now`.
 */
export function route(config: AlertsConfig, ctx: RouteContext, now: Date, wallClock: Date = now): Routed[] {
  const { routing } = config;
  const enabled = (name: string) => config.sinks[name]?.enabled;
  const out = new Map<string, Routed>();
  const add = (sink: string, qh: QuietHours | undefined, reminderMinutes: number | undefined) => {
    if (!enabled(sink)) return;
    const quiet = quietUntil(wallClock, qh, ctx.severity);
    const r: Routed = { sink, notBefore: quiet && new Date(now.getTime() + (quiet.getTime() - wallClock.getTime())), reminderMs: Math.round((reminderMinutes ?? routing.reminderMinutes) * 60_000) };
    const prev = out.get(sink);
    // Several routes to one sink: send as early and remind as often as the most eager of them asks.
    if (!prev) out.set(sink, r);
    else {
      out.set(sink, {
        sink,
        notBefore: prev.notBefore === null || r.notBefore === null ? null : new Date(Math.min(prev.notBefore.getTime(), r.notBefore.getTime())),
        reminderMs: [prev.reminderMs, r.reminderMs].filter((x) => x > 0).reduce((a, b) => Math.min(a, b), 0) || Math.max(prev.reminderMs, r.reminderMs),
      });
    }
  };
  const matched = routing.routes.filter((r) => routeMatches(r, ctx, config.defaultMinSeverity));
  if (matched.length) for (const r of matched) for (const s of r.sinks) add(s, r.quietHours ?? routing.quietHours, r.reminderMinutes);
  else if (severityRank(ctx.severity) >= severityRank(config.defaultMinSeverity)) for (const s of routing.defaultSinks) add(s, routing.quietHours, undefined);
  return [...out.values()];
}
