import { targetKindsExcept } from '../../domain/column-types.js';
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
import { compareKeys, type MemoryDatabase, type MemoryTable } from './memory-database.js';

/** Every kind but another database's native types, unless the test database says otherwise. */
const DEFAULT_TYPES = targetKindsExcept('native');

/**
 * Target side of the in-memory fake: transactions with savepoints, a primary key that rejects
 * duplicates (as a real database would), and the fault hooks of its `MemoryDatabase`.
 */
export class MemoryTarget implements TargetConnector {
  readonly description: string;
  readonly defaultSchema = undefined;
  readonly caps: TargetCaps;
  constructor(
    private readonly db: MemoryDatabase,
    name: string,
  ) {
    this.description = `memory:${name}`;
    this.caps = {
      dialect: 'memory',
      maxIdentifierBytes: 63,
      foldIdentifiers: false,
      textAllowsNul: true,
      textBytes: false,
      atomicChunks: db.atomicChunks,
      maxConcurrentWriters: Number.POSITIVE_INFINITY,
      types: db.types ?? DEFAULT_TYPES,
    };
  }

  async tableColumns(ref: TableRef): Promise<string[] | null> {
    return this.db.tables.get(ref.name)?.columns.map((c) => c.name) ?? null;
  }

  async createTable(plan: TablePlan): Promise<void> {
    if (this.db.tables.has(plan.target.name))
      throw new FreightError('SCHEMA_CONFLICT', `table ${plan.target.name} exists`);
    this.db.tables.set(plan.target.name, {
      columns: plan.columns.map((c) => ({
        name: c.name,
        type: c.sourceType,
        nullable: c.nullable,
      })),
      primaryKey: [...plan.primaryKey],
      rows: [],
    });
  }

  async finalizeTable(plan: TablePlan): Promise<FinalizeReport> {
    this.db.finalized.push(plan.target.name);
    return { done: plan.indexes.map((i) => `index ${i.name}`), failed: [] };
  }

  async createForeignKeys(): Promise<FinalizeReport> {
    return { done: [], failed: [] };
  }

  async openBatch(plan: TablePlan): Promise<BatchWriter> {
    return new MemoryBatchWriter(this.db, this.db.table(plan.target.name), plan);
  }

  async countRows(ref: TableRef): Promise<number> {
    return this.db.table(ref.name).rows.length;
  }

  async *readRows(plan: TablePlan): AsyncIterable<Row[]> {
    yield this.db.table(plan.target.name).rows.map((r) => [...r]);
  }

  async close(): Promise<void> {}
}

type Op = { kind: 'delete'; match: (key: KeyTuple) => boolean } | { kind: 'insert'; rows: Row[] };

class MemoryBatchWriter implements BatchWriter {
  private ops: Op[] = [];
  private readonly marks: number[] = [];
  private readonly keyPositions: number[];

  constructor(
    private readonly db: MemoryDatabase,
    private readonly table: MemoryTable,
    private readonly plan: TablePlan,
  ) {
    this.keyPositions = table.primaryKey.map((k) => table.columns.findIndex((c) => c.name === k));
  }

  private key(row: Row): KeyTuple {
    return this.keyPositions.map((p) => row[p]);
  }

  async deleteRange(range: KeyRange): Promise<void> {
    this.ops.push({
      kind: 'delete',
      match: (k) =>
        (range.lo === null || compareKeys(k, range.lo) >= 0) &&
        (range.hi === null || compareKeys(k, range.hi) < 0),
    });
  }

  async deleteKeys(keys: readonly KeyTuple[]): Promise<void> {
    const wanted = new Set(keys.map((k) => JSON.stringify(k)));
    this.ops.push({ kind: 'delete', match: (k) => wanted.has(JSON.stringify(k)) });
  }

  async deleteAll(): Promise<void> {
    this.ops.push({ kind: 'delete', match: () => true });
  }

  async writeStream(chunks: AsyncIterable<Row[]>): Promise<number> {
    let n = 0;
    for await (const rows of chunks) {
      await this.write(rows);
      n += rows.length;
    }
    return n;
  }

  async writeChunk(rows: readonly Row[]): Promise<RowFailure[]> {
    if (this.db.atomicChunks) {
      await this.write(rows);
      return [];
    }
    const failures: RowFailure[] = [];
    for (const [index, row] of rows.entries()) {
      try {
        await this.write([row]);
      } catch (error) {
        if (!(error instanceof FreightError) || error.kind !== 'data') throw error;
        failures.push({ index, error });
      }
    }
    return failures;
  }

  /** Applies the pending ops to a copy of the table; throws DATA_ERROR on a duplicate key. */
  private async write(rows: readonly Row[]): Promise<void> {
    await this.db.faults.beforeWrite?.(this.plan.target.name, rows);
    if (this.keyPositions.length > 0) {
      const present = new Set(this.apply().map((r) => JSON.stringify(this.key(r))));
      for (const row of rows) {
        const k = JSON.stringify(this.key(row));
        if (present.has(k))
          throw new FreightError('DATA_ERROR', `duplicate key ${k} in ${this.plan.target.name}`);
        present.add(k);
      }
    }
    this.ops.push({ kind: 'insert', rows: rows.map((r) => [...r]) });
  }

  private apply(): Row[] {
    let rows = this.table.rows;
    for (const op of this.ops) {
      if (op.kind === 'delete') rows = rows.filter((r) => !op.match(this.key(r)));
      else rows = [...rows, ...op.rows];
    }
    return rows;
  }

  async savepoint(): Promise<void> {
    this.marks.push(this.ops.length);
  }

  async rollbackToSavepoint(): Promise<void> {
    this.ops.length = this.marks.pop()!;
  }

  async releaseSavepoint(): Promise<void> {
    this.marks.pop();
  }

  async commit(): Promise<void> {
    await this.db.faults.beforeCommit?.(this.plan.target.name);
    this.table.rows = this.apply();
    this.db.commits++;
    this.ops = [];
  }

  async rollback(): Promise<void> {
    this.ops = [];
  }
}
