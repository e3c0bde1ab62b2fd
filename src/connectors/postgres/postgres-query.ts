import type pg from 'pg';
import { postgresError } from './postgres-errors.js';

/** A pooled connection; failing to get one is a FreightError naming `where`. */
export async function connectPg(
  pool: pg.Pool,
  where: string,
  secrets: readonly string[],
): Promise<pg.PoolClient> {
  try {
    return await pool.connect();
  } catch (error) {
    throw postgresError(error, `cannot connect to ${where}`, secrets);
  }
}

/**
 * One statement on a pooled connection that an AbortSignal can stop: on abort the server is asked
 * to cancel it, the connection is discarded and the abort reason is thrown. Errors come back as
 * FreightErrors (postgres-errors.ts) prefixed with `where`.
 */
export async function pgQuery(
  pool: pg.Pool,
  sql: string,
  params: unknown[],
  options: { where: string; secrets: readonly string[]; signal?: AbortSignal | undefined },
): Promise<pg.QueryResult> {
  const { signal } = options;
  signal?.throwIfAborted();
  const client = await connectPg(pool, options.where, options.secrets);
  let broken = false;
  try {
    return await untilAborted(client.query(sql, params), signal, () => {
      broken = true;
      cancelBackend(pool, client);
    });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw postgresError(error, options.where, options.secrets);
  } finally {
    client.release(broken ? true : undefined);
  }
}

/**
 * Settles like `work`, or rejects with the abort reason as soon as `signal` aborts (calling
 * `onAbort` first, so the caller can stop the statement). `work`'s late rejection is absorbed.
 */
export async function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort: () => void,
): Promise<T> {
  if (!signal) return work;
  let listener: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    listener = () => {
      onAbort();
      reject(signal.reason);
    };
    if (signal.aborted) listener();
    else signal.addEventListener('abort', listener, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', listener!);
    work.catch(() => {});
    aborted.catch(() => {});
  }
}

/** Asks the server to cancel what `client` is running (best effort, on another connection). */
export function cancelBackend(pool: pg.Pool, client: pg.PoolClient): void {
  const pid = (client as unknown as { processID?: number }).processID;
  if (typeof pid === 'number') pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => {});
}
