import { randomUUID } from "node:crypto";
import { newTraceId } from "../observability/trace";
import type { AlertsConfig, Severity } from "./config";
import {
  intentConditions,
  intentSnapshotSchema,
  policyConditions,
  policySnapshotSchema,
  reconcile,
  recoveryCondition,
  runConditions,
  runIsHealthy,
  runSnapshotSchema,
  spriteConditions,
  spriteSnapshotSchema,
  type Condition,
} from "./conditions";
import type { AlertEvent, AlertMessage } from "./messages";
import { effectiveSeverity, route } from "./routing";

// Intake, pure: a batch of outbox signals (in commit order) plus the episodes open for their subjects → the
// rows to write (new/changed episodes, deliveries). Every signal is applied in order, so a condition that came
// and went within one batch still raises its alert (and its resolve), never silently nothing.

export interface Signal {
  id: string;
  subject: "run" | "intent" | "sprite" | "policy";
  runId: string | null;
  spriteId: string | null;
  snapshot: unknown;
  at: Date;
}

export interface RunInfo {
  id: string;
  loopId: string;
  repoPath: string;
  spriteId: string;
  spriteName: string;
  labels: Record<string, string>;
}

export interface SpriteInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
}

export interface EpisodeRow {
  id: string;
  key: string;
  condition: string;
  severity: Severity;
  runId: string | null;
  spriteId: string | null;
  subject: EpisodeSubject;
  sinks: string[];
  traceId: string;
  openedAt: Date;
  resolvedAt: Date | null;
  /** set by the plan: needs writing */
  isNew?: boolean;
  changed?: boolean;
}

export interface EpisodeSubject {
  summary: string;
  details: Record<string, unknown>;
  run: AlertMessage["run"];
  sprite: AlertMessage["sprite"];
}

export interface DeliveryRow {
  id: string;
  episodeId: string | null;
  sink: string;
  event: AlertEvent;
  condition: string;
  severity: Severity;
  dedupKey: string;
  traceId: string;
  payload: AlertMessage;
  nextAttemptAt: Date;
}

export interface IntakePlan {
  episodes: EpisodeRow[];
  deliveries: DeliveryRow[];
  /** signals that could not be read (logged, then dropped: they would fail the same way every time) */
  invalid: { id: string; error: string }[];
}

export { newTraceId };

export const dedupKeyOf = (key: string): string => `superloop-ops:${key}`;

export function message(ep: EpisodeRow, deliveryId: string, event: AlertEvent, at: Date): AlertMessage {
  return {
    version: 1,
    deliveryId,
    event,
    dedupKey: dedupKeyOf(ep.key),
    condition: ep.condition as AlertMessage["condition"],
    severity: ep.severity,
    summary: event === "resolve" ? `resolved: ${ep.subject.summary}` : ep.subject.summary,
    traceId: ep.traceId,
    at: at.toISOString(),
    openedAt: ep.openedAt.toISOString(),
    run: ep.subject.run,
    sprite: ep.subject.sprite,
    details: ep.subject.details,
  };
}

export function delivery(ep: EpisodeRow, sink: string, event: AlertEvent, at: Date, notBefore: Date | null): DeliveryRow {
  const id = randomUUID();
  return {
    id,
    episodeId: ep.id,
    sink,
    event,
    condition: ep.condition,
    severity: ep.severity,
    dedupKey: dedupKeyOf(ep.key),
    traceId: ep.traceId,
    payload: message(ep, id, event, at),
    nextAttemptAt: notBefore ?? at,
  };
}

