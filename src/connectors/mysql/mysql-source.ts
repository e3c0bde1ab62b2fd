import mysql from 'mysql2';
import type { Pool, PoolConnection } from 'mysql2';
import type { z } from 'zod';
import type { MysqlConnectionSchema } from '../../domain/connection.js';
import { describeConnection } from '../../domain/connection.js';
import { FreightError } from '../../domain/errors.js';
import type { TableRef } from '../../engine/plan.js';
import type {
  KeyRange,
  KeyTuple,
  Probe,
  ProbeResult,
  ReadHints,
  Row,
  SourceCaps,
  SourceConnector,
  SourceTable,
} from '../../engine/ports.js';
import { keyAfterPredicate, keyRangePredicate, type RangeSql } from '../sql-range.js';
import { chunkRows, type RowEvents } from '../stream-chunks.js';
import { describeMysqlTable, listMysqlTables } from './mysql-introspector.js';
import { mysqlError } from './mysql-errors.js';

type MysqlConfig = z.output<typeof MysqlConnectionSchema>;

/** Rows per chunk handed to the engine; with `maxReady` 1 a batch holds at most ~3 chunks in memory. */
const READ_CHUNK = 500;
/** The data probe runs in this many key ranges at once (see probeRanges). */
const PROBE_PARALLELISM = 4;
/** Below this many (estimated) rows the probe is one scan. */
const PROBE_SPLIT_MIN_ROWS = 100_000;
const KEY_CHUNK = 5000;
/** Source kinds that can be read as UTF-8 bytes (ReadHints.utf8Bytes). */
const TEXT_KINDS = new Set(['char', 'varchar', 'text', 'enum', 'json']);
const UTF8_CHARSETS = new Set(['utf8mb4', 'utf8mb3', 'utf8', 'ascii']);

/**
 * MySQL/MariaDB source (MYSQL_TO_POSTGRES.md, "Reading from MySQL with mysql2"): big numbers,
 * decimals, dates and JSON arrive as strings; the session time zone is UTC so TIMESTAMP values are
 * UTC; FLOAT is read through a DOUBLE because the text protocol prints FLOAT with 6 digits.
 */
export class MysqlSource implements SourceConnector {
  readonly caps: SourceCaps = { dialect: 'mysql', keysetReads: true };
  readonly description: string;
  private readonly pool: Pool;
  private readonly secrets: string[];
  private mariaDb: boolean | undefined;
  private readonly utf8ColumnsByTable = new Map<string, Promise<ReadonlySet<string>>>();

  constructor(
    private readonly config: MysqlConfig,
    options: { poolSize?: number } = {},
  ) {
    this.description = describeConnection(config);
    this.secrets = config.password ? [config.password] : [];
    this.pool = mysql.createPool({
      host: config.host,
      port: config.port,
      user: config.user,
      ...(config.password !== undefined ? { password: config.password } : {}),
      database: config.database,
      charset: 'utf8mb4',
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      jsonStrings: true,
      decimalNumbers: false,
      rowsAsArray: true,
      connectTimeout: 10_000,
      connectionLimit: options.poolSize ?? 8,
      maxIdle: options.poolSize ?? 8,
      enableKeepAlive: true,
      ...(config.ssl && config.ssl !== 'disable'
        ? {
            ssl: {
              rejectUnauthorized: config.ssl === 'verify-full',
              ...(config.servername ? { servername: config.servername } : {}),
            },
          }
        : {}),
    });
    this.pool.on('connection', (conn) => {
      conn.query("SET time_zone = '+00:00'");
    });
  }

  private async connection(): Promise<PoolConnection> {
    return new Promise((resolve, reject) => {
      this.pool.getConnection((error, conn) => {
        if (error) reject(mysqlError(error, `cannot connect to ${this.description}`, this.secrets));
        else resolve(conn);
      });
    });
  }

  /** Plain-object query (introspection). */
  private async query(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    const conn = await this.connection();
    try {
      return await new Promise((resolve, reject) => {
        conn.query({ sql, values: params, rowsAsArray: false }, (error, rows) => {
          if (error) reject(mysqlError(error, this.description, this.secrets));
          else resolve(rows as Record<string, unknown>[]);
        });
      });
    } finally {
      conn.release();
    }
  }

  private async isMariaDb(): Promise<boolean> {
    if (this.mariaDb === undefined) {
      const [row] = await this.query('SELECT VERSION() AS v');
      this.mariaDb = /mariadb/i.test(String(row?.v));
    }
    return this.mariaDb;
  }

  async listTables(): Promise<TableRef[]> {
    return listMysqlTables((sql, p) => this.query(sql, p), this.config.database);
  }

