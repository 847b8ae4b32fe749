import { execFileSync } from "node:child_process";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../..");
/** Recordings of the real runtime and the v1 contract's JSON Schema with its examples (test/fixtures/). */
export const fixturesRoot = path.join(repoRoot, "test/fixtures/recordings");
export const contractRoot = path.join(repoRoot, "test/fixtures/ops-contract-v1");
export const LOOP = "demo-loop";
export const RECORDINGS = ["approval", "approved", "approved-complete", "rejected", "complete", "maxiter", "failure"] as const;
export type Recording = (typeof RECORDINGS)[number];

const tempDirs: string[] = [];

export async function makeTempDir(prefix = "adapters-"): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export async function cleanupTempDirs(): Promise<void> {
  await Promise.all(tempDirs.splice(0).map((dir) => fsp.rm(dir, { recursive: true, force: true })));
}

/** Copies one recording into a fresh writable temp repo (the recordings themselves are never written). */
export async function copyRecording(name: Recording): Promise<string> {
  const repo = await makeTempDir(`repo-${name}-`);
  await fsp.cp(path.join(fixturesRoot, name), repo, { recursive: true });
  execFileSync("chmod", ["-R", "u+w", repo]);
  return repo;
}

export function eventsPath(repo: string, loop = LOOP): string {
  return path.join(repo, ".superloop/loops", loop, "events.jsonl");
}

export async function readLines(file: string): Promise<string[]> {
  const text = await fsp.readFile(file, "utf8");
  return text.split("\n").slice(0, -1);
}

export function eventLine(fields: Record<string, unknown>): string {
  return JSON.stringify({
    timestamp: "2026-11-24T07:00:00Z",
    event: "role_start",
    loop_id: LOOP,
    run_id: "run-test",
    iteration: 1,
    ...fields,
  });
}

type Validator = ((data: unknown) => boolean) & { errors?: unknown };

let validator: Validator | undefined;

/**
 * The reference JSON Schema (draft 2020-12), relaxed only where real runtime files differ from it:
 * `gates` may carry extra keys (e.g. `lifecycle`).
 */
export async function contractValidator(): Promise<Validator> {
  if (validator !== undefined) return validator;
  const schema = JSON.parse(await fsp.readFile(path.join(contractRoot, "ops-manager.contract.schema.json"), "utf8")) as {
    $defs: { gates: { additionalProperties: boolean } };
  };
  schema.$defs.gates.additionalProperties = true;
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  validator = ajv.compile(schema) as Validator;
  return validator;
}

export async function expectValidEnvelope(value: unknown): Promise<void> {
  const validate = await contractValidator();
  if (!validate(value)) {
    throw new Error(`envelope does not match the v1 JSON Schema: ${JSON.stringify(validate.errors, null, 2)}`);
  }
}

export { spawnFakeRun } from "../support/fake-run";
