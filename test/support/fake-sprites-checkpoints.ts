import { cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import type http from "node:http";
import path from "node:path";

// The fake Sprites API's checkpoints (docs/sprites.md): `POST /v1/sprites/{name}/checkpoint` snapshots the
// Sprite's files, `GET .../checkpoints` lists them, `GET .../checkpoints/{id}` shows one, and
// `POST .../checkpoints/{id}/restore` rewinds the files to it (running processes stop, the Sprite boots anew).
// Create and restore answer NDJSON progress (`{type: info|complete|error, data|error, time}`); list entries are
// `{id, create_time, source_id?, comment?}` as the API reference documents. The list also carries the entry
// the SDK calls "Current" (the live filesystem): its `source_id` is the checkpoint it derives from and its
// `create_time` when it began, i.e. the last creation or restore; after a restore its source is older than
// itself, after a creation they are the same moment.

export interface FakeCheckpoint {
  id: string;
  createTime: string;
  sourceId: string | null;
  comment: string | null;
  dir: string;
}

export interface CheckpointState {
  list: FakeCheckpoint[];
  current: { createTime: string; sourceId: string | null };
}

export function newCheckpointState(createdAt: string): CheckpointState {
  return { list: [], current: { createTime: createdAt, sourceId: null } };
}

interface Hooks {
  /** The Sprite's files (its temp directory). */
  dir: string;
  /** Where snapshots are kept. */
  store: string;
  state: CheckpointState;
  /** Restore: every process of the Sprite stops and it boots anew (new boot id), running. */
  reboot: () => void;
}

function ndjson(res: http.ServerResponse, lines: Record<string, unknown>[]): void {
  res.writeHead(200, { "content-type": "application/x-ndjson" });
  res.end(lines.map((l) => JSON.stringify({ ...l, time: new Date().toISOString() })).join("\n") + "\n");
}

function view(c: FakeCheckpoint): Record<string, unknown> {
  return { id: c.id, create_time: c.createTime, ...(c.sourceId ? { source_id: c.sourceId } : {}), ...(c.comment ? { comment: c.comment } : {}) };
}

function replaceContents(dir: string, from: string): void {
  for (const entry of readdirSync(dir)) rmSync(path.join(dir, entry), { recursive: true, force: true });
  cpSync(from, dir, { recursive: true });
}

/** Handles `/checkpoint`, `/checkpoints`, `/checkpoints/{id}`, `/checkpoints/{id}/restore`; false = not ours. */
export function handleCheckpoints(sub: string, method: string, body: Buffer, res: http.ServerResponse, h: Hooks): boolean {
  const send = (status: number, value: unknown) => {
    const text = JSON.stringify(value);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
  if (sub === "/checkpoint") {
    if (method !== "POST") return (send(405, { error: "method not allowed" }), true);
    let comment: string | null = null;
    try {
      const parsed = JSON.parse(body.toString("utf8") || "{}") as { comment?: unknown };
      if (typeof parsed.comment === "string") comment = parsed.comment;
    } catch {
      return (send(400, { error: "invalid JSON body" }), true);
    }
    const id = `v${h.state.list.length}`;
    const dir = path.join(h.store, id);
    mkdirSync(dir, { recursive: true });
    cpSync(h.dir, dir, { recursive: true });
    const createTime = new Date().toISOString();
    h.state.list.push({ id, createTime, sourceId: h.state.current.sourceId, comment, dir });
    h.state.current = { createTime, sourceId: id };
    ndjson(res, [
      { type: "info", data: "Creating checkpoint..." },
      { type: "complete", data: `Checkpoint ${id} created` },
    ]);
    return true;
  }
  const m = /^\/checkpoints(?:\/([^/]+)(\/restore)?)?$/.exec(sub);
  if (!m) return false;
  const id = m[1] ? decodeURIComponent(m[1]) : null;
  if (id === null) {
    if (method !== "GET") return (send(405, { error: "method not allowed" }), true);
    const current = { id: "Current", create_time: h.state.current.createTime, ...(h.state.current.sourceId ? { source_id: h.state.current.sourceId } : {}) };
    send(200, [current, ...[...h.state.list].reverse().map(view)]);
    return true;
  }
  const checkpoint = h.state.list.find((c) => c.id === id);
  if (!checkpoint) return (send(404, { error: "checkpoint not found" }), true);
  if (!m[2]) {
    if (method !== "GET") return (send(405, { error: "method not allowed" }), true);
    send(200, view(checkpoint));
    return true;
  }
  if (method !== "POST") return (send(405, { error: "method not allowed" }), true);
  h.reboot();
  replaceContents(h.dir, checkpoint.dir);
  h.state.current = { createTime: new Date().toISOString(), sourceId: checkpoint.id };
  ndjson(res, [
    { type: "info", data: `Restoring ${checkpoint.id}...` },
    { type: "complete", data: `Restored ${checkpoint.id}` },
  ]);
  return true;
}
