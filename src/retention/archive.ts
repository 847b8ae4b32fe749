import { createHash } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { createGunzip, createGzip } from "node:zlib";
import type { App } from "../app";
import { OPEN_STAGES } from "../control/stages";
import type { Event } from "../generated/prisma/client";
import { InvalidInputError, NotFoundError } from "../errors";
import { originalLine } from "../events/stored-event";

// archiveRun: a finished run's events leave the database as the file they came from — events.jsonl, each stored
// line byte for byte, gzipped — under OPS_ARCHIVE_DIR/<sprite>/<loop>-<run id>.jsonl.gz. The file is written
// aside, read back and checked (sha256 of the uncompressed bytes), synced and renamed into place before the run
// records it; only then may retention prune the archived lines (the cursor's line stays, as always).
// A run whose first lines retention already pruned is archived from what is retained: lines
// eventsRetainedFrom..cursorLine, in <loop>-<run id>.from-<first line>.jsonl.gz, the first line recorded as
// `fromLine` (a whole history always starts at 1 and keeps the plain name). Pruned lines are gone from the
// database; an archive can only hold what is still there, and says so rather than refusing.

const PAGE = 5_000;

/** The original bytes of one stored line (without its newline): src/events/stored-event.ts knows how it is stored. */
export function originalLineOf(event: Event): string {
  return originalLine(event);
}

export interface RunArchive {
  file: string;
  /** The first line in the file: 1 for a whole history, eventsRetainedFrom when retention had pruned before. */
  fromLine: number;
  /** The last line in the file (the run's cursor line when archived); the file holds fromLine..lines. */
  lines: number;
  bytes: number;
  sha256: string;
  at: string;
  by: string;
}

export function archiveDir(app: Pick<App, "config">): string {
  return path.resolve(app.config.OPS_ARCHIVE_DIR ?? path.join(app.config.OPS_DATA_DIR, "archive"));
}

/** The archive a run records (Run.archive, JSON), or null. Archives written before fromLine existed start at 1. */
export function archiveOf(json: unknown): RunArchive | null {
  const a = json as Partial<RunArchive> | null;
  if (!a || typeof a.file !== "string" || typeof a.lines !== "number") return null;
  return { ...(a as RunArchive), fromLine: typeof a.fromLine === "number" ? a.fromLine : 1 };
}

const FINISHED = new Set(["COMPLETE", "STOPPED", "FAILED"]);

async function gunzipSha256(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(file).pipe(createGunzip())) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

export async function archiveRun(app: App, runId: string, by: string): Promise<RunArchive> {
  const run = await app.db.run.findUnique({ where: { id: runId }, include: { sprite: true, intents: { where: { stage: { in: [...OPEN_STAGES] } } } } });
  if (!run) throw new NotFoundError("Run", runId);
  if (!FINISHED.has(run.state)) throw new InvalidInputError("runId", `run ${runId} is ${run.state}: only a finished run (COMPLETE, STOPPED, FAILED) is archived`);
  if (run.ingestStatus !== "OK") throw new InvalidInputError("runId", `run ${runId} has ingest ${run.ingestStatus}: resolve it (resetRunCursor) before archiving`);
  if (run.intents.length) throw new InvalidInputError("runId", `run ${runId} has an open control intent: archive it once the intent ends`);
  if (run.cursorLine === 0) throw new InvalidInputError("runId", `run ${runId} has no events to archive`);
  const previous = archiveOf(run.archive);
  if (previous && previous.lines >= run.cursorLine) {
    throw new InvalidInputError("runId", `run ${runId} is already archived through line ${previous.lines} in ${previous.file}; nothing newer to archive`);
  }
  const through = run.cursorLine;
  const fromLine = run.eventsRetainedFrom;
  const dir = path.join(archiveDir(app), run.sprite.name);
  const file = path.join(dir, `${run.loopId}-${run.id}${fromLine > 1 ? `.from-${fromLine}` : ""}.jsonl.gz`);
  const tmp = `${file}.${process.pid}.partial`;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const hash = createHash("sha256");
  let bytes = 0;
  let lines = 0;
  const gzip = createGzip();
  const sink = createWriteStream(tmp, { mode: 0o600 });
  const done = new Promise<void>((resolve, reject) => {
    sink.on("finish", resolve).on("error", reject);
    gzip.on("error", reject);
  });
  gzip.pipe(sink);
  try {
    let after = fromLine - 1;
    while (after < through) {
      const page = await app.db.event.findMany({ where: { runId, line: { gt: after, lte: through } }, orderBy: { line: "asc" }, take: PAGE });
      // Retention ran meanwhile: the first lines are gone, so the file would not start where it says.
      if (after === fromLine - 1 && page[0]?.line !== fromLine) throw new InvalidInputError("runId", `run ${runId}: line ${fromLine} was pruned while archiving; archive it again`);
      if (!page.length) break;
      let text = "";
      for (const e of page) {
        // Lines are contiguous from fromLine; a hole means the history changed under us (a reset): refuse.
        if (e.line !== after + 1) throw new InvalidInputError("runId", `run ${runId} lacks line ${after + 1} (its events changed while archiving)`);
        text += `${originalLineOf(e)}\n`;
        after = e.line;
      }
      const chunk = Buffer.from(text, "utf8");
      hash.update(chunk);
      bytes += chunk.length;
      lines = after;
      if (!gzip.write(chunk)) await once(gzip, "drain");
    }
    if (lines !== through) throw new InvalidInputError("runId", `run ${runId}: found lines ${fromLine}-${lines} of ${fromLine}-${through}`);
    gzip.end();
    await done;
    const sha256 = hash.digest("hex");
    // Read back what is on disk before anything may be pruned on its strength.
    const check = await gunzipSha256(tmp);
    if (check.sha256 !== sha256 || check.bytes !== bytes) throw new Error(`archive ${tmp} does not read back as written`);
    const fh = await open(tmp, "r");
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
    const dh = await open(dir, "r");
    await dh.sync().catch(() => {});
    await dh.close();
    const archive: RunArchive = { file, fromLine, lines, bytes, sha256, at: new Date().toISOString(), by };
    await app.db.run.update({ where: { id: runId }, data: { archive: { ...archive } } });
    app.log.info("run archived", { runId, file, fromLine, lines, bytes, compressed: (await stat(file)).size });
    return archive;
  } catch (e) {
    gzip.destroy();
    sink.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
}
