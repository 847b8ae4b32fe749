import type { Source } from "graphql";
import type { Plugin } from "graphql-yoga";
import { refusal as unauthenticated } from "../auth/require-principal";
import type { TokenTable } from "../auth/tokens";
import type { Context } from "../graphql/context";
import { checkDocument, parseWithinLimits, type QueryLimits } from "./query-limits";

// The order that keeps an anonymous caller from costing anything: the body size is checked by Yoga from
// Content-Length (maxRequestBodySize) before the body is read; then the token, BEFORE the document is even
// parsed (so no unauthenticated parse, validation or field suggestion); then the token-bounded parse and the
// linear limits of ./query-limits.ts; only then Yoga's validation.

export function authenticateFirst(tokens: TokenTable): Plugin<Context> {
  return {
    onParams({ request, setResult }) {
      if (tokens.verify(request.headers.get("authorization")) === null) setResult({ errors: [unauthenticated()] });
    },
  };
}

/** Replaces Yoga's parse (HTTP, SSE and graphql-ws all parse through it) with the limited one. */
export function queryLimits(limits: QueryLimits): Plugin<Context> {
  return {
    onParse({ setParseFn }) {
      setParseFn((source: string | Source) => {
        const document = parseWithinLimits(typeof source === "string" ? source : source.body, limits);
        const problem = checkDocument(document, limits);
        if (problem) throw problem;
        return document;
      });
    },
  };
}
