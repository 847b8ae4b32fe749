import { createGraphQLError, type Plugin } from "graphql-yoga";
import type { Principal } from "./principal";

/** What this plugin reads of a request's context (the GraphQL context has it; auth/ does not depend on graphql/). */
interface WithPrincipal {
  principal: Principal | null;
}

// Every operation needs a principal when tokens are configured. Scope auth on Query covers reads, but a
// subscription's type-level scope is only checked when an event is resolved: over SSE an unauthenticated
// client would otherwise hold a stream open (and learn when things change). This refuses the operation before
// it executes or subscribes, the same for HTTP, SSE and graphql-ws (which also refuses at connection_init).

export const refusal = () => createGraphQLError("authentication required: send Authorization: Bearer <token>", { extensions: { code: "UNAUTHENTICATED", http: { status: 401 } } });

export function requirePrincipal(): Plugin<WithPrincipal> {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if ((args.contextValue as WithPrincipal).principal === null) setResultAndStopExecution({ errors: [refusal()] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      if ((args.contextValue as WithPrincipal).principal === null) setResultAndStopExecution({ errors: [refusal()] });
    },
  };
}
