import { getOperationAST, type DocumentNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import { graphqlOperationSeconds } from "./metrics";

// GraphQL query/mutation durations by operation type and name. Names are the client's choice: anything that
// is not a plain identifier is counted as "anonymous" so a client cannot mint unbounded label values.
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function graphqlMetrics(): Plugin {
  return {
    onExecute({ args }) {
      const t0 = performance.now();
      const op = getOperationAST(args.document as DocumentNode, (args.operationName as string | null | undefined) ?? undefined);
      const name = op?.name?.value;
      const labels = { type: op?.operation ?? "unknown", operation: name && NAME.test(name) ? name : "anonymous" };
      return {
        onExecuteDone() {
          graphqlOperationSeconds.observe(labels, (performance.now() - t0) / 1000);
        },
      };
    },
  };
}
