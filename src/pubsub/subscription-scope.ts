import type { ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";

// A subscription resolver is an async generator parked in `for await (... of busSubscription)` while nothing
// happens. When its client goes away (SSE abort, socket closed), GraphQL calls return() on it, but an async
// generator only honours return() at its next yield, that is at the next matching event, which may never
// come: the bus subscription and everything the generator holds stay until then. So each subscription
// operation gets a scope; resolvers `hold()` their bus subscriptions in it, and return() on the operation's
// result closes them first, which ends the parked `for await` at once.

export interface Closable {
  close(): void;
}

export class SubscriptionScope {
  private readonly held = new Set<Closable>();
  private closed = false;

  hold<T extends Closable>(resource: T): T {
    if (this.closed) resource.close();
    else this.held.add(resource);
    return resource;
  }

  close(): void {
    this.closed = true;
    for (const r of this.held) r.close();
    this.held.clear();
  }
}

/** Registers a resource with the context's scope (when there is one: tools and tests may run without). */
export function hold<T extends Closable>(ctx: { scope?: SubscriptionScope }, resource: T): T {
  return ctx.scope ? ctx.scope.hold(resource) : resource;
}

function isAsyncIterable(x: unknown): x is AsyncIterable<ExecutionResult> {
  return typeof x === "object" && x !== null && Symbol.asyncIterator in x;
}

/** The result iterator, with return()/throw() closing the scope before they reach the generator. */
export function closingScope<T>(iterable: AsyncIterable<T>, scope: SubscriptionScope): AsyncIterableIterator<T> {
  const inner = iterable[Symbol.asyncIterator]();
  const outer: AsyncIterableIterator<T> = {
    next: () => inner.next(),
    return: (value?: unknown) => {
      scope.close();
      return inner.return ? inner.return(value) : Promise.resolve({ value: undefined, done: true } as IteratorResult<T>);
    },
    throw: (error?: unknown) => {
      scope.close();
      return inner.throw ? inner.throw(error) : Promise.reject(error);
    },
    [Symbol.asyncIterator]: () => outer,
  };
  return outer;
}

/** Gives every subscription operation its scope (HTTP/SSE and graphql-ws both subscribe through envelop). */
export function subscriptionScopes(): Plugin<{ scope?: SubscriptionScope }> {
  return {
    onSubscribe({ args }) {
      const scope = new SubscriptionScope();
      (args.contextValue as { scope?: SubscriptionScope }).scope = scope;
      return {
        onSubscribeResult({ result, setResult }) {
          if (isAsyncIterable(result)) setResult(closingScope(result, scope));
          else scope.close();
        },
        onSubscribeError() {
          scope.close();
        },
      };
    },
  };
}