export function planIntake(
  config: AlertsConfig,
  signals: readonly Signal[],
  open: readonly EpisodeRow[],
  runs: ReadonlyMap<string, RunInfo>,
  sprites: ReadonlyMap<string, SpriteInfo>,
  now: Date,
  wallClock: Date = now,
): IntakePlan {
  const byKey = new Map(open.map((e) => [e.key, { ...e }]));
  // Open keys per subject ("run:<id>:"), so each signal looks only at its own subject's episodes; open intent
  // episodes also per run (a confirmed intent or a recovered run resolves them).
  const subjectOf = (key: string) => key.slice(0, key.indexOf(":", key.indexOf(":") + 1) + 1);
  const bySubject = new Map<string, Set<string>>();
  const intentsByRun = new Map<string, Set<string>>();
  const addTo = (m: Map<string, Set<string>>, k: string, v: string) => {
    let set = m.get(k);
    if (!set) m.set(k, (set = new Set()));
    set.add(v);
  };
  const track = (e: Pick<EpisodeRow, "key" | "runId">) => {
    addTo(bySubject, subjectOf(e.key), e.key);
    if (e.key.startsWith("intent:") && e.runId) addTo(intentsByRun, e.runId, e.key);
  };
  for (const e of open) track(e);
  const touched = new Map<string, EpisodeRow>();
  const deliveries: DeliveryRow[] = [];
  const invalid: IntakePlan["invalid"] = [];
  const recovery = config.conditions.recoveryEscalation;

  const resolveKey = (key: string, at: Date) => {
    const ep = byKey.get(key);
    if (!ep || ep.resolvedAt !== null) return;
    ep.resolvedAt = at;
    ep.changed = true;
    byKey.delete(key);
    bySubject.get(subjectOf(key))?.delete(key);
    if (ep.runId) intentsByRun.get(ep.runId)?.delete(key);
    touched.set(ep.id, ep);
    // Only sinks that heard the trigger hear the resolve; a pending trigger goes out first (ordered by seq).
    for (const sink of ep.sinks) if (config.sinks[sink]?.enabled) deliveries.push(delivery(ep, sink, "resolve", now, null));
  };
  /** The run's open intent episodes, except those raised in transaction `tx` (same moment, not "later"). */
  const resolveIntentsOf = (runId: string, at: Date, exceptTx: string | null) => {
    for (const key of [...(intentsByRun.get(runId) ?? [])]) {
      const tx = byKey.get(key)?.subject.details["tx"];
      if (exceptTx !== null && tx === exceptTx) continue;
      resolveKey(key, at);
    }
  };

  for (const s of signals) {
    let active: Condition[];
    /** raised if not open, never resolved by this signal (another subject's view of it) */
    let alsoRaise: Condition[] = [];
    let subjectPrefix: string;
    let run: RunInfo | undefined;
    let sprite: SpriteInfo | undefined;
    let traceId: string | null = null;
    const at = s.at > now ? now : s.at;
    try {
      if (s.subject === "run") {
        run = runs.get(s.runId ?? "");
        subjectPrefix = `run:${s.runId ?? ""}:`;
        // Purged (or gone by now): nothing is wrong with it any more; its open episodes resolve.
        if (run) {
          const snap = runSnapshotSchema.parse(s.snapshot);
          traceId = snap.traceId ?? null;
          active = runConditions(run.id, `${run.spriteName}/${run.loopId}`, snap, now, recovery);
          if (runIsHealthy(snap)) resolveIntentsOf(run.id, at, snap.tx ?? null);
        } else {
          active = [];
          if (s.runId) resolveIntentsOf(s.runId, at, null);
        }
      } else if (s.subject === "intent") {
        run = runs.get(s.runId ?? "");
        if (!run) continue;
        const snap = intentSnapshotSchema.parse(s.snapshot);
        traceId = snap.traceId;
        const label = `${run.spriteName}/${run.loopId}`;
        active = intentConditions(run.id, label, snap);
        subjectPrefix = `intent:${snap.intentId}:`;
        if (snap.stage === "CONFIRMED") resolveIntentsOf(run.id, at, null);
        // A START/RESTART that ends badly while the run is down is one more failed recovery attempt.
        const rec = snap.runState !== undefined ? recoveryCondition(run.id, label, { state: snap.runState, stateReason: snap.runStateReason, recoveries: snap.recoveries }, now, recovery) : null;
        if (rec) alsoRaise = [{ ...rec, severity: effectiveSeverity(config, rec.condition, rec.severity) }];
      } else if (s.subject === "policy") {
        const snap = policySnapshotSchema.parse(s.snapshot);
        run = snap.runId ? runs.get(snap.runId) : undefined;
        sprite = !run && snap.spriteId ? sprites.get(snap.spriteId) : undefined;
        traceId = snap.traceId;
        active = policyConditions(run ? `${run.spriteName}/${run.loopId}` : sprite ? sprite.name : null, snap);
        subjectPrefix = `policy:${snap.actionId}:`;
      } else {
        sprite = sprites.get(s.spriteId ?? "");
        if (!sprite) continue;
        active = spriteConditions(sprite.id, spriteSnapshotSchema.parse(s.snapshot));
        subjectPrefix = `sprite:${sprite.id}:`;
      }
    } catch (e) {
      invalid.push({ id: s.id, error: (e as Error).message });
      continue;
    }
    active = active.map((c) => ({ ...c, severity: effectiveSeverity(config, c.condition, c.severity) }));
    const openHere = [...(bySubject.get(subjectPrefix) ?? [])].map((k) => byKey.get(k)!).filter((e) => e.resolvedAt === null);
    const rec = reconcile(openHere, active);
    rec.raise.push(...alsoRaise.filter((c) => !byKey.has(c.key)));
    const ctxFor = (c: Condition) => ({
      condition: c.condition,
      severity: c.severity,
      spriteName: run?.spriteName ?? sprite?.name ?? null,
      labels: run?.labels ?? sprite?.labels ?? {},
    });

    for (const c of rec.raise) {
      const routed = route(config, ctxFor(c), now, wallClock);
      const ep: EpisodeRow = {
        id: randomUUID(),
        key: c.key,
        condition: c.condition,
        severity: c.severity,
        runId: run?.id ?? null,
        spriteId: run?.spriteId ?? sprite?.id ?? null,
        subject: {
          summary: c.summary,
          details: c.details,
          run: run ? { id: run.id, loopId: run.loopId, repoPath: run.repoPath } : null,
          sprite: run ? { id: run.spriteId, name: run.spriteName } : sprite ? { id: sprite.id, name: sprite.name } : null,
        },
        sinks: routed.map((r) => r.sink),
        traceId: traceId ?? newTraceId(),
        openedAt: at,
        // one-shot conditions are over as soon as they are announced
        resolvedAt: c.oneShot ? at : null,
        isNew: true,
      };
      if (!c.oneShot) {
        byKey.set(c.key, ep);
        track(ep);
      }
      touched.set(ep.id, ep);
      for (const r of routed) deliveries.push(delivery(ep, r.sink, "trigger", now, r.notBefore));
    }
    for (const c of rec.escalate) {
      const ep = byKey.get(c.key)!;
      ep.severity = c.severity;
      ep.subject = { ...ep.subject, summary: c.summary, details: c.details };
      const routed = route(config, ctxFor(c), now, wallClock);
      ep.sinks = [...new Set([...ep.sinks, ...routed.map((r) => r.sink)])];
      ep.changed = true;
      touched.set(ep.id, ep);
      for (const r of routed) deliveries.push(delivery(ep, r.sink, "trigger", now, r.notBefore));
    }
    for (const key of rec.resolve) resolveKey(key, at);
  }
  return { episodes: [...touched.values()], deliveries, invalid };
}
