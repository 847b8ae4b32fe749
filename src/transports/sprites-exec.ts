// The Sprites API's non-interactive exec protocol (POST /v1/sprites/{name}/exec): the answer is a stream of
// frames, one per HTTP chunk, each a type byte then the payload. Pure: the fake API encodes with these, the
// client decodes with these, so both sides agree by construction.

export const FRAME_STDOUT = 0x01;
export const FRAME_STDERR = 0x02;
export const FRAME_EXIT = 0x03;

export interface ExecOutcome {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

export function encodeFrame(type: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(payload.length + 1);
  frame[0] = type;
  frame.set(payload, 1);
  return frame;
}

export class ExecProtocolError extends Error {}

/** Frames → outcome. A stream without an exit frame is an error (the command's fate is unknown). */
export function decodeFrames(chunks: readonly Buffer[]): ExecOutcome {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let exitCode: number | null = null;
  for (const chunk of chunks) {
    if (chunk.length === 0) continue;
    const type = chunk[0];
    const payload = chunk.subarray(1);
    if (exitCode !== null) throw new ExecProtocolError("exec frame after the exit frame");
    if (type === FRAME_STDOUT) stdout.push(payload);
    else if (type === FRAME_STDERR) stderr.push(payload);
    else if (type === FRAME_EXIT) {
      if (payload.length !== 1) throw new ExecProtocolError(`exit frame with ${payload.length} payload bytes, expected 1`);
      exitCode = payload[0]!;
    } else throw new ExecProtocolError(`unknown exec frame type 0x${(type ?? 0).toString(16).padStart(2, "0")}`);
  }
  if (exitCode === null) throw new ExecProtocolError("exec answer ended without an exit frame");
  return { exitCode, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
}

/** Query string for an argv: `cmd` repeated per argument, `path` = the program, optional working dir. */
export function execQuery(argv: readonly string[], dir?: string): string {
  const params = new URLSearchParams();
  for (const arg of argv) params.append("cmd", arg);
  params.set("path", argv[0] ?? "");
  if (dir !== undefined) params.set("dir", dir);
  return params.toString();
}
