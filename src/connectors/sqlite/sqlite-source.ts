import { describeConnection } from '../../domain/connection.js';
import type { TableRef } from '../../engine/plan.js';
import type {
  KeyRange,
  KeyTuple,
  Probe,
  ProbeResult,
  Row,
  SourceCaps,
  SourceConnector,
  SourceTable,
} from '../../engine/ports.js';
import { keyAfterPredicate, keyRangePredicate, type RangeSql } from '../sql-range.js';
import { chunkIterator } from '../stream-chunks.js';
import { openSqliteReadOnly, quoteIdent, type Db, type SqliteConfig } from './sqlite-database.js';
import { sqliteError } from './sqlite-errors.js';
import { describeSqliteTable, listSqliteTables } from './sqlite-introspector.js';
import { decodeRow, fromSqlite, sourceDecoder, sourceKeyEncoder } from './sqlite-values.js';

const READ_CHUNK = 2000;
const KEY_CHUNK = 5000;

/**
 * SQLite source. The file is opened read-only and must exist. Values are read exactly: 64-bit
 * integers through BigInt (`safeIntegers`), BLOBs as Buffers, text with any byte in it. Reads are
 * `iterate()` cursors cut into chunks, so memory stays bounded; better-sqlite3 lets several
 * statements iterate on one read-only connection at once, so concurrent batches share it.
 *
 * Key columns SQLite lets hold NULL (a PRIMARY KEY that is neither INTEGER nor NOT NULL) cannot be
 * batch boundaries — `(a, b) < (1, NULL)` is NULL — so key scans skip such rows and the first
 * batch (open below) carries them all.
 */
export class SqliteSource implements SourceConnector {
  readonly caps: SourceCaps = { dialect: 'sqlite', keysetReads: true };
  readonly description: string;

  private constructor(
    private readonly db: Db,
    path: string,
  ) {
    this.description = describeConnection({ type: 'sqlite', path });
  }

  /** Opens the file read-only; DATABASE_NOT_FOUND naming the path when it does not exist. */
  static async open(
    config: SqliteConfig,
    _options: { poolSize?: number } = {},
  ): Promise<SqliteSource> {
    return new SqliteSource(openSqliteReadOnly(config.path), config.path);
  }

  async listTables(signal?: AbortSignal): Promise<TableRef[]> {
    signal?.throwIfAborted();
    return this.run(() => listSqliteTables(this.db));
  }

  async describeTable(ref: TableRef, signal?: AbortSignal): Promise<SourceTable> {
    signal?.throwIfAborted();
    return this.run(() => describeSqliteTable(this.db, ref));
  }

  /** Answers every probe in one scan of the table. */
  async probe(
    table: SourceTable,
    probes: readonly Probe[],
    signal?: AbortSignal,
  ): Promise<ProbeResult[]> {
    signal?.throwIfAborted();
    if (probes.length === 0) return [];
    const select = probes.map((p, i) => `${probeSql(p)} AS p${i}`).join(', ');
    const row = this.run(
      () =>
        this.db
          .prepare(`SELECT ${select} FROM ${quoteIdent(table.ref.name)}`)
          .raw(true)
          .safeIntegers(true)
          .get() as unknown[],
    );
    return probes.map((p, i) => {
      const v = row[i];
      if (p.kind === 'max') return v === null || v === undefined ? null : String(v);
      const hit = v === 1n || v === 1;
      // only-01 asks "all values are 0/1": true when no value outside was found.
      return p.kind === 'only-01' ? !hit : hit;
    });
  }

  async *scanKeys(
    table: SourceTable,
    keyColumns: readonly string[],
    after: KeyTuple | null,
    signal?: AbortSignal,
  ): AsyncIterable<KeyTuple[]> {
    const params: unknown[] = [];
    const where = nullableKeys(table, keyColumns).map((c) => `${quoteIdent(c)} IS NOT NULL`);
    if (after) where.push(keyAfterPredicate(keyColumns, after, this.rangeSql(table, params)));
    const cols = keyColumns.map(quoteIdent).join(', ');
    const sql = `SELECT ${cols} FROM ${quoteIdent(table.ref.name)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${cols}`;
    yield* this.stream(
      sql,
      params,
      keyColumns.map((c) => columnDecoder(table, c)),
      KEY_CHUNK,
      signal,
    );
  }

