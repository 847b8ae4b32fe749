import { expectType, type Typed } from "../api";
import { INTENT_FIELDS, type Ctx, type IntentView } from "../context";
import { CliError, EXIT } from "../exit-codes";
import { age, paint, printOne, stageColour, stateColour } from "../output";
import { rawId, resolveRun, stripKind, type RunView } from "../selection";

// `describe run|sprite|intent`: one object with what an operator needs next to it (recent transitions and
// intents, health reasons, ingest cursor), as text or as the document under -o json|yaml|jsonpath.

const kv = (pairs: [string, string | number | null | undefined][]) => {
  const w = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(w)}  ${v === null || v === undefined || v === "" ? "-" : String(v)}`);
};

interface RunDetail extends RunView {
  approval: unknown;
  gates: unknown;
  divergence: { open: boolean; activeMismatch: { raised: boolean }; approvalCompletionConflict: { raised: boolean }; cursorRegression: { raised: boolean } };
  transitions: { edges: { node: { seq: number; at: string; from: string | null; to: string; reason: string; trigger: string; actor: string | null } }[] };
  intents: { edges: { node: IntentView }[] };
}

export async function describeRun(ctx: Ctx, ref: string): Promise<number> {
  const run = (await resolveRun(
    ctx.api(),
    ref,
    `approval gates divergence { open activeMismatch { raised } approvalCompletionConflict { raised } cursorRegression { raised } }
     transitions(last: 10) { edges { node { seq at from to reason trigger actor } } }
     intents(first: 10) { edges { node { ${INTENT_FIELDS} } } }`,
  )) as RunDetail;
  const doc = { ...run, transitions: run.transitions.edges.map((e) => e.node), intents: run.intents.edges.map((e) => e.node) };
  printOne(
    ctx.p,
    doc,
    () => {
      const p = ctx.p;
      const flags = (["activeMismatch", "approvalCompletionConflict", "cursorRegression"] as const).filter((f) => run.divergence[f].raised);
      const lines = kv([
        ["Run", rawId(run.id)],
        ["Sprite", `${run.sprite.name} (${run.sprite.transport}, ${run.sprite.status}, control ${run.sprite.controlMode})`],
        ["Loop", run.loopId],
        ["Repo", run.repoPath],
        ["State", `${paint(p, stateColour(run.state), run.state)} (${run.stateReason}) for ${age(run.stateSince)}`],
        ["Health", run.health.status],
        ["Iteration", run.iteration],
        ["Runtime run", run.runtimeRunId],
        ["Last event", run.lastEventName ? `${run.lastEventName} ${age(run.lastEventAt)} ago` : null],
        ["Ingest", `${run.ingest.status} at line ${run.ingest.cursorLine}${run.ingest.lastError ? ` (${run.ingest.lastError})` : ""}`],
        ["Divergence", flags.length ? flags.join(", ") : "none"],
        ["Seq", run.seq],
      ]);
      if (run.health.reasons.length) {
        lines.push("Health reasons:");
        for (const r of run.health.reasons) lines.push(`  ${r.severity.padEnd(8)}  ${r.code}: ${r.message}`);
      }
      lines.push("Transitions (latest 10):");
      for (const t of doc.transitions) lines.push(`  #${t.seq}  ${t.at}  ${t.from ?? "-"} → ${t.to}  ${t.reason}  (${t.trigger}${t.actor ? ` by ${t.actor}` : ""})`);
      lines.push("Intents (latest 10):");
      if (doc.intents.length === 0) lines.push("  none");
      for (const i of doc.intents)
        lines.push(`  ${i.requestedAt}  ${i.kind.padEnd(7)}  ${paint(p, stageColour(i.stage), i.stage)}${i.error ? ` (${i.error})` : ""}  by ${i.requestedBy}  ${rawId(i.id)}`);
      return lines;
    },
    `run/${rawId(run.id)}`,
  );
  return EXIT.ok;
}

