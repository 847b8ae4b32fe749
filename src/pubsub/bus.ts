// In-process publish/subscribe with a bounded buffer per subscriber. A subscriber that falls behind by more
// than its buffer is not buffered without bound: its iterator ends with an `overflow` result, so the
// GraphQL layer can tell the client to resync instead of silently dropping changes.

export type Delivery<T> = { kind: "message"; message: T } | { kind: "overflow" };

export interface Subscription<T> extends AsyncIterableIterator<Delivery<T>> {
  close(): void;
}

type Listener<T> = (message: T) => void;

export class Bus<Topics extends Record<string, unknown>> {
  private listeners = new Map<string, Set<Listener<never>>>();

  publish<K extends keyof Topics & string>(topic: K, key: string, message: Topics[K]): void {
    const set = this.listeners.get(`${topic}\u0000${key}`);
    if (set) for (const l of [...set]) (l as Listener<Topics[K]>)(message);
    const all = this.listeners.get(`${topic}\u0000*`);
    if (all) for (const l of [...all]) (l as Listener<Topics[K]>)(message);
  }

  /** Number of live subscriptions, for /ready and benches. */
  get size(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  listenerCount(topic: keyof Topics & string, key: string): number {
    return this.listeners.get(`${topic}\u0000${key}`)?.size ?? 0;
  }

  /** key "*" receives every message of the topic. */
  subscribe<K extends keyof Topics & string>(topic: K, key: string, maxBuffer = 1000): Subscription<Topics[K]> {
    const name = `${topic}\u0000${key}`;
    const queue: Topics[K][] = [];
    let waiting: ((r: IteratorResult<Delivery<Topics[K]>>) => void) | null = null;
    let state: "open" | "overflow" | "closed" = "open";
    const listener: Listener<Topics[K]> = (message) => {
      if (state !== "open") return;
      if (waiting) {
        const w = waiting;
        waiting = null;
        w({ value: { kind: "message", message }, done: false });
        return;
      }
      if (queue.length >= maxBuffer) {
        state = "overflow";
        queue.length = 0;
        detach();
        return;
      }
      queue.push(message);
    };
    const detach = () => {
      const set = this.listeners.get(name);
      set?.delete(listener);
      if (set && set.size === 0) this.listeners.delete(name);
    };
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);

    const finish = (): IteratorResult<Delivery<Topics[K]>> => ({ value: undefined, done: true });
    const sub: Subscription<Topics[K]> = {
      next() {
        if (queue.length) return Promise.resolve({ value: { kind: "message", message: queue.shift()! }, done: false });
        if (state === "overflow") {
          state = "closed";
          return Promise.resolve({ value: { kind: "overflow" }, done: false });
        }
        if (state === "closed") return Promise.resolve(finish());
        return new Promise((resolve) => (waiting = resolve));
      },
      return() {
        sub.close();
        return Promise.resolve(finish());
      },
      close() {
        if (state === "closed") return;
        state = "closed";
        queue.length = 0;
        detach();
        if (waiting) {
          const w = waiting;
          waiting = null;
          w(finish());
        }
      },
      [Symbol.asyncIterator]() {
        return sub;
      },
    };
    return sub;
  }
}
