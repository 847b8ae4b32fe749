import type { App } from "../app";
import type { Principal } from "../auth/principal";
import type { SubscriptionScope } from "../pubsub/subscription-scope";

export interface Context {
  app: App;
  /** null = a request without valid credentials on a server that has tokens configured */
  principal: Principal | null;
  /** Bytes queued on the client's socket but not yet sent (graphql-ws); a slow reader is told to resync. */
  outboundBytes?: () => number;
  /** This request's trace id (X-Trace-Id / traceparent, or generated): intents it creates carry it. */
  traceId?: string;
  /** Subscriptions: what the resolver holds, closed as soon as the client is gone (src/pubsub/subscription-scope.ts). */
  scope?: SubscriptionScope;
  /** A shared subscription's member fell behind (src/pubsub/shared-results.ts): the operation ends at once with ResyncRequired. */
  resyncNow?: boolean;
}

/** Past this many unsent bytes a subscriber is too slow: it gets resyncRequired instead of unbounded buffering. */
export const MAX_OUTBOUND_BYTES = 8 * 1024 * 1024;
