import { promises as fsp } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { AdapterError } from "../src/contract";

// Remembers the response to each idempotency key so a retried control request returns the first outcome
// instead of acting twice: across concurrent duplicates (in-flight dedupe) and across agent restarts
// (a JSON file replaced atomically by rename). Bounded: the oldest keys are forgotten first.

export interface StoredResponse {
  key: string;
  /** What the key was first used for; reusing the key for something else is a conflict, not a replay. */
  fingerprint: string;
  status: number;
  body: Record<string, unknown>;
  storedAt: string;
}

const StoredResponseSchema = z.object({
  key: z.string().min(1),
  fingerprint: z.string(),
  status: z.number().int(),
  body: z.record(z.string(), z.unknown()),
  storedAt: z.string(),
});

const StoreFileSchema = z.object({
  version: z.literal(1),
  entries: z.array(StoredResponseSchema),
});

export const DEFAULT_MAX_IDEMPOTENCY_KEYS = 1_000;

export interface IdempotencyOutcome {
  stored: StoredResponse;
  replayed: boolean;
}

export class IdempotencyStore {
  private readonly entries = new Map<string, StoredResponse>();
  private readonly inFlight = new Map<string, { fingerprint: string; promise: Promise<StoredResponse> }>();
  private writeChain: Promise<void> = Promise.resolve();
  private tmpCounter = 0;

  private constructor(
    readonly filePath: string,
    private readonly maxEntries: number,
  ) {}

  static async open(filePath: string, opts: { maxEntries?: number } = {}): Promise<IdempotencyStore> {
    const store = new IdempotencyStore(filePath, opts.maxEntries ?? DEFAULT_MAX_IDEMPOTENCY_KEYS);
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await fsp.readFile(this.filePath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    let parsed: z.infer<typeof StoreFileSchema>;
    try {
      parsed = StoreFileSchema.parse(JSON.parse(text));
    } catch (error) {
      // Written only by rename, so a bad file means outside interference: refuse to guess which keys ran.
      throw new AdapterError("invalid_artifact", `idempotency store ${this.filePath} is unreadable (${error instanceof Error ? error.message : String(error)}); move it aside to start fresh`, {
        path: this.filePath,
      });
    }
    for (const entry of parsed.entries.slice(-this.maxEntries)) this.entries.set(entry.key, entry);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): StoredResponse | undefined {
    return this.entries.get(key);
  }

  /**
   * Returns the stored response for `key`, or runs `execute` once (concurrent callers with the same key
   * share that one execution) and stores its response. A failed `execute` (throws) stores nothing.
   */
  async run(key: string, fingerprint: string, execute: () => Promise<{ status: number; body: Record<string, unknown> }>): Promise<IdempotencyOutcome> {
    const existing = this.entries.get(key);
    if (existing !== undefined) {
      this.assertSameRequest(key, existing.fingerprint, fingerprint);
      return { stored: existing, replayed: true };
    }
    const pending = this.inFlight.get(key);
    if (pending !== undefined) {
      this.assertSameRequest(key, pending.fingerprint, fingerprint);
      return { stored: await pending.promise, replayed: true };
    }
    const promise = (async (): Promise<StoredResponse> => {
      const response = await execute();
      const stored: StoredResponse = {
        key,
        fingerprint,
        status: response.status,
        body: response.body,
        storedAt: new Date().toISOString(),
      };
      this.entries.set(key, stored);
      while (this.entries.size > this.maxEntries) {
        const oldest = this.entries.keys().next();
        if (oldest.done === true) break;
        this.entries.delete(oldest.value);
      }
      await this.persist();
      return stored;
    })();
    this.inFlight.set(key, { fingerprint, promise });
    try {
      return { stored: await promise, replayed: false };
    } finally {
      this.inFlight.delete(key);
    }
  }

  private assertSameRequest(key: string, stored: string, requested: string): void {
    if (stored !== requested) {
      throw new AdapterError("idempotency_key_conflict", `idempotency key ${JSON.stringify(key)} was already used for a different request; use a new key`, { key });
    }
  }

  /** Serialized writes; each one replaces the file atomically (write temp, fsync, rename). */
  private persist(): Promise<void> {
    const next = this.writeChain.then(async () => {
      await fsp.mkdir(path.dirname(this.filePath), { recursive: true });
      const body = JSON.stringify({ version: 1, entries: [...this.entries.values()] });
      this.tmpCounter += 1;
      const tmp = `${this.filePath}.tmp-${process.pid}-${this.tmpCounter}`;
      const fh = await fsp.open(tmp, "w", 0o600);
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, this.filePath);
    });
    // A failed write must not wedge later ones; the caller of this write still sees the error.
    this.writeChain = next.catch(() => undefined);
    return next;
  }
}
