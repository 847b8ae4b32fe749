import { createHash } from "node:crypto";
import { constants, promises as fsp, type Stats } from "node:fs";
import path from "node:path";
import type { FileHandle } from "node:fs/promises";
import { AdapterError, errnoCode, errorMessage } from "../src/contract";
import { MAX_LINE_BYTES, READ_CHUNK_BYTES } from "./limits";

const NEWLINE = 0x0a;
const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** stat() that maps "does not exist" to null instead of throwing. */
export async function statOrNull(filePath: string): Promise<Stats | null> {
  try {
    return await fsp.stat(filePath);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new AdapterError("io_error", `cannot stat ${filePath}: ${errorMessage(error)}`, { path: filePath });
  }
}

/** open() for reading that maps "does not exist" to null (O_NONBLOCK: a FIFO never blocks the open). */
export async function openOrNull(filePath: string): Promise<FileHandle | null> {
  try {
    return await fsp.open(filePath, ARTIFACT_OPEN_FLAGS);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new AdapterError("io_error", `cannot open ${filePath}: ${errorMessage(error)}`, { path: filePath });
  }
}

/**
 * O_NONBLOCK: opening a FIFO for reading returns at once instead of parking a libuv thread until a writer
 * appears (four such opens freeze every file operation of the process). Regular files ignore the flag.
 */
const ARTIFACT_OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

function inside(root: string, real: string): boolean {
  return real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** Where an open handle really points (Linux: /proc/self/fd); the path's realpath elsewhere. */
async function realPathOf(fh: FileHandle, filePath: string): Promise<string> {
  try {
    return await fsp.readlink(`/proc/self/fd/${fh.fd}`);
  } catch {
    return fsp.realpath(filePath);
  }
}

/**
 * Opens a run artifact for reading, or null when it does not exist. Refuses (invalid_artifact, without
 * echoing where a link points or what it holds) anything but a regular file, and any path that resolves
 * outside the repository: a symlink to /etc/shadow or a FIFO is the runtime's files gone wrong, never data.
 * `label` is the path as shown in errors (relative to the repository).
 */
export async function openArtifact(filePath: string, repoRoot: string, label: string = path.relative(repoRoot, filePath)): Promise<FileHandle | null> {
  let root: string;
  try {
    root = await fsp.realpath(repoRoot);
  } catch {
    root = path.resolve(repoRoot);
  }
  // Checked before opening (a device outside the repo is never opened) and again on the handle (a swap between).
  try {
    const real = await fsp.realpath(filePath);
    if (!inside(root, real)) throw new AdapterError("invalid_artifact", `${label} resolves outside the repository; refusing to read it`, { path: label });
  } catch (error) {
    if (error instanceof AdapterError) throw error;
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    if (code === "ELOOP") throw new AdapterError("invalid_artifact", `${label} is a symlink loop`, { path: label });
    throw new AdapterError("io_error", `cannot resolve ${label}: ${code ?? "error"}`, { path: label });
  }
  let fh: FileHandle;
  try {
    fh = await fsp.open(filePath, ARTIFACT_OPEN_FLAGS);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new AdapterError("io_error", `cannot open ${label}: ${code ?? errorMessage(error)}`, { path: label });
  }
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) {
      const kind = stat.isFIFO() ? "a FIFO" : stat.isCharacterDevice() || stat.isBlockDevice() ? "a device" : stat.isSocket() ? "a socket" : stat.isDirectory() ? "a directory" : "not a regular file";
      throw new AdapterError("invalid_artifact", `${label} is ${kind}, not a regular file; refusing to read it`, { path: label });
    }
    if (!inside(root, await realPathOf(fh, filePath))) {
      throw new AdapterError("invalid_artifact", `${label} resolves outside the repository; refusing to read it`, { path: label });
    }
    return fh;
  } catch (error) {
    await fh.close().catch(() => {});
    throw error;
  }
}

/** Reads exactly `length` bytes at `position`, or fewer when the file ended earlier (e.g. truncated meanwhile). */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await fh.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    return null;
  }
}

export type LineBeforeResult = { kind: "line"; start: number; bytes: Buffer } | { kind: "too_long"; scannedFrom: number } | { kind: "short_read" };

