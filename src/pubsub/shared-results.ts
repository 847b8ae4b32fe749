// One GraphQL execution per event for many identical subscriptions. When thousands of clients subscribe to the
// same live-only operation with the same variables and the same principal, executing it once per change and
// handing the result to each of them is equivalent to executing it for each, and an order of magnitude
// cheaper: the per-subscriber cost drops to serialising and writing one frame. Without this, a burst to 5,000
// subscribers keeps 5,000 executions in flight at once, which mostly costs garbage collection.
//
// Only operations whose results cannot depend on the individual socket may share (the caller decides; see
// src/server.ts): no replay from a per-subscriber cursor, no per-socket backpressure checks. A member that stops
// reading is ended the way every subscription says "you fell behind": its buffer is dropped and it gets one last
// result, the caller's `resync` (the operation's ResyncRequired), then completes.

const MAX_QUEUE = 1000;

interface Member<R> extends AsyncGenerator<R, undefined, unknown> {
  push(r: R): void;
  end(error?: unknown): void;
}

/** Subscribers attached to any hub, across all SharedResults instances of the process that share it. */
interface Counter {
  members: number;
}

class Hub<R> {
  readonly members = new Set<Member<R>>();
  closed = false;
  counter: Counter = { members: 0 };

  add(m: Member<R>): void {
    this.members.add(m);
    this.counter.members++;
  }

  constructor(
    private readonly source: AsyncIterator<R>,
    private readonly onEmpty: () => void,
  ) {}

  async pump(): Promise<void> {
    try {
      for (;;) {
        const r = await this.source.next();
        if (r.done) break;
        for (const m of this.members) m.push(r.value);
      }
      this.finish();
    } catch (e) {
      this.finish(e);
    }
  }

  leave(m: Member<R>): void {
    if (this.members.delete(m)) this.counter.members--;
    if (this.members.size === 0 && !this.closed) {
      this.closed = true;
      this.onEmpty();
      void this.source.return?.(undefined)?.catch(() => {});
    }
  }

  private finish(error?: unknown): void {
    if (!this.closed) {
      this.closed = true;
      this.onEmpty();
    }
    for (const m of [...this.members]) m.end(error);
    this.counter.members -= this.members.size;
    this.members.clear();
  }
}

/** The last result a member that fell behind gets before it completes; null: it just completes. */
type Resync<R> = () => Promise<R | null>;

function member<R>(hub: Hub<R>, resync: Resync<R> | null): Member<R> {
  const queue: R[] = [];
  let waiting: { resolve: (r: IteratorResult<R, undefined>) => void; reject: (e: unknown) => void } | null = null;
  let done = false;
  // fell behind: no more results are taken while its last one (resync) is being made
  let closing = false;
  // boxed: what the producer failed with is passed on as is, whatever its type
  let failure: { error: unknown } | null = null;
  const finished = (): IteratorResult<R, undefined> => ({ value: undefined, done: true });
  const deliverLast = (r: R) => {
    if (waiting) {
      const w = waiting;
      waiting = null;
      w.resolve({ value: r, done: false });
    } else queue.push(r);
  };
  const m: Member<R> = {
    push(r) {
      if (done || closing) return;
      if (waiting) {
        const w = waiting;
        waiting = null;
        w.resolve({ value: r, done: false });
      } else if (queue.length >= MAX_QUEUE) {
        // This subscriber stopped reading: end it rather than buffer without bound, telling it to resync.
        queue.length = 0;
        hub.leave(m);
        if (!resync) {
          m.end();
          return;
        }
        closing = true;
        void resync()
          .catch(() => null)
          .then((last) => {
            if (last !== null && !done) deliverLast(last);
            m.end();
          });
      } else {
        queue.push(r);
      }
    },
    end(error) {
      if (done) return;
      done = true;
      failure = error ? { error } : null;
      if (waiting) {
        const w = waiting;
        waiting = null;
        if (failure) w.reject(failure.error);
        else w.resolve(finished());
      }
    },
    next() {
      if (queue.length) return Promise.resolve({ value: queue.shift()!, done: false });
      if (done) return failure ? Promise.reject(failure.error) : Promise.resolve(finished());
      return new Promise((resolve, reject) => (waiting = { resolve, reject }));
    },
    return() {
      queue.length = 0;
      m.end();
      hub.leave(m);
      return Promise.resolve(finished());
    },
    throw(e) {
      m.end();
      hub.leave(m);
      return Promise.reject(e);
    },
    [Symbol.asyncIterator]() {
      return m;
    },
  };
  return m;
}

const isAsyncIterable = <R>(v: unknown): v is AsyncIterable<R> => typeof v === "object" && v !== null && typeof (v as Partial<AsyncIterable<R>>)[Symbol.asyncIterator] === "function";

export class SharedResults<R> {
  private readonly hubs = new Map<string, Promise<Hub<R> | null>>();
  private readonly counter: Counter = { members: 0 };

  /** Distinct shared executions running now (each is one subscriber of the bus). */
  get executions(): number {
    return this.hubs.size;
  }

  /** Subscriptions served by those executions. */
  get subscribers(): number {
    return this.counter.members;
  }

  /**
   * Joins the execution for `key`, starting it with `start` if none runs. `start` returning a single result
   * (validation or authorisation errors) is not shared: that caller gets it, the next one starts afresh.
   */
  async join(key: string, start: () => Promise<AsyncIterable<R> | R> | AsyncIterable<R> | R, resync: Resync<R> | null = null): Promise<AsyncGenerator<R, undefined, unknown> | R> {
    for (;;) {
      const pending = this.hubs.get(key);
      if (!pending) break;
      const hub = await pending;
      if (hub && !hub.closed) {
        const m = member(hub, resync);
        hub.add(m);
        return m;
      }
      if (this.hubs.get(key) === pending) this.hubs.delete(key);
    }
    let settle!: (h: Hub<R> | null) => void;
    const pending = new Promise<Hub<R> | null>((r) => (settle = r));
    this.hubs.set(key, pending);
    let result: AsyncIterable<R> | R;
    try {
      result = await start();
    } catch (e) {
      this.hubs.delete(key);
      settle(null);
      throw e;
    }
    if (!isAsyncIterable<R>(result)) {
      this.hubs.delete(key);
      settle(null);
      return result;
    }
    const hub: Hub<R> = new Hub(result[Symbol.asyncIterator](), () => {
      if (this.hubs.get(key) === pending) this.hubs.delete(key);
    });
    hub.counter = this.counter;
    const m = member(hub, resync);
    hub.add(m);
    settle(hub);
    void hub.pump();
    return m;
  }
}
