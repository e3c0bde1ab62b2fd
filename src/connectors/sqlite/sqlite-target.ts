import { describeConnection } from '../../domain/connection.js';
import { FreightError } from '../../domain/errors.js';
import type { TablePlan, TableRef } from '../../engine/plan.js';
import type {
  BatchWriter,
  FinalizeReport,
  Row,
  TargetCaps,
  TargetConnector,
} from '../../engine/ports.js';
import { chunkIterator } from '../stream-chunks.js';
import { DECIMAL_CMP, SqliteBatchWriter } from './sqlite-batch-writer.js';
import {
  openSqliteReadOnly,
  openSqliteWritable,
  quoteIdent,
  type Db,
  type SqliteConfig,
} from './sqlite-database.js';
import {
  addGeneratedColumnSql,
  createIndexSql,
  createTableSql,
  onUpdateTriggerSql,
  rowidColumn,
  tableName,
} from './sqlite-ddl.js';
import { sqliteError } from './sqlite-errors.js';
import { SQLITE_TARGET_TYPES } from './sqlite-type-map.js';
import { compareDecimals, decodeRow, targetDecoder } from './sqlite-values.js';

type Rec = Record<string, unknown>;

const READ_CHUNK = 2000;

/**
 * SQLite target: one writer at a time (batches queue for the connection), one transaction per
 * batch, rows inserted one by one so a bad row is reported and the others commit. The file and its
 * directory are created when missing; WAL journal. Tables get declared types whose affinity keeps
 * every value as given (sqlite-type-map.ts); foreign keys are declared with the table (sqlite-ddl.ts).
 */
