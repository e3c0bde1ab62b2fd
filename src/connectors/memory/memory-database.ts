import type { SourceType, TargetTypeKind } from '../../domain/column-types.js';
import type { KeyTuple, Row } from '../../engine/ports.js';

/**
 * An in-memory database for engine tests (STYLE.md: dlt's dummy destination). It is a fake that
 * fails on demand: `faults` hooks run before reads and writes and may throw any error (a
 * FreightError TRANSIENT to test retries, DATA_ERROR for bisection) or wait (for cancellation).
 */
export interface MemoryColumn {
  readonly name: string;
  readonly type: SourceType;
  readonly nullable?: boolean;
}

export interface MemoryTable {
  readonly columns: MemoryColumn[];
  readonly primaryKey: string[];
  rows: Row[];
}

export interface MemoryFaults {
  /** Called before each chunk a source read returns. */
  beforeRead?: (table: string, chunkIndex: number) => void | Promise<void>;
  /** Called with each chunk a target writes (inside the batch's transaction). */
  beforeWrite?: (table: string, rows: readonly Row[]) => void | Promise<void>;
  /** Called before a batch commits. */
  beforeCommit?: (table: string) => void | Promise<void>;
}

export class MemoryDatabase {
  readonly tables = new Map<string, MemoryTable>();
  faults: MemoryFaults = {};
  /** Target options: a target that cannot roll back a bad chunk isolates rows itself. */
  atomicChunks = true;
  types: ReadonlySet<TargetTypeKind> | null = null;
  commits = 0;
  /** Tables whose indexes were built (finalizeTable calls), in order. */
  readonly finalized: string[] = [];

  table(name: string): MemoryTable {
    const t = this.tables.get(name);
    if (!t) throw new Error(`memory table ${name} does not exist`);
    return t;
  }

  keyOf(table: MemoryTable, row: Row): KeyTuple {
    return table.primaryKey.map((k) => row[table.columns.findIndex((c) => c.name === k)]);
  }
}

const registry = new Map<string, MemoryDatabase>();

/** The database named `name` (created on first use). */
export function memoryDatabase(name: string): MemoryDatabase {
  let db = registry.get(name);
  if (!db) {
    db = new MemoryDatabase();
    registry.set(name, db);
  }
  return db;
}

export function dropMemoryDatabase(name: string): void {
  registry.delete(name);
}

/** Orders key tuples the way this fake database orders them (it is the database here). */
export function compareKeys(a: KeyTuple, b: KeyTuple): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number | string;
    const y = b[i] as number | string;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return 0;
}
