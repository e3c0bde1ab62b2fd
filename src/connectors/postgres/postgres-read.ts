import type pg from 'pg';
import Cursor from 'pg-cursor';
import type { SourceType, TargetType } from '../../domain/column-types.js';
import type { Row } from '../../engine/ports.js';
import { postgresError } from './postgres-errors.js';
import { cancelBackend, connectPg, untilAborted } from './postgres-query.js';

/** Turns one column's PostgreSQL text form into its canonical value; null: keep the text. */
export type PgDecoder = ((text: string) => unknown) | null;

interface StreamOptions {
  /** What is read, without secrets (error messages start with it). */
  readonly where: string;
  readonly secrets: readonly string[];
  readonly signal?: AbortSignal;
  /** Rows per cursor fetch and per yielded chunk (default 2000). */
  readonly chunkSize?: number;
}

/**
 * Streams a query's rows through a server-side cursor, converting PostgreSQL's text forms to
 * canonical values by column type (see engine/value-codec.ts).
 */
export async function* readPgRows(
  pool: pg.Pool,
  sql: string,
  params: unknown[],
  types: readonly (TargetType | null)[],
  options: StreamOptions,
): AsyncGenerator<Row[]> {
  yield* streamPgRows(
    pool,
    sql,
    params,
    types.map((t) => (t ? pgTextDecoder(t) : null)),
    options,
  );
}

/**
 * Streams a query's rows through a server-side cursor (bounded memory: one fetch at a time),
 * decoding each column with its decoder. When `signal` aborts, the running statement is
 * cancelled on the server and the connection discarded.
 */
export async function* streamPgRows(
  pool: pg.Pool,
  sql: string,
  params: unknown[],
  decoders: readonly PgDecoder[],
  options: StreamOptions,
): AsyncGenerator<Row[]> {
  const { signal } = options;
  signal?.throwIfAborted();
  const client = await connectPg(pool, options.where, options.secrets);
  let broken = false;
  const cursor = client.query(new Cursor(sql, params, { rowMode: 'array' }));
  try {
    for (;;) {
      signal?.throwIfAborted();
      let rows: unknown[][];
      try {
        rows = (await untilAborted(cursor.read(options.chunkSize ?? 2000), signal, () => {
          broken = true;
          cancelBackend(pool, client);
        })) as unknown[][];
      } catch (error) {
        broken = true;
        if (signal?.aborted) throw signal.reason;
        throw postgresError(error, `reading ${options.where}`, options.secrets);
      }
      if (rows.length === 0) return;
      for (const row of rows) {
        for (let i = 0; i < row.length; i++) {
          const d = decoders[i];
          if (d && row[i] !== null) row[i] = d(row[i] as string);
        }
      }
      yield rows;
    }
  } finally {
    if (!broken) {
      await cursor.close().catch(() => {
        broken = true;
      });
    }
    client.release(broken ? true : undefined);
  }
}

/** PostgreSQL text form → canonical value, for the types whose text form differs from canonical. */
export function pgTextDecoder(type: TargetType): ((text: string) => unknown) | null {
  switch (type.kind) {
    case 'boolean':
      return (t) => t === 't';
    case 'int16':
    case 'int32':
      return (t) => Number(t);
    case 'float32':
    case 'float64':
      return (t) => Number(t);
    case 'bytes':
    case 'geometry':
      return (t) => Buffer.from(t.slice(2), 'hex');
    case 'timestamptz':
      return (t) => t.replace(/\+00$/, '+00:00');
    case 'text-array':
      return parsePgTextArray;
    default:
      return null;
  }
}

/**
 * PostgreSQL text form → canonical value, by the column's source type (the PostgreSQL source).
 * Big integers and decimals stay text; a timestamptz read under the session's UTC loses its
 * `+00` (canonical `timestamp` values are UTC without an offset); bytea becomes a Buffer.
 */
export function pgSourceDecoder(type: SourceType): PgDecoder {
  switch (type.kind) {
    case 'boolean':
      return (t) => t === 't';
    case 'integer':
      return type.bytes <= 4 ? (t) => Number(t) : null;
    case 'float':
      return (t) => Number(t);
    case 'binary':
      return decodeBytea;
    case 'timestamp':
      return (t) => (t.endsWith('+00') ? t.slice(0, -3) : t);
    default:
      return null;
  }
}

/** bytea in either output format: hex `\x0aff` (the default) or escape `a\012\\` (bytea_output). */
export function decodeBytea(text: string): Buffer {
  if (text.startsWith('\\x')) return Buffer.from(text.slice(2), 'hex');
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 92) {
      bytes.push(c);
    } else if (text[i + 1] === '\\') {
      bytes.push(92);
      i++;
    } else {
      bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    }
  }
  return Buffer.from(bytes);
}

/** Parses a one-dimensional text[] literal: `{a,"b c",NULL,"x\"y"}`. */
export function parsePgTextArray(text: string): (string | null)[] {
  const out: (string | null)[] = [];
  if (text === '{}') return out;
  let i = 1;
  while (i < text.length - 1) {
    if (text[i] === '"') {
      let value = '';
      i++;
      while (text[i] !== '"') {
        if (text[i] === '\\') i++;
        value += text[i];
        i++;
      }
      out.push(value);
      i += 2;
    } else {
      let end = text.indexOf(',', i);
      if (end < 0 || end > text.length - 1) end = text.length - 1;
      const raw = text.slice(i, end);
      out.push(raw === 'NULL' ? null : raw);
      i = end + 1;
    }
  }
  return out;
}
