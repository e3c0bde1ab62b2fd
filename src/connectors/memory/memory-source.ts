import { FreightError } from '../../domain/errors.js';
import type { TableRef } from '../../engine/plan.js';
import type {
  KeyRange,
  KeyTuple,
  Probe,
  ProbeResult,
  Row,
  SourceConnector,
  SourceTable,
} from '../../engine/ports.js';
import { compareKeys, type MemoryDatabase } from './memory-database.js';

const CHUNK = 100;

/** Source side of the in-memory fake. */
export class MemorySource implements SourceConnector {
  readonly caps = { dialect: 'memory', keysetReads: true };
  readonly description: string;

  constructor(
    private readonly db: MemoryDatabase,
    name: string,
  ) {
    this.description = `memory:${name}`;
  }

  async listTables(): Promise<TableRef[]> {
    return [...this.db.tables.keys()].map((name) => ({ name }));
  }

  async describeTable(ref: TableRef): Promise<SourceTable> {
    const t = this.db.tables.get(ref.name);
    if (!t)
      throw new FreightError('TABLE_NOT_FOUND', `table ${ref.name} does not exist in the source`);
    return {
      ref: { name: ref.name },
      columns: t.columns.map((c) => ({
        name: c.name,
        nativeType: c.type.kind,
        type: c.type,
        nullable: c.nullable ?? true,
      })),
      primaryKey: [...t.primaryKey],
      indexes: [],
      foreignKeys: [],
      estimatedRows: t.rows.length,
    };
  }

  async probe(table: SourceTable, probes: readonly Probe[]): Promise<ProbeResult[]> {
    const t = this.db.table(table.ref.name);
    return probes.map((p) => {
      const i = t.columns.findIndex((c) => c.name === p.column);
      const values = t.rows.map((r) => r[i]).filter((v) => v !== null && v !== undefined);
      if (p.kind === 'only-01') return values.every((v) => v === 0 || v === 1);
      if (p.kind === 'has-empty') return values.includes('');
      if (p.kind === 'outside-day')
        return values.some(
          (v) => String(v).startsWith('-') || Number(String(v).split(':')[0]) >= 24,
        );
      return values.length === 0
        ? null
        : String(values.reduce((a, b) => (BigInt(String(a)) > BigInt(String(b)) ? a : b)));
    });
  }

  async *scanKeys(
    table: SourceTable,
    keyColumns: readonly string[],
    after: KeyTuple | null,
  ): AsyncIterable<KeyTuple[]> {
    const t = this.db.table(table.ref.name);
    const positions = keyColumns.map((k) => t.columns.findIndex((c) => c.name === k));
    const keys = t.rows
      .map((r) => positions.map((p) => r[p]))
      .filter((k) => after === null || compareKeys(k, after) > 0)
      .sort(compareKeys);
    for (let i = 0; i < keys.length; i += CHUNK) yield keys.slice(i, i + CHUNK);
  }

  async *readRows(
    table: SourceTable,
    columns: readonly string[],
    keyColumns: readonly string[],
    range: KeyRange | null,
    signal?: AbortSignal,
  ): AsyncIterable<Row[]> {
    const t = this.db.table(table.ref.name);
    const keyPos = keyColumns.map((k) => t.columns.findIndex((c) => c.name === k));
    const colPos = columns.map((k) => t.columns.findIndex((c) => c.name === k));
    const rows = t.rows
      .filter((r) => {
        if (!range) return true;
        const key = keyPos.map((p) => r[p]);
        return (
          (range.lo === null || compareKeys(key, range.lo) >= 0) &&
          (range.hi === null || compareKeys(key, range.hi) < 0)
        );
      })
      .sort((a, b) =>
        compareKeys(
          keyPos.map((p) => a[p]),
          keyPos.map((p) => b[p]),
        ),
      );
    for (let i = 0, chunk = 0; i < rows.length; i += CHUNK, chunk++) {
      signal?.throwIfAborted();
      await this.db.faults.beforeRead?.(table.ref.name, chunk);
      signal?.throwIfAborted();
      yield rows
        .slice(i, i + CHUNK)
        .map((r) =>
          colPos.map((p) => (Buffer.isBuffer(r[p]) ? Buffer.from(r[p] as Buffer) : r[p])),
        );
    }
  }

  async countRows(table: SourceTable): Promise<number> {
    return this.db.table(table.ref.name).rows.length;
  }

  async close(): Promise<void> {}
}