  async describeTable(ref: TableRef): Promise<SourceTable> {
    const mariaDb = await this.isMariaDb();
    if (!mariaDb)
      await this.query('SET SESSION information_schema_stats_expiry = 0').catch(() => {});
    return describeMysqlTable(
      (sql, p) => this.query(sql, p),
      { schema: ref.schema ?? this.config.database, name: ref.name },
      mariaDb,
    );
  }

  async probe(table: SourceTable, probes: readonly Probe[]): Promise<ProbeResult[]> {
    const results: ProbeResult[] = new Array(probes.length).fill(null);
    const scan: string[] = [];
    const scanIndex: number[] = [];
    for (const [i, p] of probes.entries()) {
      const c = quote(p.column);
      if (p.kind === 'max') {
        const [row] = await this.query(
          `SELECT CAST(MAX(${c}) AS CHAR) AS v FROM ${this.table(table)}`,
        );
        results[i] = row?.v === null || row?.v === undefined ? null : String(row.v);
        continue;
      }
      scanIndex.push(i);
      if (p.kind === 'only-01') scan.push(`COALESCE(MAX(${c} NOT IN (0, 1)), 0)`);
      else if (p.kind === 'outside-day')
        scan.push(`COALESCE(MAX(${c} < '00:00:00' OR ${c} >= '24:00:00'), 0)`);
      else scan.push(`COALESCE(MAX(${c} = ''), 0)`);
    }
    if (scan.length > 0) {
      const select = `SELECT ${scan.map((s, i) => `${s} AS p${i}`).join(', ')} FROM ${this.table(table)}`;
      const rows = (
        await Promise.all(
          (await this.probeRanges(table)).map((where) => this.query(`${select}${where}`)),
        )
      ).flat();
      scanIndex.forEach((probeIndex, i) => {
        const hit = rows.some((row) => Number(row[`p${i}`]) === 1);
        // only-01 asks "all values are 0/1": true when no value outside was found.
        results[probeIndex] = probes[probeIndex]!.kind === 'only-01' ? !hit : hit;
      });
    }
    return results;
  }

  /**
   * The probe is a full scan that runs before anything is copied. With a single-column integer
   * primary key it is split into key ranges scanned at once on separate connections (the server
   * runs each on its own thread); otherwise it is one scan. Together the ranges cover every row:
   * below MIN and above MAX there is none, and rows added meanwhile are checked by the copy.
   */
  private async probeRanges(table: SourceTable): Promise<string[]> {
    const whole = [''];
    if (table.primaryKey.length !== 1 || table.estimatedRows < PROBE_SPLIT_MIN_ROWS) return whole;
    const key = table.columns.find((c) => c.name === table.primaryKey[0]);
    if (key?.type.kind !== 'integer') return whole;
    const c = quote(key.name);
    const [row] = await this.query(
      `SELECT CAST(MIN(${c}) AS CHAR) AS lo, CAST(MAX(${c}) AS CHAR) AS hi FROM ${this.table(table)}`,
    );
    if (row?.lo === null || row?.lo === undefined || row.hi === null || row.hi === undefined)
      return whole;
    const lo = BigInt(String(row.lo));
    const hi = BigInt(String(row.hi));
    const parts = BigInt(PROBE_PARALLELISM);
    const step = (hi - lo) / parts + 1n;
    const ranges: string[] = [];
    for (let from = lo; from <= hi; from += step) {
      const to = from + step - 1n < hi ? from + step - 1n : hi;
      ranges.push(` WHERE ${c} BETWEEN ${from} AND ${to}`);
    }
    return ranges;
  }

