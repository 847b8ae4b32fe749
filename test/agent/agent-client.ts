import { promises as fsp } from "node:fs";
import path from "node:path";
import { makeTempDir } from "./helpers";

export interface HttpResult {
  status: number;
  body: Record<string, unknown>;
  ms: number;
}

export async function call(base: string, pathAndQuery: string, init: { method?: string; headers?: Record<string, string>; body?: unknown; rawBody?: string } = {}): Promise<HttpResult> {
  const started = Date.now();
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.rawBody !== undefined) body = init.rawBody;
  else if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers["content-type"] = "application/json";
  }
  const response = await fetch(`${base}${pathAndQuery}`, { method: init.method ?? (body === undefined ? "GET" : "POST"), headers, body });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, ms: Date.now() - started };
}

/** A fake SUPERLOOP_BIN that records each argv as a JSON line; `FAIL` in the note makes it exit 1. */
export async function writeRecordingStub(): Promise<{ bin: string; calls: () => Promise<string[][]> }> {
  const dir = await makeTempDir("stub-");
  const bin = path.join(dir, "superloop.sh");
  const callsFile = path.join(dir, "calls.jsonl");
  await fsp.writeFile(
    bin,
    `#!/usr/bin/env node
const fs = require("node:fs");
fs.appendFileSync(${JSON.stringify(callsFile)}, JSON.stringify(process.argv.slice(2)) + "\\n");
const fail = process.argv.some((a) => a.includes("FAIL"));
const slow = process.argv.some((a) => a.includes("SLOW"));
if (fail) process.stderr.write("error: refused by stub\\n");
setTimeout(() => process.exit(fail ? 1 : 0), slow ? 300 : 0);
`,
    { mode: 0o755 },
  );
  return {
    bin,
    calls: async () => {
      const text = await fsp.readFile(callsFile, "utf8").catch(() => "");
      return text
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as string[]);
    },
  };
}
