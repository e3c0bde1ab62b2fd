import type pg from 'pg';
import { describeConnection } from '../../domain/connection.js';
import { FreightError } from '../../domain/errors.js';
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
import { describePgTable, listPgTables } from './postgres-introspector.js';
import { createPgPool, qualify, quoteIdent, type PostgresConfig } from './postgres-pool.js';
import { pgQuery } from './postgres-query.js';
import { pgSourceDecoder, streamPgRows } from './postgres-read.js';

const READ_CHUNK = 2000;
const KEY_CHUNK = 5000;

/**
 * PostgreSQL source. Every value is read as PostgreSQL's own text form (the pool has no type
 * parsers) and decoded by source type into canonical form: int8 and numeric stay text, timestamptz
 * is read under UTC, bytea becomes a Buffer. Reads stream through server-side cursors; key ranges
 * are row-value comparisons with `$n` parameters, so PostgreSQL types and orders the key itself.
 */
export class PostgresSource implements SourceConnector {
  readonly caps: SourceCaps = { dialect: 'postgresql', keysetReads: true };
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly secrets: string[];
  private readonly schema: string;
  /** `ONLY` keeps an inheritance parent from also returning its children's rows. */
  private readonly fromClauses = new Map<string, Promise<string>>();

  private constructor(config: PostgresConfig, poolSize: number) {
    this.description = describeConnection(config);
    this.secrets = config.password ? [config.password] : [];
    this.schema = config.schema ?? 'public';
    this.pool = createPgPool(config, poolSize);
  }

