import { endOfStream, INTENT_FIELDS, INTENT_UPDATE, type Ctx, type IntentUpdate, type IntentView, type SubscriptionEnd } from "../context";
import { EXIT } from "../exit-codes";
import { follow, type Verdict } from "../follow";
import { machine, paint, printList, stageColour, stateColour } from "../output";
import { rawId, resolveRun, selectRuns, TERMINAL_STATES, type RunView, type Selector } from "../selection";

// The streaming commands: events (-f) and watch (wait is wait.ts). Each keeps its own resume point (event line,
// run seq, intent stage) so that a reconnect after a server restart neither repeats nor skips a line.

interface EventView {
  line: number;
  timestamp: string;
  name: string;
  iteration: number | null;
  role: string | null;
  status: string | null;
  message: string | null;
  raw: unknown;
}

const EVENT_FIELDS = "line timestamp name iteration role status message raw";

function eventLine(e: EventView): string {
  const bits = [String(e.line).padStart(5), e.timestamp, e.name.padEnd(22)];
  if (e.iteration !== null) bits.push(`it=${e.iteration}`);
  if (e.role) bits.push(`role=${e.role}`);
  if (e.status) bits.push(`status=${e.status}`);
  if (e.message) bits.push(e.message);
  return bits.join("  ");
}

export interface EventsOptions {
  follow: boolean;
  after?: number;
  limit?: number;
  reconnectMs: number;
}

