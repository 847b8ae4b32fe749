import { createRequire } from "node:module";
import { CliError, EXIT } from "./exit-codes";
import { jsonpath } from "./jsonpath";

// How results are printed: aligned tables for people (colour only on a terminal), json/jsonl/yaml/name/jsonpath
// for scripts. Lists are {kind, items} documents under json/yaml, one item per line under jsonl.

export type Format = { kind: "table" | "wide" | "json" | "jsonl" | "yaml" | "name" } | { kind: "jsonpath"; template: string };

export const FORMAT_NAMES = ["wide", "json", "jsonl", "yaml", "name", "jsonpath=TEMPLATE"] as const;

export function parseFormat(value: string | undefined): Format {
  if (value === undefined || value === "" || value === "table") return { kind: "table" };
  if (value === "wide" || value === "json" || value === "jsonl" || value === "yaml" || value === "name") return { kind: value };
  const m = /^jsonpath=(.+)$/s.exec(value);
  if (m) {
    jsonpath(m[1], {}); // fail early on a template that does not parse
    return { kind: "jsonpath", template: m[1] };
  }
  throw new CliError(`-o must be one of ${FORMAT_NAMES.join(", ")} (got ${value})`, EXIT.usage);
}

export type Colour = "red" | "green" | "yellow" | "dim" | "bold";
const ANSI: Record<Colour, [number, number]> = { red: [31, 39], green: [32, 39], yellow: [33, 39], dim: [2, 22], bold: [1, 22] };

export interface Printer {
  format: Format;
  noHeaders: boolean;
  colour: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
}

export function paint(p: Printer, colour: Colour | null, text: string): string {
  if (!p.colour || !colour) return text;
  const [on, off] = ANSI[colour];
  return `\u001b[${on}m${text}\u001b[${off}m`;
}

export interface Column<T> {
  header: string;
  get: (item: T) => string;
  /** only under -o wide */
  wide?: boolean;
  colour?: (item: T) => Colour | null;
}

/** Rows padded to the widest cell per column (measured before colouring); the last column is not padded. */
export function table<T>(p: Printer, columns: readonly Column<T>[], items: readonly T[]): string[] {
  const cols = columns.filter((c) => !c.wide || p.format.kind === "wide");
  const cells = items.map((it) => cols.map((c) => c.get(it).replace(/\s+/g, " ")));
  const widths = cols.map((c, i) => Math.max(p.noHeaders ? 0 : c.header.length, ...cells.map((r) => r[i].length)));
  const line = (row: string[], item: T | null) =>
    row
      .map((cell, i) => {
        const padded = i === row.length - 1 ? cell : cell.padEnd(widths[i]);
        const colour = item && cols[i].colour ? cols[i].colour(item) : null;
        return colour ? paint(p, colour, cell) + padded.slice(cell.length) : padded;
      })
      .join("   ")
      .trimEnd();
  const lines = items.map((it, r) => line(cells[r], it));
  return p.noHeaders
    ? lines
    : [
        line(
          cols.map((c) => c.header),
          null,
        ),
        ...lines,
      ];
}

export interface Printable<T> {
  kind: string;
  columns: readonly Column<T>[];
  /** the `-o name` form, e.g. run/<id>, accepted back as an argument */
  name: (item: T) => string;
  json: (item: T) => unknown;
}

export function printList<T>(p: Printer, spec: Printable<T>, items: readonly T[]): void {
  const f = p.format;
  switch (f.kind) {
    case "table":
    case "wide":
      if (items.length === 0) p.err(`No ${spec.kind.toLowerCase()}s found.`);
      else for (const l of table(p, spec.columns, items)) p.out(l);
      return;
    case "name":
      for (const it of items) p.out(spec.name(it));
      return;
    case "jsonl":
      for (const it of items) p.out(JSON.stringify(spec.json(it)));
      return;
    default:
      printDocument(p, { kind: `${spec.kind}List`, items: items.map(spec.json) });
  }
}

/** One document (a describe, a result): json/yaml/jsonpath print it; table/wide print the given text lines. */
export function printOne(p: Printer, doc: unknown, text: () => string[], name?: string): void {
  const f = p.format;
  if (f.kind === "table" || f.kind === "wide") for (const l of text()) p.out(l);
  else if (f.kind === "name" && name) p.out(name);
  else printDocument(p, doc);
}

export function printDocument(p: Printer, doc: unknown): void {
  const f = p.format;
  // loaded only for -o yaml (start-up time)
  if (f.kind === "yaml") p.out((createRequire(import.meta.url)("yaml") as typeof import("yaml")).stringify(doc).trimEnd());
  else if (f.kind === "jsonpath") p.out(jsonpath(f.template, doc));
  else if (f.kind === "jsonl") p.out(JSON.stringify(doc));
  else p.out(JSON.stringify(doc, null, 2));
}

/** True for the machine-readable formats (errors become JSON on stderr, progress is not printed). */
export function machine(p: Printer): boolean {
  return p.format.kind !== "table" && p.format.kind !== "wide";
}

/** kubectl-style age: 42s, 5m, 3h, 2d. */
export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "-";
  const s = Math.max(0, Math.floor((now - new Date(iso).getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

export function healthColour(status: string | undefined): Colour | null {
  return status === "CRITICAL" ? "red" : status === "DEGRADED" ? "yellow" : status === "HEALTHY" ? "green" : null;
}

export function stateColour(state: string | undefined): Colour | null {
  switch (state) {
    case "FAILED":
    case "UNKNOWN":
      return "red";
    case "AWAITING_APPROVAL":
    case "PAUSED":
      return "yellow";
    case "COMPLETE":
    case "RUNNING":
      return "green";
    default:
      return null;
  }
}

export function stageColour(stage: string | undefined): Colour | null {
  return stage === "CONFIRMED" ? "green" : stage === "FAILED" || stage === "REJECTED" ? "red" : stage === "AMBIGUOUS" ? "yellow" : null;
}
