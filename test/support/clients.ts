import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";

export interface GqlResult<T = Record<string, unknown>> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

export async function gql<T = Record<string, any>>(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<GqlResult<T>> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GqlResult<T>;
}

export function wsClient(httpUrl: string, token?: string): Client {
  return createClient({
    url: httpUrl.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  });
}

/** Collects subscription results into an array; `next(n)` waits until n results arrived. */
export function collect<T = Record<string, any>>(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const items: GqlResult<T>[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let error: unknown = null;
  let done = false;
  const wake = () => {
    for (const w of [...waiters])
      if (items.length >= w.n || error || done) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
  };
  const dispose = client.subscribe<T>(
    { query, variables },
    {
      next: (v) => {
        items.push(v as GqlResult<T>);
        wake();
      },
      error: (e) => {
        error = e;
        wake();
      },
      complete: () => {
        done = true;
        wake();
      },
    },
  );
  return {
    items,
    get error() {
      return error;
    },
    get done() {
      return done;
    },
    dispose,
    async next(n: number, timeoutMs = 10_000): Promise<GqlResult<T>[]> {
      if (items.length < n && !error && !done) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`timed out waiting for ${n} results (have ${items.length})`)), timeoutMs);
          waiters.push({
            n,
            resolve: () => {
              clearTimeout(t);
              resolve();
            },
          });
        });
      }
      if (error && items.length < n) throw error instanceof Error ? error : new Error(JSON.stringify(error));
      return items;
    },
  };
}

/** A GraphQL subscription over SSE (graphql-sse "distinct connections" mode, as Yoga serves it). */
export function sse<T = Record<string, any>>(url: string, query: string, variables: Record<string, unknown> = {}, token?: string) {
  const controller = new AbortController();
  const items: GqlResult<T>[] = [];
  let notify: (() => void) | null = null;
  const ready = fetch(url, {
    method: "POST",
    signal: controller.signal,
    headers: { "content-type": "application/json", accept: "text/event-stream", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  }).then(async (res) => {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let idx;
          while ((idx = buf.indexOf("\n\n")) >= 0) {
            const frame = buf.slice(0, idx);
            buf = buf.slice(idx + 2);
            const data = frame
              .split("\n")
              .filter((l) => l.startsWith("data:"))
              .map((l) => l.slice(5).trim())
              .join("\n");
            if (data) {
              items.push(JSON.parse(data));
              notify?.();
            }
          }
        }
      } catch {
        /* aborted */
      }
    })();
    return res;
  });
  return {
    items,
    ready,
    close: () => controller.abort(),
    async next(n: number, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (items.length < n) {
        if (Date.now() > deadline) throw new Error(`SSE: timed out waiting for ${n} results (have ${items.length})`);
        await new Promise<void>((r) => {
          notify = r;
          setTimeout(r, 50);
        });
      }
      return items;
    },
  };
}
