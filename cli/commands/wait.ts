import { endOfStream, INTENT_UPDATE, type Ctx, type IntentUpdate, type IntentView, type SubscriptionEnd } from "../context";
import { CliError, EXIT, exitForStage } from "../exit-codes";
import { follow, type Verdict } from "../follow";
import { machine } from "../output";
import { rawId, resolveRun, TERMINAL_STATES, type RunView } from "../selection";

import type { Change } from "./stream";

// `opsctl wait`: follows a run (or its latest intent) until it reaches what --for names; after a reconnect the
// current state is read again, so a server restart neither hides nor repeats the verdict.

export type WaitFor = { kind: "state"; states: string[] } | { kind: "intent"; stage: string; intentId?: string };

export function parseWaitFor(value: string): WaitFor {
  const m = /^(state|intent)=([A-Z_,]+)$/i.exec(value.trim());
  if (!m) throw new CliError(`--for takes state=STATE[,STATE] or intent=STAGE (got ${value})`, EXIT.usage);
  const values = m[2].toUpperCase().split(",").filter(Boolean);
  if (m[1].toLowerCase() === "state") {
    const bad = values.filter((v) => !["AWAITING_APPROVAL", "COMPLETE", "FAILED", "IDLE", "PAUSED", "RUNNING", "STOPPED", "UNKNOWN"].includes(v));
    if (bad.length) throw new CliError(`--for state=: unknown state ${bad.join(",")}`, EXIT.usage);
    return { kind: "state", states: values };
  }
  const stages = ["REQUESTED", "DISPATCHED", "ACCEPTED", "CONFIRMED", "FAILED", "AMBIGUOUS", "REJECTED"];
  if (values.length !== 1 || !stages.includes(values[0])) throw new CliError(`--for intent=: one of ${stages.join(", ")}`, EXIT.usage);
  return { kind: "intent", stage: values[0] };
}

const STAGE_ORDER = ["REQUESTED", "DISPATCHED", "ACCEPTED", "CONFIRMED"];

/**
 * `wait RUN --for state=X` (exit 0 once the run is in X; 1 if it ends in another terminal state) or
 * `--for intent=STAGE` (the run's latest intent, or --intent ID, reaches STAGE; its own exit class otherwise).
 * Timeout: exit 4. Survives server restarts: after a reconnect the current state is read again.
 */
