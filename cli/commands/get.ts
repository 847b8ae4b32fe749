import { INTENT_FIELDS, type Ctx, type IntentView } from "../context";
import { CliError, EXIT } from "../exit-codes";
import { age, healthColour, printList, stageColour, stateColour, type Printable } from "../output";
import { matchesLabels, rawId, resolveRun, RUN_FIELDS, selectRuns, type RunView, type Selector } from "../selection";

// `get runs|sprites|interventions|intents|audit`: lists, paginated for the user, filtered by the selectors.

export const RUNS: Printable<RunView> = {
  kind: "Run",
  columns: [
    { header: "SPRITE", get: (r) => r.sprite.name },
    { header: "LOOP", get: (r) => r.loopId },
    { header: "STATE", get: (r) => r.state, colour: (r) => stateColour(r.state) },
    { header: "HEALTH", get: (r) => r.health.status, colour: (r) => healthColour(r.health.status) },
    { header: "ITER", get: (r) => (r.iteration === null ? "-" : String(r.iteration)) },
    { header: "AGE", get: (r) => age(r.stateSince) },
    { header: "LAST EVENT", get: (r) => (r.lastEventName ? `${r.lastEventName} ${age(r.lastEventAt)}` : "-") },
    { header: "REASON", get: (r) => r.stateReason, wide: true },
    { header: "HEALTH REASONS", get: (r) => r.health.reasons.map((x) => x.code).join(",") || "-", wide: true },
    { header: "INGEST", get: (r) => `${r.ingest.status}@${r.ingest.cursorLine}`, wide: true },
    { header: "TRANSPORT", get: (r) => r.sprite.transport, wide: true },
    { header: "REPO", get: (r) => r.repoPath, wide: true },
    { header: "RUN", get: (r) => rawId(r.id) },
  ],
  name: (r) => `run/${rawId(r.id)}`,
  json: (r) => r,
};

export async function getRuns(ctx: Ctx, sel: Selector): Promise<number> {
  printList(ctx.p, RUNS, await selectRuns(ctx.api(), sel));
  return EXIT.ok;
}

interface SpriteView {
  id: string;
  name: string;
  transport: string;
  status: string;
  controlMode: string;
  lastSeenAt: string | null;
  createdAt: string;
  removedAt: string | null;
  agentUrl: string | null;
  pollIntervalMs: number | null;
  healthProfile: string;
  maxConcurrentRuns: number;
  health: { status: string; reasons: { code: string }[] };
  runs: { edges: { node: { id: string; state: string } }[]; pageInfo: { hasNextPage: boolean } };
  labels?: unknown;
}

const SPRITE_FIELDS = `id name transport status controlMode lastSeenAt createdAt removedAt agentUrl pollIntervalMs healthProfile maxConcurrentRuns
  health { status reasons { code severity message since } } runs(first: 20) { edges { node { id loopId state } } pageInfo { hasNextPage } }`;

const SPRITES: Printable<SpriteView> = {
  kind: "Sprite",
  columns: [
    { header: "NAME", get: (s) => s.name },
    { header: "TRANSPORT", get: (s) => s.transport },
    { header: "STATUS", get: (s) => s.status },
    { header: "HEALTH", get: (s) => s.health.status, colour: (s) => healthColour(s.health.status) },
    // 20 runs per Sprite at most in this list (the query's cost); describe sprite shows them all
    { header: "RUNS", get: (s) => `${s.runs.edges.length}${s.runs.pageInfo.hasNextPage ? "+" : ""}` },
    { header: "CONTROL", get: (s) => s.controlMode },
    { header: "LAST SEEN", get: (s) => age(s.lastSeenAt) },
    { header: "AGE", get: (s) => age(s.createdAt) },
    { header: "AGENT URL", get: (s) => s.agentUrl ?? "-", wide: true },
    { header: "POLL MS", get: (s) => (s.pollIntervalMs === null ? "-" : String(s.pollIntervalMs)), wide: true },
    { header: "PROFILE", get: (s) => s.healthProfile, wide: true },
    { header: "MAX RUNS", get: (s) => String(s.maxConcurrentRuns), wide: true },
    { header: "REMOVED", get: (s) => (s.removedAt ? age(s.removedAt) : "-"), wide: true },
  ],
  name: (s) => `sprite/${s.name}`,
  json: (s) => s,
};

