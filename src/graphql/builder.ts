import SchemaBuilder from "@pothos/core";
import ErrorsPlugin from "@pothos/plugin-errors";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import SimpleObjectsPlugin from "@pothos/plugin-simple-objects";
import ZodPlugin from "@pothos/plugin-zod";
import type PrismaTypes from "../generated/prisma/pothos-types";
import { getDatamodel } from "../generated/prisma/pothos-types";
import { type Context } from "./context";
import { hasRole } from "../auth/principal";

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: { viewer: boolean; operator: boolean; admin: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({
  // Scope auth wraps everything (reads); errors must wrap zod so validation failures come back as data.
  plugins: [ScopeAuthPlugin, ErrorsPlugin, ZodPlugin, PrismaPlugin, RelayPlugin, SimpleObjectsPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => ({
      viewer: hasRole(ctx.principal, "viewer"),
      operator: hasRole(ctx.principal, "operator"),
      admin: hasRole(ctx.principal, "admin"),
    }),
  },
  errors: { defaultTypes: [], directResult: true, unsafelyHandleInputErrors: true },
  zod: { validationError: (error) => error },
  prisma: {
    client: (ctx) => ctx.app.db,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
  },
});

builder.queryType({ authScopes: { viewer: true } });
builder.mutationType({});
builder.subscriptionType({ authScopes: { viewer: true } });
