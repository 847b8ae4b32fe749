import { listCandidates, type CandidateRow } from "../../policy/candidates";
import { hold } from "../../pubsub/subscription-scope";
import { builder } from "../builder";
import { CandidateRef } from "../types/policy";

// policyCandidatesChanged: the open and suppressed candidates, sent first as they are now and again whenever
// they change. The lease holder's engine says when it changed them on this replica; on any other replica the
// periodic re-read (every OPS_POLICY_TICK_MS) finds the change, so every replica's subscribers hear it.

interface Wake {
  wait(): Promise<void>;
  close(): void;
}

function waker(ms: number, subscribe: (fn: () => void) => () => void): Wake {
  let resolve: (() => void) | null = null;
  let pending = false;
  const fire = () => {
    if (resolve) {
      const r = resolve;
      resolve = null;
      r();
    } else pending = true;
  };
  const off = subscribe(fire);
  const interval = setInterval(fire, ms);
  return {
    wait: () => {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise<void>((r) => (resolve = r));
    },
    close: () => {
      off();
      clearInterval(interval);
      fire();
    },
  };
}

const fingerprint = (rows: CandidateRow[]) => JSON.stringify(rows.map((r) => [r.id, r.status, r.eligible, r.reasons.map((x) => x.code), r.intentId]));

builder.subscriptionFields((t) => ({
  policyCandidatesChanged: t.field({
    type: [CandidateRef],
    description: "The open and suppressed policy candidates: now, then after every change (viewer)",
    subscribe: async function* (_root, _args, ctx) {
      const app = ctx.app;
      let closed = false;
      const wake = hold(
        ctx,
        waker(app.config.OPS_POLICY_TICK_MS, (fn) => app.policy?.onChange(fn) ?? (() => {})),
      );
      const close = { close: () => (closed = true) };
      hold(ctx, close);
      let last = "";
      try {
        while (!closed) {
          const rows = await listCandidates(app.pool, { statuses: ["open", "suppressed"], runId: null, limit: 500 });
          const fp = fingerprint(rows);
          if (fp !== last) {
            last = fp;
            yield rows;
          }
          await wake.wait();
        }
      } finally {
        wake.close();
      }
    },
    resolve: (rows) => rows,
  }),
}));