export async function getSprites(ctx: Ctx, sel: Selector, includeRemoved: boolean): Promise<number> {
  if (sel.state?.length || sel.sprite || sel.needsIntervention) throw new CliError("get sprites takes --health, --label and --limit", EXIT.usage);
  const api = ctx.api();
  const withLabels = sel.label?.length ? await hasLabels(ctx) : false;
  if (sel.label?.length && !withLabels) throw new CliError("--label: this server's Sprites have no labels", EXIT.usage);
  const out: SpriteView[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { sprites: { edges: { node: SpriteView }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await api.request(
      `query($after: String, $rm: Boolean) { sprites(first: 100, after: $after, includeRemoved: $rm) { edges { node { ${SPRITE_FIELDS} ${withLabels ? "labels" : ""} } } pageInfo { hasNextPage endCursor } } }`,
      { after, rm: includeRemoved },
    );
    for (const { node } of page.sprites.edges) {
      if (sel.health?.length && !sel.health.includes(node.health.status as never)) continue;
      if (sel.label?.length && !matchesLabels(node.labels, sel.label)) continue;
      out.push(node);
      if (sel.limit && out.length >= sel.limit) break;
    }
    if ((sel.limit && out.length >= sel.limit) || !page.sprites.pageInfo.hasNextPage || !page.sprites.pageInfo.endCursor) break;
    after = page.sprites.pageInfo.endCursor;
  }
  printList(ctx.p, SPRITES, out);
  return EXIT.ok;
}

async function hasLabels(ctx: Ctx): Promise<boolean> {
  const r = await ctx
    .api()
    .request<{ __type: { fields: { name: string; type: { kind: string; ofType: { kind: string } | null } }[] } | null }>(
      `{ __type(name: "Sprite") { fields { name type { kind ofType { kind } } } } }`,
    );
  const f = r.__type?.fields.find((x) => x.name === "labels");
  // a scalar or a list of scalars ([String!]!) can be selected without knowing more of its shape
  return Boolean(f && (f.type.kind === "SCALAR" || f.type.ofType?.kind === "SCALAR" || f.type.ofType?.kind === "LIST"));
}

interface InterventionView {
  acknowledgement?: { kind: string; by: string; until: string | null; note: string | null } | null;
  severity: string;
  since: string;
  reasons: { code: string; message: string; severity: string }[];
  suggestedActions: string[];
  run: RunView;
}

const INTERVENTIONS: Printable<InterventionView> = {
  kind: "Intervention",
  columns: [
    { header: "SPRITE", get: (i) => i.run.sprite.name },
    { header: "LOOP", get: (i) => i.run.loopId },
    { header: "SEVERITY", get: (i) => i.severity, colour: (i) => (i.severity === "critical" ? "red" : "yellow") },
    { header: "STATE", get: (i) => i.run.state, colour: (i) => stateColour(i.run.state) },
    { header: "REASONS", get: (i) => i.reasons.map((r) => r.code).join(",") },
    { header: "SUGGESTED", get: (i) => i.suggestedActions.join(",").toLowerCase() || "-" },
    { header: "AGE", get: (i) => age(i.since) },
    { header: "ACK", get: (i) => (i.acknowledgement ? `${i.acknowledgement.kind.toLowerCase()} by ${i.acknowledgement.by}` : "-"), wide: true },
    { header: "MESSAGE", get: (i) => i.reasons[0]?.message ?? "", wide: true },
    { header: "RUN", get: (i) => rawId(i.run.id) },
  ],
  name: (i) => `run/${rawId(i.run.id)}`,
  json: (i) => i,
};

export async function getInterventions(ctx: Ctx, sel: Selector, includeAcknowledged: boolean): Promise<number> {
  const api = ctx.api();
  const r = await api.request<{ interventions: InterventionView[] }>(
    `query($ack: Boolean) { interventions(includeAcknowledged: $ack) { severity since reasons { code message severity since } suggestedActions
      run { ${RUN_FIELDS} } ${includeAcknowledged ? "acknowledgement { kind by until note }" : ""} } }`,
    { ack: includeAcknowledged },
  );
  // the queue is one short list: the selectors are applied here (labels through the runs they pick)
  const labelled = sel.label?.length ? new Set((await selectRuns(api, { label: sel.label })).map((x) => x.id)) : null;
  let items = r.interventions.filter(
    (i) =>
      (!sel.state?.length || sel.state.includes(i.run.state as never)) &&
      (!sel.health?.length || sel.health.includes(i.run.health.status as never)) &&
      (!sel.sprite || i.run.sprite.name === sel.sprite) &&
      (!labelled || labelled.has(i.run.id)),
  );
  if (sel.limit) items = items.slice(0, sel.limit);
  printList(ctx.p, INTERVENTIONS, items);
  return EXIT.ok;
}

export const INTENTS: Printable<IntentView> = {
  kind: "Intent",
  columns: [
    { header: "SPRITE", get: (i) => i.run.sprite.name },
    { header: "LOOP", get: (i) => i.run.loopId },
    { header: "KIND", get: (i) => i.kind },
    { header: "STAGE", get: (i) => i.stage, colour: (i) => stageColour(i.stage) },
    { header: "ERROR", get: (i) => i.error ?? "-" },
    { header: "BY", get: (i) => i.requestedBy },
    { header: "AGE", get: (i) => age(i.requestedAt) },
    { header: "NOTE", get: (i) => i.note ?? "-", wide: true },
    { header: "KEY", get: (i) => i.idempotencyKey, wide: true },
    { header: "TRACE", get: (i) => i.traceId, wide: true },
    { header: "INTENT", get: (i) => rawId(i.id) },
  ],
  name: (i) => `intent/${rawId(i.id)}`,
  json: (i) => i,
};

/** Intents of one run (newest first, paginated) or of the selected runs (their latest --limit each, default 20). */
export async function getIntents(ctx: Ctx, runRef: string | undefined, sel: Selector): Promise<number> {
  const api = ctx.api();
  const per = Math.min(sel.limit ?? 20, 100);
  const conn = `intents(first: ${per}) { edges { node { ${INTENT_FIELDS} } } }`;
  // a run costs ~40 fields and each intent ~45: stay well under the server's default cost limit (50,000)
  const pageSize = Math.max(1, Math.min(100, Math.floor(30_000 / (40 + per * 45))));
  const runs = runRef ? [await resolveRun(api, runRef, conn)] : await selectRuns(api, { ...sel, limit: undefined }, conn, pageSize);
  let items = runs.flatMap((r) => (r as RunView & { intents: { edges: { node: IntentView }[] } }).intents.edges.map((e) => e.node));
  items.sort((a, b) => b.requestedAt.localeCompare(a.requestedAt));
  if (sel.limit) items = items.slice(0, sel.limit);
  printList(ctx.p, INTENTS, items);
  return EXIT.ok;
}

interface AuditView {
  at: string;
  actor: string;
  action: string;
  outcome: string;
  note: string | null;
  source: string;
  runId: string;
  run: { id: string; loopId: string; sprite: { name: string } } | null;
  intent: { id: string } | null;
}

const AUDIT: Printable<AuditView> = {
  kind: "AuditEntry",
  columns: [
    { header: "AT", get: (a) => a.at },
    { header: "ACTOR", get: (a) => a.actor },
    { header: "ACTION", get: (a) => a.action },
    { header: "OUTCOME", get: (a) => a.outcome, colour: (a) => stageColour(a.outcome.split(/[ (]/)[0]) },
    { header: "RUN", get: (a) => (a.run ? `${a.run.sprite.name}/${a.run.loopId}` : a.runId) },
    { header: "SOURCE", get: (a) => a.source, wide: true },
    { header: "INTENT", get: (a) => (a.intent ? rawId(a.intent.id) : "-"), wide: true },
    { header: "NOTE", get: (a) => a.note ?? "-" },
  ],
  name: (a) => (a.intent ? `intent/${rawId(a.intent.id)}` : `run/${a.runId}`),
  json: (a) => a,
};

export async function getAudit(ctx: Ctx, runRef: string | undefined, o: { since?: string; until?: string; limit?: number }): Promise<number> {
  const api = ctx.api();
  const runId = runRef ? (await resolveRun(api, runRef)).id : null;
  const limit = o.limit ?? 100;
  const out: AuditView[] = [];
  let after: string | null = null;
  for (;;) {
    // a literal page size: the server's cost limit counts a variable one as 500
    const first = Math.min(100, limit - out.length);
    const page: { audit: { edges: { node: AuditView }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await api.request(
      `query($after: String, $run: ID, $since: DateTime, $until: DateTime) {
        audit(first: ${first}, after: $after, runId: $run, since: $since, until: $until) {
          edges { node { at actor action outcome note source runId run { id loopId sprite { name } } intent { id } } } pageInfo { hasNextPage endCursor } } }`,
      { after, run: runId, since: o.since ?? null, until: o.until ?? null },
    );
    out.push(...page.audit.edges.map((e) => e.node));
    if (out.length >= limit || !page.audit.pageInfo.hasNextPage || !page.audit.pageInfo.endCursor) break;
    after = page.audit.pageInfo.endCursor;
  }
  printList(ctx.p, AUDIT, out);
  return EXIT.ok;
}
