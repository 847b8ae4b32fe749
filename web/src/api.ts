import { createClient, type Client, type Sink } from "graphql-ws/client";

// The dashboard is an ordinary API client: queries and mutations over HTTP POST /graphql, subscriptions over
// graphql-ws on the same URL, both authenticated with the token the operator typed in (kept in localStorage).

const TOKEN_KEY = "superloop-ops.token";

export interface GqlError {
  message: string;
}
export interface GqlResult<T> {
  data?: T;
  errors?: GqlError[];
}

export type ConnectionState = { kind: "connecting" } | { kind: "connected"; retry: boolean } | { kind: "closed"; code: number | null; reason: string };

export interface Payload {
  query: string;
  variables: Record<string, unknown>;
}

export function loadToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

export function saveToken(token: string): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* private mode: the token lives for this page only */
  }
}

function bearer(token: string): string | null {
  return token ? `Bearer ${token}` : null;
}

// Back off 0.5 s, 1 s, 2 s ... up to 5 s, with jitter so a restarted server is not hit by every tab at once.
async function retryWait(retries: number): Promise<void> {
  const ms = Math.min(500 * 2 ** retries, 5000) + Math.random() * 300;
  await new Promise((r) => setTimeout(r, ms));
}

export class Api {
  private client: Client | null = null;
  private listeners = new Set<(s: ConnectionState) => void>();
  token = loadToken();

  constructor(private readonly endpoint = "/graphql") {}

  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<GqlResult<T>> {
    const auth = bearer(this.token);
    const res = await fetch(this.endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json", ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json().catch(() => null)) as GqlResult<T> | null;
    return body ?? { errors: [{ message: `HTTP ${res.status}` }] };
  }

  /** Like request, but throws the first GraphQL error: for reads the view cannot do without. */
  async data<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const r = await this.request<T>(query, variables);
    if (r.errors?.length || !r.data) throw new Error(r.errors?.[0]?.message ?? "no data");
    return r.data;
  }

  onConnection(listener: (s: ConnectionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(s: ConnectionState): void {
    for (const l of this.listeners) l(s);
  }

  private ws(): Client {
    if (this.client) return this.client;
    const url = new URL(this.endpoint, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const auth = bearer(this.token);
    // A replaced client (new token) still reports its own closing: only the current one may drive the banner.
    // (`let` first: the client emits `connecting` synchronously, before createClient has returned.)
    let client: Client | null = null;
    const current = () => client !== null && this.client === client;
    const created = createClient({
      url: url.toString(),
      lazy: false,
      keepAlive: 10_000,
      connectionParams: auth ? { authorization: auth } : {},
      // Never give up: an operator's dashboard must come back by itself after a network blip or a redeploy.
      retryAttempts: Infinity,
      shouldRetry: () => true,
      retryWait,
      on: {
        connecting: () => current() && this.emit({ kind: "connecting" }),
        connected: (_socket, _payload, wasRetry) => current() && this.emit({ kind: "connected", retry: wasRetry }),
        closed: (event) => {
          if (!current()) return;
          const e = event as { code?: number; reason?: string } | null;
          this.emit({ kind: "closed", code: typeof e?.code === "number" ? e.code : null, reason: typeof e?.reason === "string" ? e.reason : "" });
        },
      },
    });
    client = created;
    this.client = created;
    return created;
  }

  /**
   * Subscribes over graphql-ws. After a reconnect the client sends this same payload object again, so a
   * caller that updates `payload.variables` as data arrives (e.g. the last event cursor) resumes from there.
   */
  subscribe<T>(payload: Payload, sink: Partial<Sink<GqlResult<T>>>): () => void {
    return this.ws().subscribe<T>(payload, {
      next: (v) => sink.next?.(v as GqlResult<T>),
      error: (e) => sink.error?.(e),
      complete: () => sink.complete?.(),
    });
  }

  /** A new token: close the socket so the next subscription authenticates with it. */
  setToken(token: string): void {
    this.token = token;
    saveToken(token);
    const old = this.client;
    this.client = null;
    // dispose() rethrows the close of a connection attempt that was refused (e.g. 4403 for the old token).
    if (old) Promise.resolve(old.dispose()).catch(() => {});
  }

  /** Test seam: drops the live socket as a network failure would (the client then reconnects). */
  dropConnection(): void {
    this.client?.terminate();
  }
}
