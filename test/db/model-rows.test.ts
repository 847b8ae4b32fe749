import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTimestamptz, rowQuery } from "../../src/db/model-rows";
import { createTestDatabase } from "../support/db";

// The API's SQL reads parse timestamptz on a fast path (src/db/model-rows.ts): it must give the Date node-postgres's
// own parser gives for every text PostgreSQL sends, and hand what it does not recognise to that parser.

const general = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, "text") as (s: string) => Date | number | null;
const ms = (v: Date | number | null) => (v instanceof Date ? v.getTime() : v);

describe("parseTimestamptz", () => {
  const texts = [
    "2026-11-30 09:42:31.123+00",
    "2026-11-30 09:42:31+00",
    "2026-11-30 09:42:31.5+00",
    "2026-11-30 09:42:31.12+00",
    "2026-11-30 09:42:31.123456+00",
    "2026-11-30 15:12:31.123+05:30",
    "2026-11-30 06:12:31.123-03:30",
    "1999-01-08 04:05:06-08",
    "2026-12-31 23:59:59.999+14",
    "1000-01-01 00:00:00+00",
    // not on the fast path: the general parser's answer
    "1883-11-18 12:00:00+00:53:28",
    "0099-06-01 00:00:00+00",
    "2000-01-01 00:00:00+00 BC",
    "infinity",
    "-infinity",
  ];
  it.each(texts)("%s", (text) => {
    expect(ms(parseTimestamptz(text))).toBe(ms(general(text)));
  });

  it("every millisecond of a second to the exact instant (the fraction's digits, no float rounding)", () => {
    for (let i = 0; i < 1000; i++) {
      const frac = String(i).padStart(3, "0");
      expect(ms(parseTimestamptz(`2026-11-30 09:42:31.${frac}+00`))).toBe(Date.parse(`2026-11-30T09:42:31.${frac}Z`));
    }
  });
});

describe("rowQuery", () => {
  let url: string;
  beforeAll(async () => {
    url = await createTestDatabase();
  });
  const pools: pg.Pool[] = [];
  afterAll(() => Promise.all(pools.map((p) => p.end())));

  it.each(["UTC", "Asia/Kolkata", "America/St_Johns", "Asia/Kathmandu"])("gives node-postgres's Dates in session time zone %s", async (tz) => {
    const pool = new pg.Pool({ connectionString: url, max: 1, options: `-c TimeZone=${tz}` });
    pools.push(pool);
    const sql = `SELECT t FROM (VALUES (timestamptz '2026-11-30 09:42:31.123Z'), (timestamptz '2026-06-01 00:00:00Z'), (timestamptz '1890-01-01 12:00:00Z'),
                   (timestamptz '0050-03-01 00:00:00Z'), ('infinity'::timestamptz), (NULL::timestamptz)) v(t)`;
    const fast = (await rowQuery(pool, sql)).map((r) => ms(r[0] as Date | number | null));
    const plain = (await pool.query<{ t: Date | number | null }>(sql)).rows.map((r) => ms(r.t));
    expect(fast).toEqual(plain);
    expect(fast[0]).toBe(Date.parse("2026-11-30T09:42:31.123Z"));
  });
});
