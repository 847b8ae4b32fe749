import type { z } from "zod";
import { decodeUtf8 } from "../../agent/file-io";
import { AdapterError, summarizeIssues } from "../contract";

/** A JSON artifact read through fs/read, checked like the agent checks it: the same error codes for the same bytes. */
export function parseArtifact<S extends z.ZodType>(bytes: Buffer, relativePath: string, schema: S): z.infer<S> {
  const text = decodeUtf8(bytes);
  if (text === null) throw new AdapterError("invalid_utf8", `${relativePath} is not valid UTF-8`, { path: relativePath });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new AdapterError("invalid_json", `invalid JSON in ${relativePath}: ${(e as Error).message}; the runtime may be mid-write, retry, or inspect the file`, {
      path: relativePath,
    });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new AdapterError("invalid_artifact", `${relativePath} does not have the expected shape: ${summarizeIssues(result.error)}`, { path: relativePath });
  }
  return result.data;
}