  /**
   * Connects once to fail fast: unreachable server (TRANSIENT), wrong password (AUTH_FAILED),
   * missing database or schema (DATABASE_NOT_FOUND). `schema` defaults to `public`.
   */
  static async open(
    config: PostgresConfig,
    options: { poolSize?: number } = {},
  ): Promise<PostgresSource> {
    const source = new PostgresSource(config, options.poolSize ?? 8);
    try {
      const rows = await source.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
        source.schema,
      ]);
      if (rows.length === 0) {
        throw new FreightError(
          'DATABASE_NOT_FOUND',
          `schema ${source.schema} does not exist in database ${config.database} (${source.description})`,
          { details: { schema: source.schema } },
        );
      }
    } catch (error) {
      await source.close();
      throw error;
    }
    return source;
  }

  async listTables(signal?: AbortSignal): Promise<TableRef[]> {
    return listPgTables((sql, p) => this.query(sql, p, signal), this.schema);
  }

  async describeTable(ref: TableRef, signal?: AbortSignal): Promise<SourceTable> {
    return describePgTable((sql, p) => this.query(sql, p, signal), {
      schema: ref.schema ?? this.schema,
      name: ref.name,
    });
  }

  /** Every probe in one scan of the table. */
  async probe(
    table: SourceTable,
    probes: readonly Probe[],
    signal?: AbortSignal,
  ): Promise<ProbeResult[]> {
    if (probes.length === 0) return [];
    const select = probes.map((p, i) => `${probeSql(p)} AS p${i}`).join(', ');
    const [row] = await this.query(
      `SELECT ${select} FROM ${await this.from(table, signal)}`,
      [],
      signal,
    );
    return probes.map((p, i) => {
      const v = row?.[`p${i}`] ?? null;
      return p.kind === 'max' ? v : v === 't';
    });
  }

  async *scanKeys(
    table: SourceTable,
    keyColumns: readonly string[],
    after: KeyTuple | null,
    signal?: AbortSignal,
  ): AsyncIterable<KeyTuple[]> {
    const params: unknown[] = [];
    const where = after ? ` WHERE ${keyAfterPredicate(keyColumns, after, rangeSql(params))}` : '';
    const cols = keyColumns.map(quoteIdent).join(', ');
    const sql = `SELECT ${cols} FROM ${await this.from(table, signal)}${where} ORDER BY ${cols}`;
    yield* this.stream(sql, params, this.decoders(table, keyColumns), KEY_CHUNK, signal);
  }

  async *readRows(
    table: SourceTable,
    columns: readonly string[],
    keyColumns: readonly string[],
    range: KeyRange | null,
    signal?: AbortSignal,
  ): AsyncIterable<Row[]> {
    const params: unknown[] = [];
    const where = range ? ` WHERE ${keyRangePredicate(keyColumns, range, rangeSql(params))}` : '';
    const order = keyColumns.length > 0 ? ` ORDER BY ${keyColumns.map(quoteIdent).join(', ')}` : '';
    const sql = `SELECT ${columns.map(quoteIdent).join(', ')} FROM ${await this.from(table, signal)}${where}${order}`;
    yield* this.stream(sql, params, this.decoders(table, columns), READ_CHUNK, signal);
  }

  async countRows(table: SourceTable, signal?: AbortSignal): Promise<number> {
    const [row] = await this.query(
      `SELECT count(*) AS n FROM ${await this.from(table, signal)}`,
      [],
      signal,
    );
    return Number(row?.n ?? 0);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }

  private async query(
    sql: string,
    params: unknown[] = [],
    signal?: AbortSignal,
  ): Promise<Array<Record<string, string | null>>> {
    const result = await pgQuery(this.pool, sql, params, {
      where: this.description,
      secrets: this.secrets,
      signal,
    });
    return result.rows as Array<Record<string, string | null>>;
  }

  private stream(
    sql: string,
    params: unknown[],
    decoders: ReturnType<typeof pgSourceDecoder>[],
    chunkSize: number,
    signal?: AbortSignal,
  ) {
    return streamPgRows(this.pool, sql, params, decoders, {
      where: this.description,
      secrets: this.secrets,
      chunkSize,
      ...(signal ? { signal } : {}),
    });
  }

  private decoders(
    table: SourceTable,
    columns: readonly string[],
  ): ReturnType<typeof pgSourceDecoder>[] {
    const byName = new Map(table.columns.map((c) => [c.name, c.type]));
    return columns.map((name) => {
      const type = byName.get(name);
      if (!type)
        throw new FreightError(
          'SCHEMA_CONFLICT',
          `column ${name} is not a column of ${table.ref.name}`,
        );
      return pgSourceDecoder(type);
    });
  }

  /** `ONLY schema.table` for ordinary tables, `schema.table` for partitioned ones (rows live in partitions). */
  private from(table: SourceTable, signal?: AbortSignal): Promise<string> {
    const ref = { schema: table.ref.schema ?? this.schema, name: table.ref.name };
    const name = qualify(ref);
    let clause = this.fromClauses.get(name);
    if (!clause) {
      clause = this.query(
        `SELECT c.relkind AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
        [ref.schema, ref.name],
        signal,
      ).then(([row]) => {
        if (!row)
          throw new FreightError(
            'TABLE_NOT_FOUND',
            `table ${ref.schema}.${ref.name} does not exist in the source`,
          );
        return row.kind === 'p' ? name : `ONLY ${name}`;
      });
      clause.catch(() => this.fromClauses.delete(name));
      this.fromClauses.set(name, clause);
    }
    return clause;
  }
}

/** Key bounds as `$n` parameters: PostgreSQL infers each one's type from the key column it meets. */
function rangeSql(params: unknown[]): RangeSql {
  return {
    style: 'row',
    quote: quoteIdent,
    value: (_column, v) => {
      params.push(v);
      return `$${params.length}`;
    },
  };
}

function probeSql(p: Probe): string {
  const c = quoteIdent(p.column);
  switch (p.kind) {
    case 'only-01':
      return `COALESCE(bool_and(${c}::text IN ('0', '1')), true)`;
    case 'outside-day':
      return `COALESCE(bool_or(${c}::text >= '24:00:00' COLLATE "C"), false)`;
    case 'has-empty':
      return `COALESCE(bool_or(${c}::text = ''), false)`;
    case 'max':
      return `max(${c})::text`;
  }
}
