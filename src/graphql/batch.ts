import type { Context } from "./context";

// Request-scoped batching for per-run fields: the fleet page asks 200 runs for their sparkline, sign-off, state
// spans and attempts; each of those is one query for all the runs in the request instead of one per run. Keys
// asked for in the same turn of the event loop are loaded together; results are kept for the request.

type Loader<T> = (keys: string[]) => Promise<Map<string, T>>;

interface Batch<T> {
  pending: Map<string, { resolve: (v: T | undefined) => void; reject: (e: unknown) => void }[]>;
  done: Map<string, Promise<T | undefined>>;
  scheduled: boolean;
}

const perRequest = new WeakMap<Context, Map<string, Batch<unknown>>>();

export function batched<T>(ctx: Context, name: string, key: string, load: Loader<T>): Promise<T | undefined> {
  let batches = perRequest.get(ctx);
  if (!batches) perRequest.set(ctx, (batches = new Map<string, Batch<unknown>>()));
  let b = batches.get(name) as Batch<T> | undefined;
  if (!b) batches.set(name, (b = { pending: new Map(), done: new Map(), scheduled: false }));
  const batch = b;
  const known = batch.done.get(key);
  if (known) return known;
  const p = new Promise<T | undefined>((resolve, reject) => {
    const waiters = batch.pending.get(key) ?? [];
    waiters.push({ resolve, reject });
    batch.pending.set(key, waiters);
  });
  batch.done.set(key, p);
  if (!batch.scheduled) {
    batch.scheduled = true;
    setImmediate(() => {
      batch.scheduled = false;
      const taken = new Map(batch.pending);
      batch.pending.clear();
      load([...taken.keys()]).then(
        (result) => {
          for (const [k, ws] of taken) for (const w of ws) w.resolve(result.get(k));
        },
        (e: unknown) => {
          for (const [k, ws] of taken) {
            batch.done.delete(k);
            for (const w of ws) w.reject(e);
          }
        },
      );
    });
  }
  return p;
}

/** Groups rows by a key. */
export function groupBy<R, K>(rows: readonly R[], key: (r: R) => K): Map<K, R[]> {
  const out = new Map<K, R[]>();
  for (const r of rows) {
    const k = key(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}
