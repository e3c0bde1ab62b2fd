import type { Statement } from 'better-sqlite3';
import type { TablePlan } from '../../engine/plan.js';
import type { BatchWriter, KeyRange, KeyTuple, Row, RowFailure } from '../../engine/ports.js';
import { keyRangePredicate } from '../sql-range.js';
import { quoteIdent, type Db } from './sqlite-database.js';
import { tableName } from './sqlite-ddl.js';
import { sqliteError } from './sqlite-errors.js';
import { decimalStorage } from './sqlite-type-map.js';
import { targetEncoder, type Encoder } from './sqlite-values.js';

/** Registered on the target connection by `SqliteTarget`: exact order of decimals stored as TEXT. */
export const DECIMAL_CMP = 'freight_decimal_cmp';

/**
 * One batch's transaction on a SQLite target (`BEGIN IMMEDIATE`: the single writer). Rows are
 * inserted one prepared statement at a time; a constraint or value error fails that statement
 * only and SQLite keeps the transaction, so `writeChunk` reports the failed rows and keeps the rest
 * (the target's `atomicChunks` is false).
 */
export class SqliteBatchWriter implements BatchWriter {
  private readonly table: string;
  private readonly insert: Statement;
  private readonly encoders: Encoder[];
  private readonly keys: Array<{
    name: string;
    nullable: boolean;
    encode: Encoder;
    textDecimal: boolean;
  }>;
  private savepoints = 0;
  private finished = false;

  constructor(
    private readonly db: Db,
    plan: TablePlan,
    private readonly where: string,
    private readonly release: () => void,
  ) {
    this.table = tableName(plan);
    const names = plan.columns.map((c) => quoteIdent(c.name));
    this.insert = db.prepare(
      `INSERT INTO ${this.table} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
    );
    this.encoders = plan.columns.map((c) => targetEncoder(c.type, c.name));
    this.keys = plan.keyPositions.map((p) => {
      const c = plan.columns[p]!;
      return {
        name: c.name,
        nullable: c.nullable,
        encode: this.encoders[p]!,
        textDecimal: c.type.kind === 'decimal' && decimalStorage(c.type) === 'text',
      };
    });
  }

  /** Opens the transaction; on failure the writer is released and the error thrown. */
  begin(): void {
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      this.finish();
      throw sqliteError(error, this.where);
    }
  }

  async deleteRange(range: KeyRange): Promise<void> {
    const params: unknown[] = [];
    const bind = (i: number, v: unknown) => {
      params.push(this.keys[i]!.encode(v));
      return '?';
    };
    const names = this.keys.map((k) => k.name);
    const predicate = this.keys.some((k) => k.textDecimal)
      ? [
          ...(range.lo ? [tupleBound(this.keys, range.lo, '>', true, bind)] : []),
          ...(range.hi ? [tupleBound(this.keys, range.hi, '<', false, bind)] : []),
        ].join(' AND ') || '1 = 1'
      : keyRangePredicate(names, range, {
          style: 'row',
          quote: quoteIdent,
          value: (c, v) => bind(names.indexOf(c), v),
        });
    // Rows whose key has a NULL belong to the first batch (they are never batch boundaries).
    const nulls =
      range.lo === null
        ? this.keys.filter((k) => k.nullable).map((k) => `${quoteIdent(k.name)} IS NULL`)
        : [];
    const where = nulls.length > 0 ? `(${predicate}) OR ${nulls.join(' OR ')}` : predicate;
    this.run(() => this.db.prepare(`DELETE FROM ${this.table} WHERE ${where}`).run(params));
  }

  /** One indexed DELETE per key (no bound-parameter limit, NULL keys matched with IS). */
  async deleteKeys(keys: readonly KeyTuple[]): Promise<void> {
    if (keys.length === 0) return;
    const match = this.keys
      .map((k) => `${quoteIdent(k.name)} ${k.nullable ? 'IS' : '='} ?`)
      .join(' AND ');
    const stmt = this.db.prepare(`DELETE FROM ${this.table} WHERE ${match}`);
    this.run(() => {
      for (const key of keys)
        stmt.run(
          key.map((v, i) => (v === null || v === undefined ? null : this.keys[i]!.encode(v))),
        );
    });
  }

  async deleteAll(): Promise<void> {
    this.run(() => this.db.prepare(`DELETE FROM ${this.table}`).run());
  }

  async writeStream(chunks: AsyncIterable<Row[]>): Promise<number> {
    let n = 0;
    for await (const rows of chunks) {
      this.run(() => {
        for (const row of rows) this.insert.run(this.encode(row));
      });
      n += rows.length;
    }
    return n;
  }

  async writeChunk(rows: readonly Row[]): Promise<RowFailure[]> {
    const failures: RowFailure[] = [];
    for (let index = 0; index < rows.length; index++) {
      try {
        this.insert.run(this.encode(rows[index]!));
      } catch (error) {
        const e = sqliteError(error, this.where);
        if (e.kind !== 'data') throw e;
        failures.push({ index, error: e });
      }
    }
    return failures;
  }

  async savepoint(): Promise<void> {
    this.savepoints++;
    this.run(() => this.db.exec(`SAVEPOINT freight_${this.savepoints}`));
  }

  async rollbackToSavepoint(): Promise<void> {
    this.run(() =>
      this.db.exec(
        `ROLLBACK TO SAVEPOINT freight_${this.savepoints}; RELEASE SAVEPOINT freight_${this.savepoints}`,
      ),
    );
    this.savepoints--;
  }

  async releaseSavepoint(): Promise<void> {
    this.run(() => this.db.exec(`RELEASE SAVEPOINT freight_${this.savepoints}`));
    this.savepoints--;
  }

  async commit(): Promise<void> {
    try {
      this.run(() => this.db.exec('COMMIT'));
    } catch (error) {
      try {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
      } catch {
        // The COMMIT's error is the one worth reporting.
      }
      throw error;
    } finally {
      this.finish();
    }
  }

  async rollback(): Promise<void> {
    if (this.finished) return;
    try {
      if (this.db.open && this.db.inTransaction) this.db.exec('ROLLBACK');
    } catch {
      // The transaction is gone either way (SQLite rolls back on some errors by itself).
    } finally {
      this.finish();
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.release();
  }

  private encode(row: Row): unknown[] {
    const out = new Array<unknown>(row.length);
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      out[i] = v === null || v === undefined ? null : this.encoders[i]!(v);
    }
    return out;
  }

  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw sqliteError(error, this.where);
    }
  }
}

/**
 * `key >= tuple` (or `<`) spelled out column by column, for keys with a decimal stored as TEXT:
 * those compare through `freight_decimal_cmp`, the others with SQLite's own operators.
 */
function tupleBound(
  keys: ReadonlyArray<{ name: string; textDecimal: boolean }>,
  tuple: KeyTuple,
  op: '>' | '<',
  inclusive: boolean,
  bind: (i: number, v: unknown) => string,
): string {
  const cmp = (i: number, operator: string) => {
    const k = keys[i]!;
    const param = bind(i, tuple[i]);
    return k.textDecimal
      ? `${DECIMAL_CMP}(${quoteIdent(k.name)}, ${param}) ${operator} 0`
      : `${quoteIdent(k.name)} ${operator} ${param}`;
  };
  const ors: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const parts: string[] = [];
    for (let j = 0; j < i; j++) parts.push(cmp(j, '='));
    parts.push(cmp(i, i === keys.length - 1 && inclusive ? `${op}=` : op));
    ors.push(`(${parts.join(' AND ')})`);
  }
  return `(${ors.join(' OR ')})`;
}