export class SqliteTarget implements TargetConnector {
  readonly caps: TargetCaps = {
    dialect: 'sqlite',
    maxIdentifierBytes: 1024,
    foldIdentifiers: false,
    textAllowsNul: true,
    textBytes: false,
    atomicChunks: false,
    maxConcurrentWriters: 1,
    types: SQLITE_TARGET_TYPES,
  };
  readonly description: string;
  readonly defaultSchema = undefined;
  private queue: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: Db,
    private readonly path: string,
  ) {
    this.description = describeConnection({ type: 'sqlite', path });
    db.function(
      DECIMAL_CMP,
      { deterministic: true, safeIntegers: true },
      (a: unknown, b: unknown) => compareDecimals(a, b),
    );
  }

  /** Opens or creates the file (and its directory). */
  static async open(
    config: SqliteConfig,
    _options: { poolSize?: number } = {},
  ): Promise<SqliteTarget> {
    return new SqliteTarget(openSqliteWritable(config.path), config.path);
  }

  async tableColumns(ref: TableRef): Promise<string[] | null> {
    const name = this.existing(ref.name);
    if (name === null) return null;
    // hidden 1 = hidden column of a virtual table; 2 and 3 are generated columns.
    const rows = this.run(
      () =>
        this.db
          .prepare('SELECT name FROM pragma_table_xinfo(?) WHERE hidden <> 1 ORDER BY cid')
          .all(name) as Rec[],
    );
    return rows.map((r) => String(r.name));
  }

  /** SCHEMA_CONFLICT when the name is taken (SQLite names are case-insensitive: `Users` = `users`). */
  async createTable(plan: TablePlan): Promise<void> {
    await this.exclusive(() => {
      const taken = this.existing(plan.target.name);
      if (taken !== null) {
        throw new FreightError(
          'SCHEMA_CONFLICT',
          `cannot create table ${plan.target.name} in ${this.description}: table ${taken} exists (SQLite table names are case-insensitive)`,
        );
      }
      this.run(() => this.db.exec(createTableSql(plan)));
    });
  }

  /** Indexes, the AUTOINCREMENT counter, ON UPDATE triggers, generated columns; failures reported. */
  async finalizeTable(plan: TablePlan): Promise<FinalizeReport> {
    return this.exclusive(() => {
      const report: FinalizeReport = { done: [], failed: [] };
      const step = (what: string, fn: () => void) => {
        try {
          this.run(fn);
          report.done.push(what);
        } catch (error) {
          report.failed.push({ what, error: (error as Error).message });
        }
      };
      for (const index of plan.indexes)
        step(`index ${index.name}`, () => this.db.exec(createIndexSql(plan, index)));
      const rowid = rowidColumn(plan);
      if (rowid && plan.autoIncrementNext !== undefined && /^\d+$/.test(plan.autoIncrementNext)) {
        step(`identity ${rowid.name}`, () =>
          this.resetSequence(plan.target.name, BigInt(plan.autoIncrementNext!) - 1n),
        );
      }
      for (const c of plan.columns.filter((col) => col.onUpdateNow)) {
        step(`on-update trigger ${c.name}`, () => this.db.exec(onUpdateTriggerSql(plan, c)));
      }
      const present = new Set(
        plan.generated.length > 0 ? (this.tableColumnsSync(plan.target.name) ?? []) : [],
      );
      for (const g of plan.generated) {
        step(`generated column ${g.name} (VIRTUAL: SQLite cannot add a STORED one)`, () => {
          if (!present.has(g.name)) this.db.exec(addGeneratedColumnSql(plan, g));
        });
      }
      return report;
    });
  }

  /**
   * SQLite cannot add a foreign key to an existing table: tables this job created declare theirs
   * (sqlite-ddl.ts), so here each planned key is checked to exist and to hold for the loaded rows.
   */
  async createForeignKeys(plan: TablePlan): Promise<FinalizeReport> {
    const report: FinalizeReport = { done: [], failed: [] };
    if (plan.foreignKeys.length === 0) return report;
    const declared = this.run(
      () =>
        this.db
          .prepare('SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq')
          .all(plan.target.name) as Rec[],
    );
    for (const fk of plan.foreignKeys) {
      const what = `foreign key ${fk.name}`;
      const ids = new Set(declared.map((d) => Number(d.id)));
      const id = [...ids].find((i) => {
        const parts = declared.filter((d) => Number(d.id) === i);
        return (
          String(parts[0]!.table).toLowerCase() === fk.refTable.name.toLowerCase() &&
          parts.map((p) => String(p.from)).join('\0') === fk.columns.join('\0') &&
          parts.every((p, j) => p.to === null || String(p.to) === fk.refColumns[j])
        );
      });
      if (id === undefined) {
        report.failed.push({ what, error: 'SQLite cannot add a foreign key to an existing table' });
        continue;
      }
      try {
        const violations = this.db
          .prepare(`SELECT count(*) AS n FROM pragma_foreign_key_check(?) WHERE fkid = ?`)
          .get(plan.target.name, id) as Rec;
        if (Number(violations.n) > 0)
          report.failed.push({
            what,
            error: `${Number(violations.n)} row(s) reference missing ${fk.refTable.name} rows`,
          });
        else report.done.push(what);
      } catch (error) {
        report.failed.push({ what, error: sqliteError(error, this.description).message });
      }
    }
    return report;
  }

  /** Waits for the previous batch to finish (one writer), then `BEGIN IMMEDIATE`. */
  async openBatch(plan: TablePlan, signal?: AbortSignal): Promise<BatchWriter> {
    const release = await this.acquire();
    if (signal?.aborted) {
      release();
      signal.throwIfAborted();
    }
    try {
      const writer = new SqliteBatchWriter(this.db, plan, this.description, release);
      writer.begin();
      return writer;
    } catch (error) {
      release();
      throw sqliteError(error, this.description);
    }
  }

  async countRows(ref: TableRef): Promise<number> {
    const row = this.run(
      () =>
        this.db
          .prepare(`SELECT count(*) FROM ${quoteIdent(ref.name)}`)
          .raw(true)
          .get() as unknown[],
    );
    return Number(row[0]);
  }

  /** Reads on a separate read-only connection, so the checksum never blocks or sees a writer. */
  async *readRows(plan: TablePlan, signal?: AbortSignal): AsyncIterable<Row[]> {
    const own = this.path !== ':memory:';
    const db = own ? openSqliteReadOnly(this.path) : this.db;
    try {
      const decoders = plan.columns.map((c) => targetDecoder(c.type));
      const sql = `SELECT ${plan.columns.map((c) => quoteIdent(c.name)).join(', ')} FROM ${tableName(plan)}`;
      const iterator = this.run(
        () => db.prepare(sql).raw(true).safeIntegers(true).iterate() as Iterator<Row>,
      );
      for await (const chunk of chunkIterator(iterator, READ_CHUNK, signal)) {
        for (const row of chunk) decodeRow(row, decoders);
        yield chunk;
      }
    } finally {
      if (own) db.close();
    }
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    try {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    } finally {
      this.db.close();
    }
  }

  /** AUTOINCREMENT's counter: the next id is past the source's counter and every loaded id. */
  private resetSequence(table: string, seq: bigint): void {
    const autoincrement = this.db
      .prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'`)
      .get();
    if (!autoincrement) return;
    const changed = this.db
      .prepare('UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?')
      .run(seq, table).changes;
    if (changed === 0)
      this.db.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(table, seq);
  }

  /** The stored name of a table (SQLite names are case-insensitive), or null. */
  private existing(name: string): string | null {
    const row = this.run(
      () =>
        this.db
          .prepare(
            `SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE`,
          )
          .get(name) as Rec | undefined,
    );
    return row ? String(row.name) : null;
  }

  private tableColumnsSync(name: string): string[] | null {
    const rows = this.db
      .prepare('SELECT name FROM pragma_table_xinfo(?) WHERE hidden <> 1')
      .all(name) as Rec[];
    return rows.length > 0 ? rows.map((r) => String(r.name)) : null;
  }

  /** The connection's writer slot: resolves with the function that frees it. */
  private acquire(): Promise<() => void> {
    let free!: () => void;
    const next = new Promise<void>((resolve) => (free = resolve));
    const turn = this.queue.then(() => free);
    this.queue = this.queue.then(() => next);
    return turn;
  }

  private async exclusive<T>(fn: () => T): Promise<T> {
    const release = await this.acquire();
    try {
      return fn();
    } finally {
      release();
    }
  }

  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw sqliteError(error, this.description);
    }
  }
}
