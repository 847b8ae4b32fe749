// The artifacts the simulator reads back from `.superloop/`, checked by small type guards rather than zod: the
// simulator is spawned like a CLI, hundreds of times per test run, and loading zod would add about half again to
// each start (timing-sensitive tests launch it in a Sprite that goes warm 1.2 s after the launch). A file that is
// not a JSON object, or a summary whose entries are not objects, reads as absent, as a missing one does.

export type JsonObject = Record<string, unknown>;

export const isJsonObject = (value: unknown): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value);

/** `value[key]` when value is a JSON object, else undefined (what optional chaining on parsed JSON gives). */
export function field(value: unknown, key: string): unknown {
  return isJsonObject(value) ? value[key] : undefined;
}

export interface SummaryEntry extends JsonObject {
  gates?: JsonObject;
}

export interface RunSummaryFile extends JsonObject {
  entries: SummaryEntry[];
}

export function isRunSummary(value: JsonObject): value is RunSummaryFile {
  return Array.isArray(value.entries) && value.entries.every((e) => isJsonObject(e) && (e.gates === undefined || isJsonObject(e.gates)));
}
