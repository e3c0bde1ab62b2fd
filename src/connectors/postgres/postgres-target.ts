import { once } from 'node:events';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { TargetTypeKind } from '../../domain/column-types.js';
import { describeConnection } from '../../domain/connection.js';
import { FreightError } from '../../domain/errors.js';
import type { TablePlan, TableRef } from '../../engine/plan.js';
import type {
  BatchWriter,
  FinalizeReport,
  KeyRange,
  KeyTuple,
  Row,
  RowFailure,
  TargetCaps,
  TargetConnector,
} from '../../engine/ports.js';
import { keyRangePredicate } from '../sql-range.js';
import {
  BINARY_HEADER,
  BINARY_TRAILER,
  binaryKinds,
  binaryMatches,
  compileBinaryEncoder,
} from './postgres-binary.js';
import { compileRowEncoder } from './postgres-copy.js';
import {
  addForeignKeySql,
  addGeneratedColumnSql,
  createIndexSql,
  createTableSql,
  identityResetSql,
  onUpdateTriggerSql,
} from './postgres-ddl.js';
import { postgresError } from './postgres-errors.js';
import { connectPg } from './postgres-query.js';
import {
  createPgPool,
  qualify,
  quoteIdent,
  quoteLiteral,
  type PostgresConfig,
} from './postgres-pool.js';
import { readPgRows } from './postgres-read.js';
import { PG_TARGET_TYPES, pgTypeName } from './postgres-types.js';

/**
 * PostgreSQL target: COPY text into one transaction per batch; DDL from the plan; indexes, foreign
 * keys, identity values and triggers after the load.
 */
export class PostgresTarget implements TargetConnector {
  readonly description: string;
  readonly defaultSchema: string;
  private readonly pool: pg.Pool;
  private readonly secrets: string[];
  private capsValue: TargetCaps;

  private constructor(config: PostgresConfig, poolSize: number) {
    this.description = describeConnection(config);
    this.defaultSchema = config.schema ?? 'public';
    this.secrets = config.password ? [config.password] : [];
    this.pool = createPgPool(config, poolSize);
    this.capsValue = capsWith(PG_TARGET_TYPES);
  }

  /** Connects once to fail fast (unreachable, wrong password) and to learn about PostGIS. */
  static async open(
    config: PostgresConfig,
    options: { poolSize?: number } = {},
  ): Promise<PostgresTarget> {
    const target = new PostgresTarget(config, options.poolSize ?? 8);
    try {
      const { rows } = await target.query(`SELECT 1 FROM pg_extension WHERE extname = 'postgis'`);
      if (rows.length > 0) target.capsValue = capsWith(new Set([...PG_TARGET_TYPES, 'geometry']));
    } catch (error) {
      await target.close();
      throw error;
    }
    return target;
  }

  get caps(): TargetCaps {
    return this.capsValue;
  }

  private async query(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    try {
      return await this.pool.query(sql, params);
    } catch (error) {
      throw postgresError(error, this.description, this.secrets);
    }
  }

