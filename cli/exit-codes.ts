// Exit codes of opsctl: distinct per failure class so that scripts can branch on them without parsing text.
// 64, 69 and 77 are sysexits.h's EX_USAGE, EX_UNAVAILABLE and EX_NOPERM.

export const EXIT = {
  ok: 0,
  /** the operation was tried and failed (intent FAILED, server error) */
  failed: 1,
  /** refused before acting: precondition, policy, control disabled or frozen, duplicate */
  refused: 2,
  /** no such run, Sprite or intent */
  notFound: 3,
  /** the outcome is unknown: intent AMBIGUOUS, or --wait / wait gave up at its timeout */
  ambiguous: 4,
  /** bad command line (or arguments the server found invalid) */
  usage: 64,
  /** the server could not be reached */
  unavailable: 69,
  /** no token, a wrong token, or a role without the right */
  unauthorized: 77,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_DOC: readonly (readonly [ExitCode, string])[] = [
  [EXIT.ok, "ok (intent CONFIRMED, or accepted when not waiting)"],
  [EXIT.failed, "operation failed (intent FAILED, server error)"],
  [EXIT.refused, "refused: precondition, policy, control disabled/frozen, duplicate"],
  [EXIT.notFound, "not found: run, Sprite or intent"],
  [EXIT.ambiguous, "ambiguous: intent AMBIGUOUS, or --wait/wait timed out"],
  [EXIT.usage, "usage: bad command line or invalid arguments"],
  [EXIT.unavailable, "server unreachable"],
  [EXIT.unauthorized, "unauthorized: missing/invalid token or insufficient role"],
];

/** A failure with the exit code it maps to; `kind` is the machine-readable class printed under -o json. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: ExitCode,
    readonly kind: string = kindOf(code),
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function kindOf(code: ExitCode): string {
  switch (code) {
    case EXIT.refused:
      return "Refused";
    case EXIT.notFound:
      return "NotFound";
    case EXIT.ambiguous:
      return "Ambiguous";
    case EXIT.usage:
      return "UsageError";
    case EXIT.unavailable:
      return "Unavailable";
    case EXIT.unauthorized:
      return "Unauthorized";
    default:
      return "Failed";
  }
}

/** The exit code for an error member of a mutation/query result union, by its GraphQL type name. */
export function exitForTypename(typename: string): ExitCode {
  switch (typename) {
    case "NotFound":
      return EXIT.notFound;
    case "PreconditionFailed":
    case "ControlDisabled":
    case "ControlFrozen":
    case "PolicyViolation":
    case "DuplicateName":
      return EXIT.refused;
    case "Unauthorized":
      return EXIT.unauthorized;
    case "ValidationError":
    case "InvalidInput":
      return EXIT.usage;
    default:
      return EXIT.failed;
  }
}

/** The exit code for an intent that stopped at `stage`; `waited`: an open stage at the end of a wait proves nothing. */
export function exitForStage(stage: string, waited: boolean): ExitCode {
  switch (stage) {
    case "CONFIRMED":
      return EXIT.ok;
    case "AMBIGUOUS":
      return EXIT.ambiguous;
    case "REJECTED":
      return EXIT.refused;
    case "FAILED":
      return EXIT.failed;
    default:
      return waited ? EXIT.ambiguous : EXIT.ok;
  }
}

/** Several per-run outcomes as one exit code: all ok → 0, all the same failure → that code, mixed → 1. */
export function combineExits(codes: readonly ExitCode[]): ExitCode {
  const failures = codes.filter((c) => c !== EXIT.ok);
  if (failures.length === 0) return EXIT.ok;
  return failures.every((c) => c === failures[0]) ? failures[0] : EXIT.failed;
}
