import { DomainError } from "../errors";

/** A request that is well-formed but breaks a fleet policy (e.g. one loop run per Sprite). */
export class PolicyViolationError extends DomainError {
  constructor(
    readonly policy: string,
    message: string,
  ) {
    super(message);
  }
}
