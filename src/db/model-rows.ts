import pg from "pg";
import { getDatamodel } from "../generated/prisma/pothos-types";

// Rows of a Prisma model read with plain SQL on the driver's pool, in the shape Prisma's client returns them
// (the API's hot reads: a Prisma query costs 1–3 ms of query compilation per call, more than the database takes,
// see bench:query). The column list comes from the generated datamodel, so a column added to the schema is read
// here too. node-postgres already returns what Prisma does for every type this schema uses (parsed jsonb, arrays,
// enums as their text) except int8, which it returns as a string (Prisma: BigInt), and it parses timestamptz
// with a general-purpose parser that showed in bench:query's CPU profiles: `rowQuery` parses the one format
// PostgreSQL sends for them on a fast path. Rows come as arrays (no key per column per row to build).

const models = getDatamodel().datamodel.models;

export type ModelName = "Run" | "Sprite" | "Event" | "ControlIntent" | "LifecycleTransition" | "InterventionAck";

export interface ModelColumns<T> {
  /** How many columns `select` lists: the next model's columns in the same row start this far on. */
  readonly count: number;
  /** The select list, `alias."col", …`, in a fixed order. */
  select(alias: string): string;
  /** The model's columns of an array-mode row, from `offset`, as Prisma returns them. */
  read(values: readonly unknown[], offset?: number): T;
}

export function modelColumns<T>(model: ModelName): ModelColumns<T> {
  const scalars = models[model].fields.filter((f) => f.kind !== "object");
  const names = scalars.map((f) => f.name);
  const bigint = scalars.map((f) => f.type === "BigInt");
  const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
  return {
    count: names.length,
    select: (alias) => names.map((n) => `${alias}.${quote(n)}`).join(", "),
    read: (values, offset = 0) => {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < names.length; i++) {
        const v = values[offset + i];
        out[names[i]] = bigint[i] && v != null ? BigInt(v as string) : v;
      }
      return out as T;
    },
  };
}

const TIMESTAMPTZ = pg.types.builtins.TIMESTAMPTZ;
type Parser = (text: string) => unknown;
type TypeId = Parameters<typeof pg.types.getTypeParser>[0];
// What PostgreSQL sends for a timestamptz in the ISO DateStyle: "2026-11-30 09:42:31.123+00" (fraction and the
// offset's minutes optional), read by position (a regular expression was itself a few percent of a runs page's
// CPU). Anything else (BC, infinity, an offset with seconds, years before 1000) goes to node-postgres's own parser.
const generalTimestamptz = pg.types.getTypeParser(TIMESTAMPTZ, "text") as Parser;

const digit = (s: string, i: number): number => {
  const d = s.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : NaN;
};
const two = (s: string, i: number): number => digit(s, i) * 10 + digit(s, i + 1);

/** A timestamptz as node-postgres parses it, to the millisecond (the fraction's digits are cut, never rounded). */
export function parseTimestamptz(text: string): Date | number | null {
  const n = text.length;
  if (n < 22 || text[4] !== "-" || text[7] !== "-" || text[10] !== " " || text[13] !== ":" || text[16] !== ":") return generalTimestamptz(text) as Date | null;
  const year = two(text, 0) * 100 + two(text, 2);
  let i = 19;
  let ms = 0;
  if (text[i] === ".") {
    let scale = 100;
    for (i++; i < n; i++) {
      const d = digit(text, i);
      if (Number.isNaN(d)) break;
      ms += d * scale;
      scale /= 10;
    }
    ms = Math.floor(ms);
  }
  const sign = text[i] === "+" ? 1 : text[i] === "-" ? -1 : 0;
  let offset = two(text, i + 1) * 60;
  i += 3;
  if (i < n && text[i] === ":") {
    offset += two(text, i + 1);
    i += 3;
  }
  if (sign === 0 || i !== n || year < 1000) return generalTimestamptz(text) as Date | null;
  const utc = Date.UTC(year, two(text, 5) - 1, two(text, 8), two(text, 11), two(text, 14), two(text, 17), ms);
  // NaN anywhere (a character that is not a digit) makes utc NaN: the general parser decides then.
  return Number.isNaN(utc - offset) ? (generalTimestamptz(text) as Date | null) : new Date(utc - sign * offset * 60_000);
}

const types = {
  getTypeParser: ((oid: TypeId, format?: "text" | "binary"): Parser =>
    oid === TIMESTAMPTZ && format !== "binary" ? parseTimestamptz : (pg.types.getTypeParser(oid, format ?? "text") as Parser)) as pg.CustomTypesConfig["getTypeParser"],
};

/** A query whose rows come as arrays (read them with `ModelColumns.read`), timestamptz parsed on the fast path. */
export async function rowQuery(db: pg.Pool | pg.PoolClient, text: string, values: unknown[] = []): Promise<unknown[][]> {
  const res = await db.query<unknown[]>({ text, values, rowMode: "array", types });
  return res.rows;
}
