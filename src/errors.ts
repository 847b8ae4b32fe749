// Domain failures: refusals a caller can act on (not found, a taken name, a bad input, a missing role). They
// are thrown by the services (src/registry, src/control) and by resolvers; the GraphQL layer returns each as a
// member of the field's result union (src/graphql/errors.ts), never as a masked error.

export class DomainError extends Error {}
export class NotFoundError extends DomainError {
  constructor(
    readonly entity: string,
    readonly id: string,
  ) {
    super(`${entity} ${id} not found`);
  }
}
export class DuplicateNameError extends DomainError {
  constructor(
    readonly field: string,
    readonly value: string,
  ) {
    super(`${field} "${value}" is already taken`);
  }
}
export class InvalidInputError extends DomainError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
export class UnauthorizedError extends DomainError {
  constructor(readonly requiredRole: string) {
    super(`this action needs the ${requiredRole} role`);
  }
}