/**
 * Returns the line that ends with the newline at `newlinePos` (exclusive of that newline), reading backwards
 * at most MAX_LINE_BYTES: the cost depends on that line's length, never on the file's.
 */
export async function readLineEndingAt(fh: FileHandle, newlinePos: number): Promise<LineBeforeResult> {
  const end = newlinePos; // exclusive end of the line's bytes
  let start = end;
  const chunks: Buffer[] = [];
  while (start > 0) {
    const chunkStart = Math.max(0, start - READ_CHUNK_BYTES);
    const chunk = await readAt(fh, chunkStart, start - chunkStart);
    if (chunk.length !== start - chunkStart) return { kind: "short_read" };
    const nl = chunk.lastIndexOf(NEWLINE);
    if (nl >= 0) {
      chunks.unshift(chunk.subarray(nl + 1));
      start = chunkStart + nl + 1;
      break;
    }
    chunks.unshift(chunk);
    start = chunkStart;
    if (end - start > MAX_LINE_BYTES) return { kind: "too_long", scannedFrom: start };
  }
  if (end - start > MAX_LINE_BYTES) return { kind: "too_long", scannedFrom: start };
  return { kind: "line", start, bytes: Buffer.concat(chunks) };
}

export interface WholeFileScan {
  size: number;
  sha256: string;
  newlineCount: number;
  /** Position of the last "\n" (the end of the last complete line), -1 if none. */
  lastNewlinePos: number;
}

/** One streaming pass over the first `size` bytes: hash and newline count, constant memory. */
export async function scanWholeFile(fh: FileHandle, size: number): Promise<WholeFileScan> {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(size, 1024 * 1024)));
  let position = 0;
  let newlineCount = 0;
  let lastNewlinePos = -1;
  while (position < size) {
    const want = Math.min(buffer.length, size - position);
    const { bytesRead } = await fh.read(buffer, 0, want, position);
    if (bytesRead === 0) break;
    const chunk = buffer.subarray(0, bytesRead);
    hash.update(chunk);
    let index = chunk.indexOf(NEWLINE);
    while (index !== -1) {
      newlineCount += 1;
      lastNewlinePos = position + index;
      index = chunk.indexOf(NEWLINE, index + 1);
    }
    position += bytesRead;
  }
  return { size: position, sha256: hash.digest("hex"), newlineCount, lastNewlinePos };
}

/**
 * Finds the byte offset just after the `line`-th newline (for clients that only send a line number).
 * Returns null when the file has fewer complete lines. Linear in the prefix: old clients only.
 */
export async function byteOffsetOfLine(fh: FileHandle, size: number, line: number): Promise<number | null> {
  if (line === 0) return 0;
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  let position = 0;
  let seen = 0;
  while (position < size) {
    const want = Math.min(buffer.length, size - position);
    const { bytesRead } = await fh.read(buffer, 0, want, position);
    if (bytesRead === 0) break;
    const chunk = buffer.subarray(0, bytesRead);
    let index = chunk.indexOf(NEWLINE);
    while (index !== -1) {
      seen += 1;
      if (seen === line) return position + index + 1;
      index = chunk.indexOf(NEWLINE, index + 1);
    }
    position += bytesRead;
  }
  return null;
}

/** Counts newlines in [from, size), reading at most `budget` bytes; `exact` is false if the budget ran out. */
export async function countNewlines(fh: FileHandle, from: number, size: number, budget: number): Promise<{ count: number; exact: boolean; lastNewlinePos: number }> {
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES * 4);
  let position = from;
  let count = 0;
  let lastNewlinePos = -1;
  const limit = Math.min(size, from + budget);
  while (position < limit) {
    const want = Math.min(buffer.length, limit - position);
    const { bytesRead } = await fh.read(buffer, 0, want, position);
    if (bytesRead === 0) return { count, exact: true, lastNewlinePos };
    const chunk = buffer.subarray(0, bytesRead);
    let index = chunk.indexOf(NEWLINE);
    while (index !== -1) {
      count += 1;
      lastNewlinePos = position + index;
      index = chunk.indexOf(NEWLINE, index + 1);
    }
    position += bytesRead;
  }
  return { count, exact: position >= size, lastNewlinePos };
}

export { NEWLINE };
