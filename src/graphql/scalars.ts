import { Kind, type ValueNode } from "graphql";
import { createGraphQLError } from "graphql-yoga";
import { builder } from "./builder";

builder.scalarType("DateTime", {
  description: "An ISO-8601 timestamp",
  serialize: (d) => (d instanceof Date ? d.toISOString() : new Date(String(d)).toISOString()),
  parseValue: (v) => {
    const d = new Date(String(v));
    if (Number.isNaN(d.getTime())) throw createGraphQLError(`invalid DateTime: ${String(v)}`);
    return d;
  },
});

function literal(node: ValueNode): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map(literal);
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literal(f.value)]));
    default:
      throw createGraphQLError("variables are not supported inside JSON literals");
  }
}

builder.scalarType("JSON", {
  description: "Arbitrary JSON (runtime payloads are passed through as the runtime wrote them)",
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: literal,
});