  async tableColumns(ref: TableRef): Promise<string[] | null> {
    const { rows } = await this.query(
      `SELECT a.attname AS name FROM pg_attribute a
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [qualify(this.ref(ref))],
    );
    if (rows.length > 0) return rows.map((r) => String(r.name));
    const { rows: exists } = await this.query(`SELECT to_regclass($1) IS NOT NULL AS e`, [
      qualify(this.ref(ref)),
    ]);
    return exists[0]?.e === 't' ? [] : null;
  }

  async createTable(plan: TablePlan): Promise<void> {
    if (plan.target.schema)
      await this.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(plan.target.schema)}`).catch(
        (e: FreightError) => {
          if (e.dbCode !== '23505' && e.dbCode !== '42P06') throw e;
        },
      );
    try {
      await this.query(createTableSql(plan));
    } catch (error) {
      const e = error as FreightError;
      // Another job created the same table at the same moment (42P07, or 23505 on pg_type).
      if (e.dbCode === '42P07' || e.dbCode === '23505') {
        throw new FreightError(
          'SCHEMA_CONFLICT',
          `target table ${qualify(plan.target)} was created by someone else while this job was preparing; run the job again to load into it`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  async finalizeTable(plan: TablePlan): Promise<FinalizeReport> {
    const report: FinalizeReport = { done: [], failed: [] };
    const step = async (what: string, sqls: string[]) => {
      try {
        for (const sql of sqls) await this.query(sql);
        report.done.push(what);
      } catch (error) {
        report.failed.push({ what, error: (error as Error).message });
      }
    };
    // Generated columns first: secondary indexes may cover them.
    for (const g of plan.generated)
      await step(`generated column ${g.name}`, [addGeneratedColumnSql(plan, g)]);
    for (const index of plan.indexes)
      await step(`index ${index.name}`, [
        `${INDEX_BUILD_SETTINGS}; ${createIndexSql(plan, index)}`,
      ]);
    for (const c of plan.columns.filter((col) => col.identity))
      await step(`identity ${c.name}`, [identityResetSql(plan, c)]);
    for (const c of plan.columns.filter((col) => col.onUpdateNow))
      await step(`on-update trigger ${c.name}`, onUpdateTriggerSql(plan, c));
    return report;
  }

  async createForeignKeys(plan: TablePlan): Promise<FinalizeReport> {
    const report: FinalizeReport = { done: [], failed: [] };
    for (const fk of plan.foreignKeys) {
      try {
        const { rows } = await this.query(
          `SELECT 1 FROM pg_constraint WHERE conname = $1 AND conrelid = to_regclass($2)`,
          [fk.name, qualify(plan.target)],
        );
        if (rows.length === 0) await this.query(addForeignKeySql(plan, fk));
        report.done.push(`foreign key ${fk.name}`);
      } catch (error) {
        report.failed.push({ what: `foreign key ${fk.name}`, error: (error as Error).message });
      }
    }
    return report;
  }

  async openBatch(plan: TablePlan): Promise<BatchWriter> {
    const client = await connectPg(this.pool, this.description, this.secrets);
    try {
      const oids = await binaryColumnTypes(client, plan);
      return new PostgresBatchWriter(client, plan, oids, this.description, this.secrets);
    } catch (error) {
      client.release(true);
      throw postgresError(error, this.description, this.secrets);
    }
  }

  async countRows(ref: TableRef): Promise<number> {
    const { rows } = await this.query(`SELECT count(*) AS n FROM ${qualify(this.ref(ref))}`);
    return Number(rows[0]?.n ?? 0);
  }

  async *readRows(plan: TablePlan, signal?: AbortSignal): AsyncIterable<Row[]> {
    const columns = plan.columns.map((c) => quoteIdent(c.name)).join(', ');
    yield* readPgRows(
      this.pool,
      `SELECT ${columns} FROM ${qualify(plan.target)}`,
      [],
      plan.columns.map((c) => c.type),
      { where: this.description, secrets: this.secrets, ...(signal ? { signal } : {}) },
    );
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }

  private ref(ref: TableRef): TableRef {
    return ref.schema ? ref : { schema: this.defaultSchema, name: ref.name };
  }
}

function capsWith(types: ReadonlySet<TargetTypeKind>): TargetCaps {
  return {
    dialect: 'postgresql',
    maxIdentifierBytes: 63,
    foldIdentifiers: true,
    textAllowsNul: false,
    textBytes: true,
    atomicChunks: true,
    maxConcurrentWriters: Number.POSITIVE_INFINITY,
    types,
  };
}

/**
 * One batch's transaction: DELETE of what an earlier attempt wrote, then COPY. The transaction
 * opens with the first statement that needs one; a first attempt that only copies runs its COPY
 * alone — a single statement is atomic by itself, and it saves two round trips per batch.
 */
class PostgresBatchWriter implements BatchWriter {
  private readonly table: string;
  private readonly copySql: string;
  private readonly encode: (rows: readonly Row[]) => Buffer;
  private savepoints = 0;
  private released = false;
  private broken = false;
  private inTransaction = false;

  private readonly binary: boolean;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly plan: TablePlan,
    binaryOids: readonly number[] | null,
    private readonly where: string,
    private readonly secrets: readonly string[],
  ) {
    this.table = qualify(plan.target);
    const types = plan.columns.map((c) => c.type);
    this.binary = binaryOids !== null;
    this.copySql = `COPY ${this.table} (${plan.columns.map((c) => quoteIdent(c.name)).join(', ')}) FROM STDIN${this.binary ? ' (FORMAT binary)' : ''}`;
    this.encode = binaryOids ? compileBinaryEncoder(types, binaryOids) : compileRowEncoder(types);
  }

  private async begin(): Promise<void> {
    if (this.inTransaction) return;
    await this.run('BEGIN');
    this.inTransaction = true;
  }

  async deleteRange(range: KeyRange): Promise<void> {
    await this.begin();
    const params: unknown[] = [];
    const keyNames = this.plan.keyPositions.map((p) => this.plan.columns[p]!.name);
    const predicate = keyRangePredicate(keyNames, range, {
      style: 'row',
      quote: quoteIdent,
      value: (_column, v) => {
        params.push(v);
        return `$${params.length}`;
      },
    });
    await this.run(`DELETE FROM ${this.table} WHERE ${predicate}`, params);
  }

  async deleteKeys(keys: readonly KeyTuple[]): Promise<void> {
    if (keys.length === 0) return;
    await this.begin();
    const columns = this.plan.keyPositions.map((p) => this.plan.columns[p]!);
    const arrays = columns.map((_, i) => keys.map((k) => k[i]));
    if (columns.length === 1) {
      await this.run(
        `DELETE FROM ${this.table} WHERE ${quoteIdent(columns[0]!.name)} = ANY($1::${pgTypeName(columns[0]!.type)}[])`,
        arrays,
      );
      return;
    }
    const names = columns.map((c) => quoteIdent(c.name)).join(', ');
    const unnest = columns.map((c, i) => `$${i + 1}::${pgTypeName(c.type)}[]`).join(', ');
    await this.run(
      `DELETE FROM ${this.table} WHERE (${names}) IN (SELECT * FROM unnest(${unnest}))`,
      arrays,
    );
  }

  async deleteAll(): Promise<void> {
    await this.begin();
    await this.run(`DELETE FROM ${this.table}`);
  }

  async writeStream(chunks: AsyncIterable<Row[]>): Promise<number> {
    const { encode, binary } = this;
    return this.copy(
      (async function* () {
        if (binary) yield BINARY_HEADER;
        for await (const rows of chunks) if (rows.length > 0) yield encode(rows);
        if (binary) yield BINARY_TRAILER;
      })(),
    );
  }

  async writeChunk(rows: readonly Row[]): Promise<RowFailure[]> {
    if (rows.length === 0) return [];
    const data = this.encode(rows);
    await this.copy(this.binary ? [BINARY_HEADER, data, BINARY_TRAILER] : [data]);
    return [];
  }

  async savepoint(): Promise<void> {
    await this.begin();
    this.savepoints++;
    await this.run(`SAVEPOINT freight_${this.savepoints}`);
  }

  async rollbackToSavepoint(): Promise<void> {
    await this.run(`ROLLBACK TO SAVEPOINT freight_${this.savepoints}`);
    await this.run(`RELEASE SAVEPOINT freight_${this.savepoints}`);
    this.savepoints--;
  }

  async releaseSavepoint(): Promise<void> {
    await this.run(`RELEASE SAVEPOINT freight_${this.savepoints}`);
    this.savepoints--;
  }

  async commit(): Promise<void> {
    try {
      if (this.inTransaction) await this.run('COMMIT');
    } finally {
      this.release();
    }
  }

  async rollback(): Promise<void> {
    if (this.released) return;
    if (!this.broken && this.inTransaction) {
      try {
        await this.client.query('ROLLBACK');
      } catch {
        this.broken = true;
      }
    }
    this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.client.release(this.broken ? true : undefined);
  }

  private async run(sql: string, params: unknown[] = []): Promise<void> {
    try {
      await this.client.query(sql, params);
    } catch (error) {
      throw this.fail(error);
    }
  }

  private fail(error: unknown): Error {
    const e = postgresError(error, this.where, this.secrets);
    if (e.kind === 'transient') this.broken = true;
    return e;
  }

  /** Streams COPY text; on any failure the COPY is aborted (CopyFail) and the error rethrown. */
  private async copy(texts: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<number> {
    const stream = this.client.query(copyFrom(this.copySql));
    let serverError: unknown = null;
    stream.on('error', (error) => {
      serverError ??= error;
    });
    try {
      for await (const text of texts) {
        if (serverError) break;
        if (!stream.write(text)) await once(stream, 'drain');
      }
      if (serverError) throw serverError;
      await new Promise<void>((resolve, reject) => {
        stream.once('error', reject);
        stream.end(() => resolve());
      });
      return stream.rowCount;
    } catch (error) {
      const first = serverError ?? error;
      // An error from the connection (the server's ErrorResponse, or the connection lost) has
      // already ended the COPY: pg-copy-streams has let go of the connection, and destroying the
      // stream then would wait for a CopyInResponse that never comes when the connection died
      // before the server accepted the COPY. Only a failure on our side (the source) needs a
      // CopyFail to end the COPY and keep the connection usable; if the server does not answer
      // it in time, the connection is thrown away instead of reused.
      if (!serverError && !stream.destroyed) {
        stream.destroy(first instanceof Error ? first : new Error(String(first)));
        if (!(await settlesWithin(once(stream, 'close'), COPY_ABORT_TIMEOUT_MS)))
          this.broken = true;
      }
      throw this.fail(first);
    }
  }
}

/**
 * The actual column types (OIDs) of the plan's table when every column can be written in COPY
 * BINARY (postgres-binary.ts), else null (COPY text). Read before each batch: the table is the
 * user's, and a binary field sent to a column of another type would be misread, not rejected.
 */
async function binaryColumnTypes(client: pg.PoolClient, plan: TablePlan): Promise<number[] | null> {
  const types = plan.columns.map((c) => c.type);
  if (!binaryKinds(types)) return null;
  const { rows } = await client.query<{ name: string; oid: number }>(
    `SELECT attname AS name, atttypid::int AS oid FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
    [qualify(plan.target)],
  );
  const oids = new Map(rows.map((r) => [r.name, Number(r.oid)]));
  const matched = plan.columns.map((c) => oids.get(c.name));
  return matched.every((oid, i) => oid !== undefined && binaryMatches(types[i]!.kind, oid))
    ? (matched as number[])
    : null;
}

/**
 * Run with each index build, in its implicit transaction (the pooled session keeps its settings):
 * a build sorts in memory up to maintenance_work_mem, and the server gives it one parallel worker
 * per 32 MB of it; 128 MB (pgloader's setting) where the server has less.
 */
const INDEX_BUILD_SETTINGS = `SELECT set_config('maintenance_work_mem', '128MB', true)
  WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('128MB')`;

/** How long an aborted COPY (CopyFail) may take to be acknowledged before its connection is dropped. */
const COPY_ABORT_TIMEOUT_MS = 10_000;

/** True when `promise` settles (either way) within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = promise.then(
    () => true,
    () => true,
  );
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export { quoteLiteral };
