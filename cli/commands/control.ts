import type { Api, Typed } from "../api";
import { endOfStream, INTENT_FIELDS, INTENT_UPDATE, type Ctx, type IntentUpdate, type IntentView } from "../context";
import { CliError, combineExits, EXIT, exitForStage, exitForTypename, type ExitCode } from "../exit-codes";
import { follow } from "../follow";
import { machine, printList, stageColour, type Printable } from "../output";
import { hasSelector, rawId, resolveRun, selectRuns, type RunView, type Selector } from "../selection";

// Control intents on one run, several named runs, or every run a selector picks — each with its own result
// (a refusal on one run does not stop the others). With --wait each is followed to a terminal stage.

export const INTENT_COMMANDS = ["cancel", "approve", "reject", "pause", "resume", "start", "restart"] as const;

const RESULT = `__typename ... on ControlIntent { ${INTENT_FIELDS} } ... on Error { message }
  ... on PreconditionFailed { state stateReason } ... on ValidationError { issues { path message } }`;

export interface ControlOptions {
  note?: string;
  key?: string;
  wait: boolean;
  timeoutMs: number;
  resume: boolean;
  all: boolean;
}

interface Outcome {
  run: { id: string; sprite: string; loop: string };
  ok: boolean;
  exit: ExitCode;
  intent: IntentView | null;
  error: { type: string; message: string } | null;
}

const RESULTS: Printable<Outcome> = {
  kind: "IntentResult",
  columns: [
    { header: "SPRITE", get: (o) => o.run.sprite },
    { header: "LOOP", get: (o) => o.run.loop },
    { header: "INTENT", get: (o) => (o.intent ? `${o.intent.kind} ${rawId(o.intent.id)}` : "-") },
    { header: "STAGE", get: (o) => o.intent?.stage ?? "-", colour: (o) => stageColour(o.intent?.stage) },
    { header: "RESULT", get: (o) => (o.ok ? "ok" : (o.error?.type ?? o.intent?.error ?? "failed")), colour: (o) => (o.ok ? "green" : "red") },
    { header: "EXIT", get: (o) => String(o.exit) },
    { header: "MESSAGE", get: (o) => o.error?.message ?? o.intent?.stages[o.intent.stages.length - 1]?.observation ?? "" },
  ],
  name: (o) => (o.intent ? `intent/${rawId(o.intent.id)}` : `run/${rawId(o.run.id)}`),
  json: (o) => o,
};

function describeIntent(i: IntentView): string {
  const last = i.stages[i.stages.length - 1];
  return `${i.kind} ${rawId(i.id)} on ${i.run.sprite.name}/${i.run.loopId}: ${i.stage}${i.error ? ` (${i.error})` : ""}${last ? ` — ${last.observation}` : ""}`;
}

/** An approve that does not resume the loop is done once the decision is recorded (ACCEPTED). */
function settled(i: IntentView): boolean {
  return i.terminal || (i.kind === "APPROVE" && !i.resumeAfterApprove && i.stage === "ACCEPTED");
}

async function followIntent(ctx: Ctx, api: Api, intent: IntentView, deadline: number, onStage: (i: IntentView) => void): Promise<IntentView> {
  let latest = intent;
  let resync = false;
  await follow<{ controlIntentUpdated: IntentUpdate }>(api, {
    // the server sends the intent as it is first: a resubscription after a restart is also a re-read
    query: `subscription($id: ID!) { controlIntentUpdated(intentId: $id) { ${INTENT_UPDATE} } }`,
    variables: () => ({ id: intent.id }),
    onData: (d) => {
      const i = d.controlIntentUpdated;
      if (i.__typename !== "ControlIntent") {
        resync = i.__typename === "ResyncRequired";
        return endOfStream(i);
      }
      if (i.stage !== latest.stage || i.stages.length !== latest.stages.length) onStage(i);
      latest = i;
      return settled(i) ? "stop" : "continue";
    },
    // the stream ends at the intent's terminal stage, or after ResyncRequired (then: subscribe again)
    onComplete: () => (resync ? ((resync = false), "continue") : "stop"),
    onLost: () => ctx.p.err("opsctl: connection lost; reconnecting"),
    interrupted: ctx.io.interrupted,
    reconnectForMs: 0,
    deadline,
  });
  return latest;
}

