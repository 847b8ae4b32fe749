import pg from "pg";
import type { Logger } from "../util/log";

// Small helpers of the dispatcher (src/alerts/dispatcher.ts): the NOTIFY listener that wakes it and Sprite labels.

/** Sprite labels, if the Sprite row carries any (an object, or ["k=v", ...]). */
export function labelsOf(raw: unknown): Record<string, string> {
  if (Array.isArray(raw)) {
    return Object.fromEntries(raw.filter((x): x is string => typeof x === "string").map((x) => [x.split("=")[0], x.includes("=") ? x.slice(x.indexOf("=") + 1) : ""]));
  }
  if (raw && typeof raw === "object") return Object.fromEntries(Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === "string"));
  return {};
}

/**
 * LISTEN on a session of its own (a pooled connection would be handed to other work). Losing it only costs
 * latency: the dispatcher's poll still drains the outbox, and the next ensure() connects again (at most once a
 * second).
 */
export class SignalListener {
  private client: pg.Client | null = null;
  private retryAt = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly channel: string,
    private readonly onNotify: () => void,
    private readonly log: Logger,
  ) {}

  async ensure(): Promise<void> {
    if (this.client || performance.now() < this.retryAt) return;
    const client = new pg.Client(this.pool.options);
    const drop = () => {
      if (this.client === client) this.client = null;
      this.retryAt = performance.now() + 1000;
      client.end().catch(() => {});
    };
    client.on("error", drop);
    client.on("end", drop);
    client.on("notification", () => this.onNotify());
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      this.client = client;
    } catch (e) {
      this.log.debug("LISTEN failed; polling", { channel: this.channel, error: (e as Error).message });
      drop();
    }
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => {});
  }
}
