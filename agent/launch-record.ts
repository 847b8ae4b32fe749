import { promises as fsp } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { readJsonArtifact } from "./artifacts";
import type { LoopPaths } from "./paths";

// The process a `start` launched, written the moment it is spawned. The runtime writes active-run.json only
// ~1 s later (after its own checks): in that window the launch record is the only way to find the run, so a
// cancel can still reach it and the liveness check can still see it (docs/runtime.md, cancel's startup race).

export const LaunchRecordSchema = z.looseObject({
  pid: z.number().int().positive(),
  pgid: z.number().int().positive(),
  argv: z.array(z.string()),
  startedAt: z.string(),
});
export type LaunchRecord = z.infer<typeof LaunchRecordSchema>;

export function launchRecordPath(paths: LoopPaths): string {
  return path.join(paths.superloopDir, "ops-agent", `launched-${paths.loopId}.json`);
}

export async function writeLaunchRecord(paths: LoopPaths, record: LaunchRecord): Promise<void> {
  const file = launchRecordPath(paths);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, `${JSON.stringify(record)}\n`);
  await fsp.rename(tmp, file);
}

/** null when there is none or it cannot be read: a launch record is a hint, never a reason to fail a poll. */
export async function readLaunchRecord(paths: LoopPaths): Promise<LaunchRecord | null> {
  try {
    return (await readJsonArtifact(launchRecordPath(paths), `.superloop/ops-agent/launched-${paths.loopId}.json`, LaunchRecordSchema)).value;
  } catch {
    return null;
  }
}