  async *scanKeys(
    table: SourceTable,
    keyColumns: readonly string[],
    after: KeyTuple | null,
    signal?: AbortSignal,
  ): AsyncIterable<KeyTuple[]> {
    const where = after
      ? ` WHERE ${keyAfterPredicate(keyColumns, after, this.rangeSql(table))}`
      : '';
    const cols = keyColumns.map(quote).join(', ');
    yield* this.stream<KeyTuple>(
      `SELECT ${cols} FROM ${this.table(table)}${where} ORDER BY ${cols}`,
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
    hints?: ReadHints,
  ): AsyncIterable<Row[]> {
    const byName = new Map(table.columns.map((c) => [c.name, c]));
    const asBytes = hints?.utf8Bytes?.size ? await this.utf8Columns(table) : null;
    const select = columns
      .map((name) => {
        const type = byName.get(name)?.type;
        const c = quote(name);
        if (type?.kind === 'float' && type.bytes === 4) return `${c} + 0`;
        if (type?.kind === 'geometry') return `ST_AsBinary(${c})`;
        if (asBytes && hints?.utf8Bytes?.has(name) && TEXT_KINDS.has(type?.kind ?? '')) {
          // The column's bytes as they are stored when they are UTF-8 already; else converted.
          return asBytes.has(name)
            ? `CAST(${c} AS BINARY)`
            : `CAST(CONVERT(${c} USING utf8mb4) AS BINARY)`;
        }
        return c;
      })
      .join(', ');
    const where = range
      ? ` WHERE ${keyRangePredicate(keyColumns, range, this.rangeSql(table))}`
      : '';
    const order = keyColumns.length > 0 ? ` ORDER BY ${keyColumns.map(quote).join(', ')}` : '';
    yield* this.stream<Row>(
      `SELECT ${select} FROM ${this.table(table)}${where}${order}`,
      READ_CHUNK,
      signal,
    );
  }

  /**
   * The table's columns stored in a UTF-8 character set (ascii is a subset), read once per table:
   * those can be sent as their stored bytes; the others (latin1, ...) are converted by the server.
   */
  private utf8Columns(table: SourceTable): Promise<ReadonlySet<string>> {
    const schema = table.ref.schema ?? this.config.database;
    const key = `${schema}\0${table.ref.name}`;
    let found = this.utf8ColumnsByTable.get(key);
    if (!found) {
      found = this.query(
        `SELECT COLUMN_NAME AS name, CHARACTER_SET_NAME AS charset FROM information_schema.COLUMNS
          WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
        [schema, table.ref.name],
      ).then(
        (rows) =>
          new Set(
            rows
              .filter((r) => UTF8_CHARSETS.has(String(r.charset).toLowerCase()))
              .map((r) => String(r.name)),
          ),
      );
      found.catch(() => this.utf8ColumnsByTable.delete(key));
      this.utf8ColumnsByTable.set(key, found);
    }
    return found;
  }

  async countRows(table: SourceTable): Promise<number> {
    const [row] = await this.query(`SELECT COUNT(*) AS n FROM ${this.table(table)}`);
    return Number(row?.n ?? 0);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.pool.end(() => resolve()));
  }

  private async *stream<T>(
    sql: string,
    chunkSize: number,
    signal?: AbortSignal,
  ): AsyncGenerator<T[]> {
    signal?.throwIfAborted();
    const conn = await this.connection();
    let healthy = true;
    try {
      // The query's own row events, paused and resumed on the connection: what mysql2's
      // query().stream() does, without a Readable's buffering and events per row.
      const query = conn.query({ sql, rowsAsArray: true });
      const rows: RowEvents<T> = {
        listen({ row, end, error }) {
          query.on('result', row as (r: unknown) => void);
          query.on('end', end);
          query.on('error', error);
          return () => {
            query.off('result', row as (r: unknown) => void);
            query.off('end', end);
            query.off('error', error);
            // A query abandoned with its connection may still report an error: not unhandled.
            query.on('error', () => {});
          };
        },
        pause: () => conn.pause(),
        resume: () => conn.resume(),
        // The connection is destroyed by the caller (onAbandon marks it unhealthy).
        destroy: () => {},
      };
      for await (const chunk of chunkRows<T>(rows, chunkSize, {
        maxReady: 1,
        ...(signal ? { signal } : {}),
        onAbandon: () => (healthy = false),
      })) {
        yield chunk;
      }
    } catch (error) {
      healthy = false;
      if (signal?.aborted) throw error;
      throw mysqlError(error, `reading ${this.description}`, this.secrets);
    } finally {
      // A result set not read to the end leaves the connection unusable: discard it.
      if (healthy) conn.release();
      else conn.destroy();
    }
  }

  private table(table: SourceTable): string {
    return `${quote(table.ref.schema ?? this.config.database)}.${quote(table.ref.name)}`;
  }

  /** Numeric key values are inlined as validated literals: a quoted '9007199254740993' would be compared as a double. */
  private rangeSql(table: SourceTable): RangeSql {
    const types = new Map(table.columns.map((c) => [c.name, c.type.kind]));
    return {
      style: 'expanded',
      quote,
      value: (column, v) => {
        const kind = types.get(column);
        if (
          (kind === 'integer' || kind === 'decimal' || kind === 'year') &&
          /^-?\d+(\.\d+)?$/.test(String(v))
        ) {
          return String(v);
        }
        if (typeof v === 'number' && !Number.isFinite(v))
          throw new FreightError('DATA_ERROR', `key value ${v} cannot be compared`);
        return this.pool.escape(v);
      },
    };
  }
}

/** Quotes a MySQL identifier. */
export function quote(identifier: string): string {
  return `\`${identifier.replaceAll('`', '``')}\``;
}
