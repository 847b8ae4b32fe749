import type { ControlIntent } from "./generated/prisma/client";
import type { LifecycleState } from "./lifecycle/types";

// Domain failures: refusals a caller can act on (not found, a taken name, a bad input, a missing role, a refused
// control request, a policy candidate no longer open). They are thrown by the services (src/registry,
// src/control) and by resolvers; the GraphQL layer returns each as a member of the field's result union
// (src/graphql/errors.ts, src/graphql/intent.ts, src/graphql/policy/), never as a masked error.

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

/** A refused control request: the refusal is stored as a REJECTED intent too (audit), carried here as `intent`. */
export class ControlRefusedError extends DomainError {
  constructor(
    message: string,
    readonly intent: ControlIntent | null,
    readonly state: LifecycleState | null,
    readonly stateReason: string | null,
  ) {
    super(message);
  }
}
/** The run is not in a state where the intent makes sense (or one of its kind is in flight). */
export class PreconditionFailedError extends ControlRefusedError {}
/** Divergence or a cursor fork is open: control is frozen until an operator resolves it. */
export class ControlFrozenError extends ControlRefusedError {}
/** Passive mode: control is disabled for the manager or the Sprite. */
export class ControlDisabledError extends ControlRefusedError {}

/** A policy candidate that was executed, suppressed or has ended cannot be executed or suppressed again. */
export class CandidateNotOpenError extends DomainError {
  constructor(
    readonly candidateId: string,
    readonly status: string,
  ) {
    super(`candidate ${candidateId} is ${status}, not open: it was executed, suppressed or has ended`);
  }
}

/**
 * syncRun could not poll the run in time: no replica took its lease (each at its share), or its holder did not
 * poll it. The run as stored would be stale, so it is not returned as if it were fresh.
 */
export class RunNotPolledError extends DomainError {
  constructor(
    readonly waitedMs: number,
    reason: string,
  ) {
    super(`the run was not polled within ${waitedMs} ms: ${reason}; try again`);
  }
}
