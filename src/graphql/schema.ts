import { lexicographicSortSchema, printSchema } from "graphql";
import { builder } from "./builder";
// One module per entity, each holding its type with the queries, mutations and subscription about it.
import "./scalars";
import "./errors";
import "./enums";
import "./resync";
import "./run/run";
import "./run/status";
import "./run/history";
import "./run/lifecycle";
import "./run/events";
import "./run/ops";
import "./sprite/sprite";
import "./sprite/register";
import "./sprite/manage";
import "./intent";
import "./fleet";
import "./audit";
import "./intervention/intervention";
import "./intervention/ack";
import "./alerts";
import "./retention";
import "./policy/policy";
import "./policy/candidates";

export const schema = builder.toSchema();

export function printedSchema(): string {
  return printSchema(lexicographicSortSchema(schema)) + "\n";
}
