import type { ExecutionResult } from "graphql";
import { isConnectionLoss, wsFailure, type Api } from "./api";
import { sleep } from "./context";
import { CliError, EXIT } from "./exit-codes";

// A subscription that survives the server going away: when the connection drops it reconnects (backoff up to
// 2 s) and subscribes again with variables built from what was already received, so a restart of the manager
// neither loses nor repeats anything. graphql-ws's own retry is off: it would resubscribe with the ORIGINAL
// variables and replay from the start.

export type Verdict = "continue" | "stop";

export interface FollowOptions<T> {
  query: string;
  /** called before every (re)subscription: the resume point lives in the caller */
  variables: () => Record<string, unknown>;
  onData: (data: T) => Verdict | Promise<Verdict>;
  /** on every (re)connection: re-read current state (what changed before the subscription was live) */
  onConnected?: () => Verdict | Promise<Verdict>;
  /** a lost connection: say so on stderr */
  onLost?: (attempt: number) => void;
  /** the server ended the stream on purpose (e.g. the intent became terminal) */
  onComplete?: () => Verdict;
  interrupted: Promise<void>;
  /** give up (exit 69) after this long without a connection; 0 = never (a deadline bounds it instead) */
  reconnectForMs: number;
  /** absolute ms timestamp; the follow returns "deadline" there */
  deadline?: number;
}

export type FollowEnd = "stopped" | "interrupted" | "deadline" | "completed";

type Attempt = { kind: "failed"; error: unknown } | { kind: "stopped" } | { kind: "completed" } | { kind: "lost"; error: unknown; connected: boolean } | { kind: "interrupted" } | { kind: "deadline" };

export async function follow<T>(api: Api, o: FollowOptions<T>): Promise<FollowEnd> {
  let interrupted = false;
  void o.interrupted.then(() => (interrupted = true));
  let lostSince: number | null = null;
  let attempt = 0;
  for (;;) {
    if (interrupted) return "interrupted";
    const client = api.ws();
    let connected = false;
    client.on("connected", () => (connected = true));
    const result = await new Promise<Attempt>((resolve) => {
      let settled = false;
      const finish = (a: Attempt) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(a);
      };
      const timer = o.deadline !== undefined ? setTimeout(() => finish({ kind: "deadline" }), Math.max(0, o.deadline - Date.now())) : undefined;
      void o.interrupted.then(() => finish({ kind: "interrupted" }));
      // a handler's HTTP read failing because the server is going away is a lost connection, not an error
      const fail = (e: unknown) => finish(e instanceof CliError && e.code === EXIT.unavailable ? { kind: "lost", error: e, connected } : { kind: "failed", error: e });
      // serialise handlers: a verdict must be known before the next message is looked at
      let chain: Promise<void> = Promise.resolve();
      client.subscribe<T>(
        { query: o.query, variables: o.variables() },
        {
          next: (r: ExecutionResult<T>) => {
            chain = chain
              .then(async () => {
                if (settled) return;
                if (r.errors?.length) {
                  finish({ kind: "lost", error: r.errors, connected: true });
                  return;
                }
                if (r.data && (await o.onData(r.data)) === "stop") finish({ kind: "stopped" });
              })
              .catch(fail);
          },
          error: (e) => void chain.then(() => finish({ kind: "lost", error: e, connected })),
          complete: () => void chain.then(() => finish({ kind: "completed" })),
        },
      );
      if (o.onConnected) {
        // re-read after subscribing: anything newer arrives on the subscription, anything older is in the answer
        client.on("connected", () => {
          chain = chain
            .then(async () => {
              // the subscribe message goes out right after the ack: give the server a moment to register it
              await sleep(150);
              if (!settled && o.onConnected && (await o.onConnected()) === "stop") finish({ kind: "stopped" });
            })
            .catch(fail);
        });
      }
    });
    await client.dispose();
    switch (result.kind) {
      case "failed":
        throw result.error;
      case "stopped":
        return "stopped";
      case "interrupted":
        return "interrupted";
      case "deadline":
        return "deadline";
      case "completed":
        if (o.onComplete && o.onComplete() === "continue") {
          attempt++;
          continue;
        }
        return "completed";
      case "lost": {
        if (!(result.error instanceof CliError) && !isConnectionLoss(result.error)) throw wsFailure(result.error, api.url);
        // the first connection never worked: nothing to resume, say unreachable now
        if (attempt === 0 && !result.connected) throw wsFailure(result.error, api.url);
        if (result.connected) lostSince = Date.now();
        lostSince ??= Date.now();
        if (o.reconnectForMs > 0 && Date.now() - lostSince > o.reconnectForMs) {
          throw new CliError(`lost the connection to ${api.url} and could not reconnect for ${Math.round(o.reconnectForMs / 1000)} s`, EXIT.unavailable);
        }
        attempt++;
        o.onLost?.(attempt);
        await Promise.race([sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5))), o.interrupted]);
        if (o.deadline !== undefined && Date.now() >= o.deadline) return "deadline";
      }
    }
  }
}
