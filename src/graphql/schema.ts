import { lexicographicSortSchema, printSchema } from "graphql";
import { builder } from "./builder";
import "./scalars";
import "./errors";
import "./types/enums";
import "./types/sprite";
import "./types/event";
import "./types/run";
import "./types/lifecycle-change";
import "./types/transition";
import "./types/intervention";
import "./types/fleet";
import "./mutations/register-sprite";
import "./mutations/sprites";
import "./mutations/run-ops";
import "./types/intent";
import "./types/run-history";
import "./mutations/control";
import "./mutations/intervention-ack";
import "./queries/audit";
import "./types/alerts";
import "./types/retention";
import "./subscriptions/intent";
import "./subscriptions/run-lifecycle";
import "./subscriptions/run-events";
import "./types/policy";
import "./mutations/policy";
import "./subscriptions/policy";

export const schema = builder.toSchema();

export function printedSchema(): string {
  return printSchema(lexicographicSortSchema(schema)) + "\n";
}
