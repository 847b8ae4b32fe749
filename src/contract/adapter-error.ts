// Every failure the agent's readers report has a stable code (machine-readable, used by the manager to decide
// fail-closed behaviour) and an actionable message (for the operator reading it).

export const ADAPTER_ERROR_CODES = [
  "invalid_request",
  "invalid_loop_id",
  "artifact_root_missing",
  "events_missing",
  "invalid_json",
  "invalid_artifact",
  "invalid_event",
  "invalid_utf8",
  "line_too_long",
  "cursor_beyond_end",
  "cursor_fork",
  "unsupported_intent",
  "no_active_run",
  "control_failed",
  "control_timeout",
  "idempotency_key_conflict",
  "io_error",
  "internal_error",
  /** Client side of the agent protocol: the agent refused the token. */
  "unauthorized",
  /** Client side of the agent protocol: an answer that is not one of the codes above. */
  "remote_error",
] as const;

export type AdapterErrorCode = (typeof ADAPTER_ERROR_CODES)[number];

export class AdapterError extends Error {
  readonly code: AdapterErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: AdapterErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "AdapterError";
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: AdapterErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isAdapterError(value: unknown): value is AdapterError {
  return value instanceof AdapterError;
}

/** HTTP status the agent answers with for each code (the CLI maps everything to exit code 1). */
export function httpStatusFor(code: AdapterErrorCode): number {
  switch (code) {
    case "invalid_request":
    case "invalid_loop_id":
    case "unsupported_intent":
      return 400;
    case "artifact_root_missing":
    case "events_missing":
      return 404;
    case "cursor_fork":
    case "cursor_beyond_end":
    case "no_active_run":
    case "idempotency_key_conflict":
      return 409;
    case "invalid_json":
    case "invalid_artifact":
    case "invalid_event":
    case "invalid_utf8":
    case "line_too_long":
      return 422;
    case "control_timeout":
      return 504;
    case "unauthorized":
      return 401;
    case "remote_error":
      return 502;
    case "control_failed":
    case "io_error":
    case "internal_error":
      return 500;
  }
}

/** Like httpStatusFor, for a code that arrived as a plain string (e.g. a stored control result). */
export function httpStatusForCode(code: string | undefined): number {
  return code !== undefined && (ADAPTER_ERROR_CODES as readonly string[]).includes(code) ? httpStatusFor(code as AdapterErrorCode) : 500;
}

/** Node's errno code of a failed fs/child_process call, if any. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = error.code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * JSON.parse's complaint without the text it quotes: V8 repeats the start of the input ("root:x:0:0:..." is
 * not valid JSON), and the input may be a file a symlink pointed at. Only where it failed is kept.
 */
export function jsonErrorReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/Unexpected end of JSON input/.test(message)) return "unexpected end of input";
  const at = /position (\d+)/.exec(message);
  return at ? `not valid JSON (at position ${at[1]})` : "not valid JSON";
}