export async function events(ctx: Ctx, ref: string, o: EventsOptions): Promise<number> {
  const api = ctx.api();
  const run = await resolveRun(api, ref);
  const p = ctx.p;
  let last = o.after ?? 0;
  let printed = 0;
  const emit = (list: readonly EventView[]): Verdict => {
    for (const e of list) {
      if (e.line <= last) continue; // already printed (a replay after a reconnect)
      last = e.line;
      printed++;
      if (p.format.kind === "table" || p.format.kind === "wide") p.out(eventLine(e));
      else p.out(JSON.stringify(e));
      if (o.limit && printed >= o.limit) return "stop";
    }
    return "continue";
  };
  if (!o.follow) {
    const all: EventView[] = [];
    let after: string | null = String(last);
    for (;;) {
      // a literal page size: the server's cost limit counts a variable one as 500
      const first = Math.min(100, o.limit ? o.limit - all.length : 100);
      const page: { run: { events: { edges: { node: EventView }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } } = await api.request(
        `query($id: ID!, $after: String) { run(id: $id) { ... on Run { events(first: ${first}, after: $after) { edges { node { ${EVENT_FIELDS} } } pageInfo { hasNextPage endCursor } } } } }`,
        { id: run.id, after },
      );
      all.push(...page.run.events.edges.map((e) => e.node));
      if ((o.limit && all.length >= o.limit) || !page.run.events.pageInfo.hasNextPage || !page.run.events.pageInfo.endCursor) break;
      after = page.run.events.pageInfo.endCursor;
    }
    if (p.format.kind === "json" || p.format.kind === "yaml" || p.format.kind === "jsonpath") {
      printList(p, { kind: "Event", columns: [], name: (e) => `event/${e.line}`, json: (e) => e }, all);
    } else if (p.format.kind === "name") {
      for (const e of all) p.out(`event/${e.line}`);
    } else emit(all);
    return EXIT.ok;
  }
  await follow<{ runEvents: { __typename: "RunEventsBatch"; events: EventView[]; cursor: string } | SubscriptionEnd }>(api, {
    query: `subscription($id: ID!, $after: String) { runEvents(runId: $id, after: $after) { __typename
      ... on RunEventsBatch { cursor events { ${EVENT_FIELDS} } } ... on NotFound { message } } }`,
    variables: () => ({ id: run.id, after: String(last) }),
    onData: (d) => (d.runEvents.__typename === "RunEventsBatch" ? emit(d.runEvents.events) : endOfStream(d.runEvents)),
    // ResyncRequired ends the stream on purpose: subscribe again from the cursor
    onComplete: () => "continue",
    onLost: () => p.err("opsctl: connection lost; reconnecting (events resume after line " + last + ")"),
    interrupted: ctx.io.interrupted,
    reconnectForMs: o.reconnectMs,
  });
  return EXIT.ok;
}

export interface Change {
  __typename: string;
  runId?: string;
  seq?: number;
  previousState?: string | null;
  state?: string;
  reason?: string;
  at?: string;
  run?: { loopId: string; sprite: { name: string } } | null;
}

export interface WatchOptions {
  until?: string;
  reconnectMs: number;
  /** how long a run that reached its end may still show open intents settling (ms) */
  settleMs?: number;
}

/**
 * Watches one run (until it reaches a terminal state or --until) or the fleet selected (until interrupted, or
 * until every selected run is in --until). The first lines are the current states; a change is printed once
 * (per run, seq only goes up).
 */
export async function watch(ctx: Ctx, ref: string | undefined, sel: Selector, o: WatchOptions): Promise<number> {
  const api = ctx.api();
  const p = ctx.p;
  const single = ref ? await resolveRun(api, ref) : null;
  const runs = single ? [single] : await selectRuns(api, sel);
  const names = new Map(runs.map((r) => [rawId(r.id), `${r.sprite.name}/${r.loopId}`]));
  const seqs = new Map(runs.map((r) => [rawId(r.id), r.seq]));
  const states = new Map(runs.map((r) => [rawId(r.id), r.state]));
  const seenIntents = new Set<string>();
  const openIntents = new Map<string, string>();
  let headerDone = false;
  const header = () => {
    if (headerDone || p.noHeaders || machine(p)) return;
    headerDone = true;
    p.out(`${"TIME".padEnd(8)}   ${"RUN".padEnd(24)}   ${"EVENT".padEnd(30)}   DETAIL`);
  };
  const time = (iso: string) => new Date(iso).toISOString().slice(11, 19);
  const stateLine = (runId: string, at: string, from: string | null, to: string, reason: string, seq: number, type: string) => {
    if (machine(p)) p.out(JSON.stringify({ type, runId, run: names.get(runId), at, previousState: from, state: to, reason, seq }));
    else {
      header();
      const what = from ? `${from} → ${to}` : to;
      p.out(`${time(at)}   ${(names.get(runId) ?? runId).padEnd(24)}   ${paint(p, stateColour(to), what.padEnd(30))}   ${reason} (seq ${seq})`);
    }
  };
  const intentLine = (i: IntentView) => {
    const key = `${i.id}:${i.stage}:${i.stages.length}`;
    if (seenIntents.has(key)) return;
    seenIntents.add(key);
    if (i.terminal) openIntents.delete(i.id);
    else openIntents.set(i.id, i.stage);
    if (machine(p)) p.out(JSON.stringify({ type: "intent", ...i }));
    else {
      header();
      const lastStage = i.stages[i.stages.length - 1];
      const at = lastStage?.at ?? i.requestedAt;
      p.out(
        `${time(at)}   ${`${i.run.sprite.name}/${i.run.loopId}`.padEnd(24)}   ${paint(p, stageColour(i.stage), `${i.kind} ${i.stage}`.padEnd(30))}   ${i.error ? `${i.error}: ` : ""}${lastStage?.observation ?? ""}`,
      );
    }
  };
  for (const r of runs) stateLine(rawId(r.id), r.stateSince, null, r.state, r.stateReason, r.seq, "state");
  if (single) {
    // open intents at the start are part of the story the watch tells
    const withIntents = await resolveRun(api, single.id, `intents(first: 5) { edges { node { ${INTENT_FIELDS} } } }`);
    for (const e of (withIntents as RunView & { intents: { edges: { node: IntentView }[] } }).intents.edges.reverse()) if (!e.node.terminal) intentLine(e.node);
  }

  const done = (): boolean => {
    if (single) {
      const s = states.get(rawId(single.id))!;
      return o.until ? s === o.until : TERMINAL_STATES.has(s);
    }
    return o.until !== undefined && states.size > 0 && [...states.values()].every((s) => s === o.until);
  };
  let endedAt: number | null = null;
  const verdict = (): Verdict => {
    if (!done()) {
      endedAt = null;
      return "continue";
    }
    // the run ended: let intents still open settle (an approve confirmed by loop_complete lands just after)
    endedAt ??= Date.now();
    return openIntents.size === 0 || Date.now() - endedAt > (o.settleMs ?? 10_000) ? "stop" : "continue";
  };
  if (verdict() === "stop") return EXIT.ok;

  const onChange = (c: Change): Verdict => {
    if (c.__typename !== "RunLifecycleChange") return endOfStream(c as SubscriptionEnd); // ResyncRequired: re-read on the next reconnect
    const id = rawId(c.runId!);
    if (!seqs.has(id)) {
      if (single || o.until) return "continue"; // a run that was not selected at the start
      names.set(id, c.run ? `${c.run.sprite.name}/${c.run.loopId}` : id);
    }
    if ((seqs.get(id) ?? -1) >= c.seq!) return "continue";
    seqs.set(id, c.seq!);
    states.set(id, c.state!);
    stateLine(id, c.at!, c.previousState ?? null, c.state!, c.reason!, c.seq!, "lifecycle");
    return verdict();
  };
  const resync = async (): Promise<Verdict> => {
    // after a reconnect: whatever changed while we were away, as one line per run (never a repeat)
    const now = single ? [await resolveRun(api, single.id)] : await selectRuns(api, sel);
    for (const r of now) {
      const id = rawId(r.id);
      if (!seqs.has(id) && (single || o.until)) continue;
      names.set(id, `${r.sprite.name}/${r.loopId}`);
      if ((seqs.get(id) ?? -1) < r.seq && states.get(id) !== r.state) stateLine(id, r.stateSince, states.get(id) ?? null, r.state, r.stateReason, r.seq, "lifecycle");
      seqs.set(id, Math.max(seqs.get(id) ?? -1, r.seq));
      states.set(id, r.state);
    }
    return verdict();
  };

  const filter = single ? { run: single.id } : { ...(sel.sprite ? { sprite: sel.sprite } : {}) };
  const lifecycleQuery = `subscription($f: RunLifecycleFilter) { runLifecycleChanged(filter: $f) { __typename
    ... on RunLifecycleChange { runId seq previousState state reason at run { loopId sprite { name } } } ... on ResyncRequired { reason } ... on NotFound { message } } }`;
  const common = { interrupted: ctx.io.interrupted, reconnectForMs: o.reconnectMs, onLost: () => p.err("opsctl: connection lost; reconnecting") };
  if (!single) {
    await follow<{ runLifecycleChanged: Change }>(api, {
      ...common,
      query: lifecycleQuery,
      variables: () => ({ f: filter }),
      onData: (d) => onChange(d.runLifecycleChanged),
      onConnected: resync,
      onComplete: () => "continue",
    });
    return EXIT.ok;
  }
  // one run: its lifecycle and its intents on one connection each; the first to decide "stop" ends both
  let stop: () => void = () => {};
  const stopped = new Promise<void>((r) => (stop = r));
  const both = Promise.race([ctx.io.interrupted, stopped]);
  const decide = (v: Verdict) => {
    if (v === "stop") stop();
    return v;
  };
  // a settle window needs a clock: re-check the verdict while waiting for open intents
  const ticker = setInterval(() => {
    if (endedAt !== null) decide(verdict());
  }, 250);
  try {
    await Promise.all([
      follow<{ runLifecycleChanged: Change }>(api, {
        ...common,
        interrupted: both,
        query: lifecycleQuery,
        variables: () => ({ f: filter }),
        onData: (d) => decide(onChange(d.runLifecycleChanged)),
        onConnected: async () => decide(await resync()),
        onComplete: () => "continue",
      }),
      follow<{ controlIntentUpdated: IntentUpdate }>(api, {
        ...common,
        interrupted: both,
        onLost: () => {},
        query: `subscription($id: ID) { controlIntentUpdated(runId: $id) { ${INTENT_UPDATE} } }`,
        variables: () => ({ id: single.id }),
        onData: (d) => {
          if (d.controlIntentUpdated.__typename !== "ControlIntent") return endOfStream(d.controlIntentUpdated);
          intentLine(d.controlIntentUpdated);
          return decide(verdict());
        },
        onComplete: () => "continue",
      }),
    ]).finally(() => stop());
  } finally {
    clearInterval(ticker);
  }
  return EXIT.ok;
}
