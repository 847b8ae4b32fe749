import type pg from "pg";

/** `fn` inside BEGIN … COMMIT on one pooled connection; ROLLBACK (and rethrow) when it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
  } catch (e) {
    client.release();
    throw e;
  }
  return inOpenTransaction(client, fn);
}

/**
 * `fn` inside a transaction already begun on `client` (work done in it before is committed with `fn`'s),
 * then COMMIT; ROLLBACK (and rethrow) when it throws. The client is released either way.
 */
export async function inOpenTransaction<T>(client: pg.PoolClient, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  try {
    const out = await fn(client);
    await client.query("COMMIT");
    return out;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