export async function control(ctx: Ctx, command: (typeof INTENT_COMMANDS)[number], refs: string[], sel: Selector, o: ControlOptions): Promise<number> {
  if (refs.length > 0 && hasSelector(sel)) throw new CliError(`${command}: name runs or use a selector, not both`, EXIT.usage);
  if (refs.length === 0 && !hasSelector(sel) && !o.all) throw new CliError(`${command}: name at least one run, or select runs (--state, --sprite, --label, ...; --all for every run)`, EXIT.usage);
  if (o.all && (refs.length > 0 || hasSelector(sel))) throw new CliError(`${command}: --all takes no runs and no selector`, EXIT.usage);
  const api = ctx.api();
  const p = ctx.p;
  const human = !machine(p);
  const kind = command.toUpperCase();
  // several named runs: each may be missing on its own (its own result), so resolve them one by one
  const targets: (RunView | { ref: string; error: CliError })[] = [];
  if (refs.length) {
    for (const ref of refs) {
      try {
        targets.push(await resolveRun(api, ref));
      } catch (e) {
        if (!(e instanceof CliError) || (e.code !== EXIT.notFound && e.code !== EXIT.ambiguous)) throw e;
        targets.push({ ref, error: e });
      }
    }
  } else {
    targets.push(...(await selectRuns(api, sel)));
    if (targets.length === 0) {
      p.err(`${command}: no run matches the selector`);
      return EXIT.notFound;
    }
  }
  const deadline = Date.now() + o.timeoutMs;
  const outcomes = await Promise.all(
    targets.map(async (t): Promise<Outcome> => {
      if ("error" in t) return { run: { id: t.ref, sprite: "-", loop: "-" }, ok: false, exit: t.error.code, intent: null, error: { type: t.error.kind, message: t.error.message } };
      const run = { id: t.id, sprite: t.sprite.name, loop: t.loopId };
      const data = await api.request<{ r: Typed & Partial<IntentView> }>(`mutation($input: RequestControlInput!) { r: requestControl(input: $input) { ${RESULT} } }`, {
        input: { runId: t.id, intent: kind, note: o.note ?? null, idempotencyKey: o.key ?? null, ...(kind === "APPROVE" ? { resumeAfterApprove: o.resume } : {}) },
      });
      const r = data.r;
      if (r.__typename !== "ControlIntent") {
        const message = r.message ?? r.__typename;
        if (human) p.err(`${command} ${t.sprite.name}/${t.loopId} refused (${r.__typename}): ${message}`);
        return { run, ok: false, exit: exitForTypename(r.__typename), intent: null, error: { type: r.__typename, message } };
      }
      let intent = r as unknown as IntentView;
      if (human) p.out(describeIntent(intent));
      if (o.wait && !settled(intent)) {
        intent = await followIntent(ctx, api, intent, deadline, (i) => {
          if (human) p.out(describeIntent(i));
        });
        if (human && !settled(intent)) p.err(`${command} ${t.sprite.name}/${t.loopId}: gave up waiting after ${Math.round(o.timeoutMs / 1000)} s at ${intent.stage}`);
      }
      const exit = settled(intent) && !intent.terminal ? EXIT.ok : exitForStage(intent.stage, o.wait);
      return { run, ok: exit === EXIT.ok, exit, intent, error: null };
    }),
  );
  if (human) {
    if (outcomes.length > 1) {
      p.out("");
      printList(p, RESULTS, outcomes);
    }
    for (const x of outcomes) if (x.error && x.error.type !== "ControlIntent" && !x.intent && x.run.sprite === "-") p.err(`${command} ${x.run.id}: ${x.error.message}`);
  } else {
    printList(p, RESULTS, outcomes);
  }
  return combineExits(outcomes.map((x) => x.exit));
}
