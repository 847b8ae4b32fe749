import { ZodError } from "zod";
import { DomainError, DuplicateNameError, InvalidInputError, NotFoundError, RunNotPolledError, UnauthorizedError } from "../errors";
import { builder } from "./builder";

// Domain failures are data: each class (src/errors.ts) thrown by a resolver or a service is caught by the errors
// plugin, which returns it as a member of the field's result union. Anything else is masked by Yoga.

export const ErrorInterface = builder.interfaceRef<Error>("Error").implement({
  fields: (t) => ({ message: t.exposeString("message") }),
});

builder.objectType(DomainError, { name: "BaseError", interfaces: [ErrorInterface], isTypeOf: (e) => e instanceof DomainError && e.constructor === DomainError });

export const NotFoundRef = builder.objectType(NotFoundError, {
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

builder.objectType(RunNotPolledError, {
  name: "RunNotPolled",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof RunNotPolledError,
  fields: (t) => ({ waitedMs: t.exposeInt("waitedMs") }),
});

interface FieldIssue {
  path: string[];
  message: string;
}
const FieldIssueRef = builder.objectRef<FieldIssue>("ValidationIssue").implement({
  fields: (t) => ({
    path: t.exposeStringList("path", { description: 'The argument path, e.g. ["input", "loopId"]' }),
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
