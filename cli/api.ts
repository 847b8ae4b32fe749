import { createRequire } from "node:module";
import type { Client } from "graphql-ws";
import { CliError, EXIT, exitForTypename } from "./exit-codes";

// graphql-ws and ws are loaded on the first stream only: most invocations are one HTTP request, and start-up
// time is most of what a short command costs.
const load = createRequire(import.meta.url);

// The manager's GraphQL API as opsctl sees it: HTTP for queries and mutations, graphql-ws for streams. Transport
// failures become exit codes here (69 unreachable, 77 unauthorized) so that commands only deal with data.

interface GqlResponse {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** A union result: the success type or one of the API's Error types. */
export interface Typed {
  __typename: string;
  message?: string;
}

export class Api {
  constructor(
    readonly url: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 30_000,
  ) {}

  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const { data, errors, unauthorized } = await this.send(query, variables);
    if (errors.length) throw new CliError(errors.join("; "), unauthorized ? EXIT.unauthorized : EXIT.failed);
    return data as T;
  }

  /** Data and errors side by side: for fields that answer null plus an error for "no such object" (node). */
  async requestNullable<T>(query: string, variables: Record<string, unknown> = {}): Promise<{ data: T | null; errors: string[] }> {
    const { data, errors, unauthorized } = await this.send(query, variables);
    if (unauthorized) throw new CliError(errors.join("; "), EXIT.unauthorized);
    return { data: (data ?? null) as T | null, errors };
  }

  private async send(query: string, variables: Record<string, unknown>): Promise<{ data: unknown; errors: string[]; unauthorized: boolean }> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const cause = (e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message;
      throw new CliError(`cannot reach ${this.url}: ${cause}`, EXIT.unavailable);
    }
    const text = await res.text();
    let body: GqlResponse;
    try {
      body = JSON.parse(text) as GqlResponse;
    } catch {
      if (res.status === 401 || res.status === 403) throw new CliError(`${this.url} answered HTTP ${res.status}`, EXIT.unauthorized);
      throw new CliError(`${this.url} answered HTTP ${res.status} with something that is not GraphQL`, res.status >= 500 ? EXIT.unavailable : EXIT.failed);
    }
    const errors = (body.errors ?? []).map((e) => e.message);
    const unauthorized = res.status === 401 || res.status === 403 || (body.errors ?? []).some((e) => e.extensions?.code === "UNAUTHENTICATED" || e.extensions?.code === "FORBIDDEN");
    return { data: body.data, errors, unauthorized };
  }

  /** A graphql-ws client that does not retry by itself: followers reconnect with their own cursor (no replay). */
  ws(): Client {
    const { createClient } = load("graphql-ws") as typeof import("graphql-ws");
    const WebSocket = load("ws") as typeof import("ws");
    return createClient({
      url: this.url.replace(/^http/, "ws"),
      webSocketImpl: WebSocket,
      lazy: true,
      retryAttempts: 0,
      connectionParams: this.token ? { authorization: `Bearer ${this.token}` } : {},
    });
  }
}

/** Throws the CliError a union's error member maps to; returns the value when it is the wanted type. */
export function expectType<T extends Typed>(value: Typed, typename: string, what: string): T {
  if (value.__typename === typename) return value as T;
  throw new CliError(`${what}: ${value.__typename}${value.message ? `: ${value.message}` : ""}`, exitForTypename(value.__typename), value.__typename, { ...value });
}

/** A graphql-ws failure as a CliError: 4403/4401 close → unauthorized; a socket that never opened → unreachable. */
export function wsFailure(e: unknown, url: string): CliError {
  const code = (e as { code?: number }).code;
  if (code === 4403 || code === 4401) return new CliError(`the server refused the WebSocket (${code}): check the token`, EXIT.unauthorized);
  if (Array.isArray(e)) return new CliError((e as { message: string }[]).map((x) => x.message).join("; "), EXIT.failed);
  if (e instanceof Error) return new CliError(`${url}: ${e.message}`, EXIT.unavailable);
  return new CliError(`${url}: connection closed${code ? ` (${code})` : ""}`, EXIT.unavailable);
}

/** True when a graphql-ws error is a lost or refused connection (worth reconnecting), not a GraphQL error. */
export function isConnectionLoss(e: unknown): boolean {
  if (Array.isArray(e)) return false;
  const code = (e as { code?: number }).code;
  if (code === 4403 || code === 4401 || code === 4400) return false;
  return true;
}
