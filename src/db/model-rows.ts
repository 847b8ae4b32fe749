import { getDatamodel } from "../generated/prisma/pothos-types";

// Rows of a Prisma model read with plain SQL on the driver's pool, in the shape Prisma's client returns them
// (the API's hot reads: a Prisma query costs 1–3 ms of query compilation per call, more than the database takes,
// see bench:query). The column list comes from the generated datamodel, so a column added to the schema is read
// here too. node-postgres already returns what Prisma does for every type this schema uses (Date for timestamptz,
// parsed jsonb, arrays, enums as their text) except int8, which it returns as a string: Prisma's BigInt.

const models = getDatamodel().datamodel.models;

export type ModelName = "Run" | "Sprite" | "ControlIntent" | "LifecycleTransition" | "InterventionAck";

export interface ModelColumns<T> {
  /** The select list: `alias."col"`, each named `prefix + col` when a prefix is given (a joined model's columns). */
  select(alias: string, prefix?: string): string;
  /** The row (or the joined model's part of it, by prefix) as Prisma returns it. */
  read(row: Record<string, unknown>, prefix?: string): T;
}

export function modelColumns<T>(model: ModelName): ModelColumns<T> {
  const scalars = models[model].fields.filter((f) => f.kind !== "object");
  const names = scalars.map((f) => f.name);
  const bigints = new Set(scalars.filter((f) => f.type === "BigInt").map((f) => f.name));
  const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
  return {
    select: (alias, prefix = "") => names.map((n) => (prefix ? `${alias}.${quote(n)} AS ${quote(prefix + n)}` : `${alias}.${quote(n)}`)).join(", "),
    read: (row, prefix = "") => {
      const out: Record<string, unknown> = {};
      for (const n of names) {
        const v = row[prefix + n];
        out[n] = bigints.has(n) && v != null ? BigInt(v as string) : v;
      }
      return out as T;
    },
  };
}
