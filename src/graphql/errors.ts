import { ZodError } from "zod";
import { builder } from "./builder";

// Domain failures are data: each is a class thrown by a resolver and caught by the errors plugin, which
// returns it as a member of the field's result union. Anything else is masked by Yoga.

export class DomainError extends Error {}
export class NotFoundError extends DomainError {
  constructor(readonly entity: string, readonly id: string) {
    super(`${entity} ${id} not found`);
  }
}
export class DuplicateNameError extends DomainError {
  constructor(readonly field: string, readonly value: string) {
    super(`${field} "${value}" is already taken`);
  }
}
export class InvalidInputError extends DomainError {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}
export class UnauthorizedError extends DomainError {
  constructor(readonly requiredRole: string) {
    super(`this action needs the ${requiredRole} role`);
  }
}

export const ErrorInterface = builder.interfaceRef<Error>("Error").implement({
  fields: (t) => ({ message: t.exposeString("message") }),
});

builder.objectType(DomainError, { name: "BaseError", interfaces: [ErrorInterface], isTypeOf: (e) => e instanceof DomainError && e.constructor === DomainError });

builder.objectType(NotFoundError, {
  name: "NotFound",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof NotFoundError,
  fields: (t) => ({ entity: t.exposeString("entity"), id: t.exposeString("id") }),
});

builder.objectType(DuplicateNameError, {
  name: "DuplicateName",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof DuplicateNameError,
  fields: (t) => ({ field: t.exposeString("field"), value: t.exposeString("value") }),
});

builder.objectType(InvalidInputError, {
  name: "InvalidInput",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof InvalidInputError,
  fields: (t) => ({ field: t.exposeString("field") }),
});

builder.objectType(UnauthorizedError, {
  name: "Unauthorized",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof UnauthorizedError,
  fields: (t) => ({ requiredRole: t.exposeString("requiredRole") }),
});

interface FieldIssue {
  path: string[];
  message: string;
}
const FieldIssueRef = builder.objectRef<FieldIssue>("ValidationIssue").implement({
  fields: (t) => ({
    path: t.exposeStringList("path", { description: "The argument path, e.g. [\"input\", \"loopId\"]" }),
    message: t.exposeString("message"),
  }),
});

builder.objectType(ZodError, {
  name: "ValidationError",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof ZodError,
  fields: (t) => ({
    message: t.string({
      resolve: (e) => e.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
    }),
    issues: t.field({
      type: [FieldIssueRef],
      resolve: (e) => e.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
    }),
  }),
});
