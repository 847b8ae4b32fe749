import { Bus } from "../pubsub/bus";
import type { Topics } from "../pubsub/topics";

// The bus subscribers read from, with a hook so that writers' publish() calls on this replica can be routed
// through the cross-replica fan-out instead of straight to subscribers. Writers keep calling publish() as in a
// single process; the fan-out decides what reaches subscribers, and in which order (src/cluster/fanout.ts).

export interface PublishRouter {
  /** true = the router takes the message (it will deliver it, or what it stands for, itself) */
  intercept(topic: keyof Topics & string, key: string, message: Topics[keyof Topics]): boolean;
}

export class ClusterBus extends Bus<Topics> {
  private router: PublishRouter | null = null;

  setRouter(router: PublishRouter | null): void {
    this.router = router;
  }

  override publish<K extends keyof Topics & string>(topic: K, key: string, message: Topics[K]): void {
    if (this.router?.intercept(topic, key, message)) return;
    super.publish(topic, key, message);
  }

  /** Straight to this replica's subscribers: only the fan-out calls this. */
  deliver<K extends keyof Topics & string>(topic: K, key: string, message: Topics[K]): void {
    super.publish(topic, key, message);
  }
}
