import type pg from "pg";
import { insertEvents } from "../src/events/insert";
import { originalLine, payloadOf, type StoredEventLine } from "../src/events/stored-event";
import type { EventRow } from "../src/ingest/rows";

// What bench:ingest measures about the Event table besides the ingest rate: bytes per stored event, the same
// rows inserted straight into the same table with the same statement (the floor the ingest path is compared
// with), and the layout
// before the packed line (payload + raw as jsonb) filled with the same events, in the same run.

export interface StoredRows {
  line: number[];
  timestamp: Date[];
  name: string[];
  role: (string | null)[];
  status: (string | null)[];
  message: (string | null)[];
  runtimeRunId: (string | null)[];
  iteration: (number | null)[];
  packed: string[];
}

export async function readStoredRows(pool: pg.Pool, runId: string): Promise<StoredRows> {
  const res = await pool.query<StoredEventLine & { line: number; status: string | null; message: string | null }>(
    `SELECT line, "timestamp", name, role, status, message, "runtimeRunId", iteration, packed FROM "Event" WHERE "runId" = $1 ORDER BY line`,
    [runId],
  );
  const r = res.rows;
  return {
    line: r.map((x) => x.line),
    timestamp: r.map((x) => x.timestamp),
    name: r.map((x) => x.name),
    role: r.map((x) => x.role),
    status: r.map((x) => x.status),
    message: r.map((x) => x.message),
    runtimeRunId: r.map((x) => x.runtimeRunId),
    iteration: r.map((x) => x.iteration),
    packed: r.map((x) => x.packed),
  };
}

/** Table + indexes (+ TOAST) of a relation, divided by its rows. */
export async function bytesPerRow(client: pg.Pool | pg.PoolClient, table: string, rows: number): Promise<number> {
  const res = await client.query<{ bytes: string }>(`SELECT pg_total_relation_size($1::regclass) AS bytes`, [table]);
  return Math.round(Number(res.rows[0].bytes) / rows);
}

const slice = <T>(a: T[], from: number, to: number) => a.slice(from, to);

/**
 * The stored rows inserted again under another run, `chunk` rows per transaction, with the ingest's own insert
 * (src/events/insert.ts: COPY), the rows built beforehand: no file read, no parsing, no packing, no projection.
 */
export async function rawInsert(pool: pg.Pool, runId: string, rows: StoredRows, chunk: number): Promise<number> {
  const built: EventRow[] = rows.line.map((line, i) => ({
    line,
    timestamp: rows.timestamp[i],
    name: rows.name[i],
    role: rows.role[i],
    status: rows.status[i],
    message: rows.message[i],
    runtimeRunId: rows.runtimeRunId[i],
    iteration: rows.iteration[i],
    payload: null,
    text: "",
    packed: rows.packed[i],
  }));
  const client = await pool.connect();
  try {
    const t0 = performance.now();
    for (let from = 0; from < built.length; from += chunk) {
      await client.query("BEGIN");
      await insertEvents(client, runId, built.slice(from, from + chunk));
      await client.query("COMMIT");
    }
    return performance.now() - t0;
  } finally {
    client.release();
  }
}

/**
 * Bytes per event of the layout this replaced (migration 20261201180000_event_packed_line): the same columns
 * with `payload` and `raw` as jsonb instead of `packed`, and the same indexes, as a temporary table (the
 * manager's role has no DDL rights, and a temporary table is sized like a real one).
 */
export async function previousLayoutBytes(pool: pg.Pool, rows: StoredRows, chunk: number): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query(`CREATE TEMP TABLE event_jsonb (id bigserial PRIMARY KEY, "runId" text NOT NULL, line int NOT NULL, "timestamp" timestamptz(3) NOT NULL,
      name text NOT NULL, role text, status text, message text, "runtimeRunId" text, iteration int, payload jsonb, raw jsonb NOT NULL, "ingestedAt" timestamptz(3) NOT NULL DEFAULT now())`);
    await client.query(`CREATE UNIQUE INDEX ON event_jsonb ("runId", line); CREATE INDEX ON event_jsonb ("runId", name); CREATE INDEX ON event_jsonb ("runId", "timestamp")`);
    const runId = "00000000-0000-4000-8000-000000000000";
    for (let from = 0; from < rows.line.length; from += chunk) {
      const to = Math.min(from + chunk, rows.line.length);
      const payload: (string | null)[] = [];
      const raw: string[] = [];
      for (let i = from; i < to; i++) {
        const row: StoredEventLine = {
          packed: rows.packed[i],
          timestamp: rows.timestamp[i],
          name: rows.name[i],
          role: rows.role[i]!,
          runtimeRunId: rows.runtimeRunId[i]!,
          iteration: rows.iteration[i]!,
        };
        const p = payloadOf(row);
        payload.push(p === null ? null : JSON.stringify(p));
        raw.push(originalLine(row));
      }
      await client.query(
        `INSERT INTO event_jsonb ("runId","line","timestamp","name","role","status","message","runtimeRunId","iteration","payload","raw")
         SELECT $1, * FROM unnest($2::int[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::jsonb[], $11::jsonb[])`,
        [
          runId,
          slice(rows.line, from, to),
          slice(rows.timestamp, from, to),
          slice(rows.name, from, to),
          slice(rows.role, from, to),
          slice(rows.status, from, to),
          slice(rows.message, from, to),
          slice(rows.runtimeRunId, from, to),
          slice(rows.iteration, from, to),
          payload,
          raw,
        ],
      );
    }
    return await bytesPerRow(client, "event_jsonb", rows.line.length);
  } finally {
    await client.query("DROP TABLE IF EXISTS event_jsonb").catch(() => {});
    client.release();
  }
}