export async function waitFor(ctx: Ctx, ref: string, what: WaitFor, timeoutMs: number, intentRef?: string): Promise<number> {
  const api = ctx.api();
  const p = ctx.p;
  const deadline = Date.now() + timeoutMs;
  const run = await resolveRun(api, ref);
  let result: { code: number; message: string; doc: Record<string, unknown> } | null = null;
  const report = (code: number, message: string, doc: Record<string, unknown>) => {
    result = { code, message, doc };
    return "stop" as const;
  };

  if (what.kind === "state") {
    let seq = -1;
    const check = (state: string, s: number, reason: string): Verdict => {
      if (s < seq) return "continue";
      seq = s;
      if (what.states.includes(state)) return report(EXIT.ok, `${run.sprite.name}/${run.loopId} is ${state} (${reason})`, { run: run.id, state, reason, seq: s });
      // waiting for the run to end, and it ended otherwise: that will not change by waiting longer
      if (TERMINAL_STATES.has(state) && what.states.some((w) => TERMINAL_STATES.has(w)))
        return report(EXIT.failed, `${run.sprite.name}/${run.loopId} ended ${state} (${reason}), not ${what.states.join("|")}`, { run: run.id, state, reason, seq: s });
      return "continue";
    };
    let announced = false;
    const reread = async (): Promise<Verdict> => {
      const now = await resolveRun(api, run.id);
      const v = check(now.state, now.seq, now.stateReason);
      // once per wait, when it is really listening (stderr: stdout stays the result)
      if (v === "continue" && !announced && !machine(p)) p.err(`waiting for ${run.sprite.name}/${run.loopId} to be ${what.states.join("|")} (now ${now.state})`);
      announced = true;
      return v;
    };
    if (check(run.state, run.seq, run.stateReason) === "continue") {
      const end = await follow<{ runLifecycleChanged: Change }>(api, {
        query: `subscription($f: RunLifecycleFilter) { runLifecycleChanged(filter: $f) { __typename ... on RunLifecycleChange { seq state reason } ... on NotFound { message } } }`,
        variables: () => ({ f: { run: run.id } }),
        onData: (d) =>
          d.runLifecycleChanged.__typename === "RunLifecycleChange"
            ? check(d.runLifecycleChanged.state!, d.runLifecycleChanged.seq!, d.runLifecycleChanged.reason!)
            : endOfStream(d.runLifecycleChanged as SubscriptionEnd),
        // the first subscription races the read above: read again once it is live, as after every reconnect
        onConnected: reread,
        onComplete: () => "continue",
        onLost: () => p.err("opsctl: connection lost; reconnecting"),
        interrupted: ctx.io.interrupted,
        reconnectForMs: 0,
        deadline,
      });
      if (end === "interrupted") return EXIT.ambiguous;
    }
  } else {
    let intentId = intentRef;
    if (!intentId) {
      const latest = (await resolveRun(api, run.id, `intents(first: 1) { edges { node { id } } }`)) as RunView & { intents: { edges: { node: { id: string } }[] } };
      intentId = latest.intents.edges[0]?.node.id;
      if (!intentId) throw new CliError(`${run.sprite.name}/${run.loopId} has no intent to wait for`, EXIT.notFound);
    }
    const check = (i: IntentView): Verdict => {
      const doc = { intent: i };
      if (i.stage === what.stage) return report(EXIT.ok, `${i.kind} ${rawId(i.id)} is ${i.stage}`, doc);
      // past the wanted stage on the happy path counts (waiting for ACCEPTED, it is CONFIRMED already)
      if (STAGE_ORDER.indexOf(i.stage) > STAGE_ORDER.indexOf(what.stage) && STAGE_ORDER.includes(what.stage)) return report(EXIT.ok, `${i.kind} ${rawId(i.id)} is ${i.stage}`, doc);
      if (i.terminal) return report(exitForStage(i.stage, true), `${i.kind} ${rawId(i.id)} ended ${i.stage}${i.error ? ` (${i.error})` : ""}`, doc);
      return "continue";
    };
    // the server sends the intent as it is first, so a resubscription is also a re-read
    let resync = false;
    const end = await follow<{ controlIntentUpdated: IntentUpdate }>(api, {
      query: `subscription($id: ID) { controlIntentUpdated(intentId: $id) { ${INTENT_UPDATE} } }`,
      variables: () => ({ id: intentId }),
      onData: (d) => {
        const i = d.controlIntentUpdated;
        if (i.__typename === "ControlIntent") return check(i);
        resync = i.__typename === "ResyncRequired";
        return endOfStream(i);
      },
      // the stream ends at the intent's terminal stage, or after ResyncRequired (then: subscribe again)
      onComplete: () => (resync ? ((resync = false), "continue") : "stop"),
      onLost: () => p.err("opsctl: connection lost; reconnecting"),
      interrupted: ctx.io.interrupted,
      reconnectForMs: 0,
      deadline,
    });
    if (end === "interrupted") return EXIT.ambiguous;
  }
  const r = result as { code: number; message: string; doc: Record<string, unknown> } | null;
  if (!r)
    throw new CliError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what.kind === "state" ? `state ${what.states.join("|")}` : `intent ${what.stage}`}`, EXIT.ambiguous, "Timeout");
  if (r.code !== EXIT.ok) throw new CliError(r.message, r.code as never, "Unmet", r.doc);
  if (machine(p)) p.out(JSON.stringify({ ok: true, ...r.doc }));
  else p.out(r.message);
  return EXIT.ok;
}