  async *readRows(
    table: SourceTable,
    columns: readonly string[],
    keyColumns: readonly string[],
    range: KeyRange | null,
    signal?: AbortSignal,
  ): AsyncIterable<Row[]> {
    const params: unknown[] = [];
    let where = '';
    if (range && (range.lo !== null || range.hi !== null)) {
      const predicate = keyRangePredicate(keyColumns, range, this.rangeSql(table, params));
      // The first batch also takes the rows whose key has a NULL (they are never boundaries).
      const nulls =
        range.lo === null
          ? nullableKeys(table, keyColumns).map((c) => `${quoteIdent(c)} IS NULL`)
          : [];
      where =
        nulls.length > 0 ? ` WHERE (${predicate}) OR ${nulls.join(' OR ')}` : ` WHERE ${predicate}`;
    }
    const order = keyColumns.length > 0 ? ` ORDER BY ${keyColumns.map(quoteIdent).join(', ')}` : '';
    const sql = `SELECT ${columns.map(quoteIdent).join(', ')} FROM ${quoteIdent(table.ref.name)}${where}${order}`;
    yield* this.stream(
      sql,
      params,
      columns.map((c) => columnDecoder(table, c)),
      READ_CHUNK,
      signal,
    );
  }

  async countRows(table: SourceTable, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const row = this.run(
      () =>
        this.db
          .prepare(`SELECT count(*) FROM ${quoteIdent(table.ref.name)}`)
          .raw(true)
          .get() as unknown[],
    );
    return Number(row[0]);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** A fresh statement per read: one statement cannot iterate twice at once, a connection can. */
  private async *stream(
    sql: string,
    params: unknown[],
    decoders: ReturnType<typeof sourceDecoder>[],
    chunkSize: number,
    signal?: AbortSignal,
  ): AsyncGenerator<Row[]> {
    signal?.throwIfAborted();
    const iterator = this.run(
      () =>
        this.db
          .prepare(sql)
          .raw(true)
          .safeIntegers(true)
          .iterate(...params) as Iterator<Row>,
    );
    try {
      for await (const chunk of chunkIterator(iterator, chunkSize, signal)) {
        for (const row of chunk) decodeRow(row, decoders);
        yield chunk;
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      throw sqliteError(error, `reading ${this.description}`);
    }
  }

  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw sqliteError(error, this.description);
    }
  }

  /** Key values are bound parameters, integers as BigInt so a 64-bit key compares exactly. */
  private rangeSql(table: SourceTable, params: unknown[]): RangeSql {
    const types = new Map(table.columns.map((c) => [c.name, c.type]));
    return {
      style: 'row',
      quote: quoteIdent,
      value: (column, v) => {
        params.push(sourceKeyEncoder(types.get(column))(v));
        return '?';
      },
    };
  }
}

function columnDecoder(table: SourceTable, column: string): ReturnType<typeof sourceDecoder> {
  const type = table.columns.find((c) => c.name === column)?.type;
  return type ? sourceDecoder(type) : fromSqlite;
}

function nullableKeys(table: SourceTable, keyColumns: readonly string[]): string[] {
  return keyColumns.filter((k) => table.columns.find((c) => c.name === k)?.nullable !== false);
}

/** One probe as an aggregate over the table (MAX of a 0/1 flag: did any row match?). */
function probeSql(p: Probe): string {
  const c = quoteIdent(p.column);
  switch (p.kind) {
    case 'only-01':
      return `COALESCE(MAX(${c} NOT IN (0, 1)), 0)`;
    case 'outside-day':
      return `COALESCE(MAX(CASE WHEN ${c} IS NULL THEN 0 WHEN typeof(${c}) = 'text' AND (${c} GLOB '[01][0-9]:[0-5][0-9]:[0-5][0-9]*' OR ${c} GLOB '2[0-3]:[0-5][0-9]:[0-5][0-9]*') THEN 0 ELSE 1 END), 0)`;
    case 'has-empty':
      return `COALESCE(MAX(${c} = ''), 0)`;
    case 'max':
      return `MAX(${c})`;
  }
}