export async function describeSprite(ctx: Ctx, ref: string): Promise<number> {
  const r = await ctx.api().request<{ sprite: Typed }>(
    `query($n: String!) { sprite(name: $n) { __typename ... on Error { message } ... on Sprite {
      id name transport status controlMode agentUrl agentTokenEnv spritesApiName spritesApiTokenEnv pollIntervalMs healthProfile healthOverrides
      maxConcurrentRuns lastSeenAt createdAt removedAt health { status reasons { code severity message since } }
      runs(first: 100) { edges { node { id loopId state stateReason health { status } } } } } } }`,
    { n: stripKind(ref, "sprite") },
  );
  const s = expectType<Typed & Record<string, unknown>>(r.sprite, "Sprite", `sprite ${ref}`) as unknown as {
    name: string;
    transport: string;
    status: string;
    controlMode: string;
    agentUrl: string | null;
    pollIntervalMs: number | null;
    healthProfile: string;
    maxConcurrentRuns: number;
    lastSeenAt: string | null;
    createdAt: string;
    removedAt: string | null;
    health: { status: string; reasons: { code: string; severity: string; message: string }[] };
    runs: { edges: { node: { id: string; loopId: string; state: string; stateReason: string; health: { status: string } } }[] };
  };
  const doc = { ...s, runs: s.runs.edges.map((e) => e.node) };
  printOne(
    ctx.p,
    doc,
    () => {
      const lines = kv([
        ["Name", s.name],
        ["Transport", s.transport],
        ["Status", s.status],
        ["Control", s.controlMode],
        ["Agent URL", s.agentUrl],
        ["Poll interval", s.pollIntervalMs === null ? "default" : `${s.pollIntervalMs} ms`],
        ["Health", s.health.status],
        ["Health profile", s.healthProfile],
        ["Max runs", s.maxConcurrentRuns],
        ["Last seen", s.lastSeenAt ? `${age(s.lastSeenAt)} ago` : null],
        ["Created", s.createdAt],
        ["Removed", s.removedAt],
      ]);
      for (const h of s.health.reasons) lines.push(`  ${h.severity.padEnd(8)}  ${h.code}: ${h.message}`);
      lines.push("Runs:");
      for (const x of doc.runs) lines.push(`  ${x.loopId}  ${x.state} (${x.stateReason})  ${x.health.status}  ${rawId(x.id)}`);
      return lines;
    },
    `sprite/${s.name}`,
  );
  return EXIT.ok;
}

export async function describeIntent(ctx: Ctx, ref: string): Promise<number> {
  const id = stripKind(ref, "intent");
  // raw ids are accepted by node() only as Relay ids: encode a raw uuid as one
  const relay = /^[0-9a-f-]{36}$/i.test(id) ? Buffer.from(`ControlIntent:${id}`).toString("base64") : id;
  // node() answers null (with an error) for an id it cannot load: that is "not found" for this command
  const r = await ctx
    .api()
    .requestNullable<{ node: (IntentView & { __typename: string }) | null }>(`query($id: ID!) { node(id: $id) { __typename ... on ControlIntent { ${INTENT_FIELDS} stages { evidence } } } }`, {
      id: relay,
    });
  const i = r.data?.node;
  if (!i || i.__typename !== "ControlIntent") throw new CliError(`no intent ${ref}${r.errors.length ? ` (${r.errors.join("; ")})` : ""}`, EXIT.notFound, "NotFound", { ref });
  printOne(
    ctx.p,
    i,
    () => {
      const lines = kv([
        ["Intent", rawId(i.id)],
        ["Kind", i.kind],
        ["Stage", `${paint(ctx.p, stageColour(i.stage), i.stage)}${i.error ? ` (${i.error})` : ""}`],
        ["Run", `${i.run.sprite.name}/${i.run.loopId} ${rawId(i.run.id)} (now ${i.run.state})`],
        ["Requested by", i.requestedBy],
        ["Requested", i.requestedAt],
        ["Ended", i.endedAt],
        ["Note", i.note],
        ["Key", i.idempotencyKey],
        ["Trace", i.traceId],
      ]);
      lines.push("Stages:");
      for (const s of i.stages) lines.push(`  ${s.at}  ${s.stage.padEnd(10)}  ${s.observation}${s.followUp ? ` (follow-up ${s.followUp})` : ""}`);
      return lines;
    },
    `intent/${rawId(i.id)}`,
  );
  return EXIT.ok;
}
