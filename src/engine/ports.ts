import type { SourceType, TargetTypeKind } from '../domain/column-types.js';
import type { ConnectionConfig } from '../domain/connection.js';
import type { FreightError } from '../domain/errors.js';
import type { TablePlan, TableRef } from './plan.js';

/**
 * The connector contract (DESIGN.md §1): every database implements these small interfaces and
 * the engine knows nothing else about it. Differences between databases are capability flags.
 *
 * Values travel as positional rows in *canonical form* (see `value-codec.ts`): strings for
 * decimals, big integers, dates and JSON; Buffers for bytes; never a lossy JS Number or Date.
 */

export type Row = unknown[];
export type KeyTuple = readonly unknown[];

/** A batch's key range `[lo, hi)`; `null` is unbounded on that side. */
export interface KeyRange {
  readonly lo: KeyTuple | null;
  readonly hi: KeyTuple | null;
}

export type ColumnDefault =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'current_timestamp' }
  | { readonly kind: 'expression'; readonly sql: string };

export interface SourceColumn {
  readonly name: string;
  readonly nativeType: string;
  readonly type: SourceType;
  readonly nullable: boolean;
  readonly default?: ColumnDefault;
  readonly autoIncrement?: boolean;
  readonly onUpdateCurrentTimestamp?: boolean;
  /** Computed by the source; not copied. */
  readonly generated?: { readonly expression: string; readonly stored: boolean };
}

export interface SourceIndex {
  readonly name: string;
  readonly unique: boolean;
  readonly kind: 'btree' | 'fulltext' | 'spatial' | 'other';
  readonly columns: ReadonlyArray<{
    readonly name: string;
    readonly prefixLength?: number;
    readonly descending?: boolean;
  }>;
  /** Set when the index has parts Freight cannot carry (expressions); it is then skipped. */
  readonly unsupported?: string;
}

export interface SourceForeignKey {
  readonly name: string;
  readonly columns: readonly string[];
  readonly refTable: TableRef;
  readonly refColumns: readonly string[];
  readonly onDelete?: string;
  readonly onUpdate?: string;
}

export interface SourceTable {
  readonly ref: TableRef;
  readonly columns: readonly SourceColumn[];
  readonly primaryKey: readonly string[];
  /** Secondary indexes (not the primary key). */
  readonly indexes: readonly SourceIndex[];
  readonly foreignKeys: readonly SourceForeignKey[];
  readonly autoIncrementNext?: string;
  readonly estimatedRows: number;
}

/** Questions about the data that decide a type (MYSQL_TO_POSTGRES.md), answered in one scan. */
export type Probe =
  /** Every value is 0, 1 or NULL (TINYINT(1) → boolean). */
  | { readonly kind: 'only-01'; readonly column: string }
  /** Some value lies outside 00:00:00–23:59:59.999999 (TIME → interval). */
  | { readonly kind: 'outside-day'; readonly column: string }
  /** Some value is '' (the ENUM error value). */
  | { readonly kind: 'has-empty'; readonly column: string }
  /** The largest value, as a decimal string (identity sizing). */
  | { readonly kind: 'max'; readonly column: string };
export type ProbeResult = boolean | string | null;

/** How the engine would like values delivered; a source may ignore any of it. */
export interface ReadHints {
  /**
   * Text columns (character, ENUM, JSON) the target writes as UTF-8 bytes: the source may deliver
   * their values as Buffers holding the UTF-8 bytes instead of strings, so that text read from
   * the wire is never decoded into a JS string and encoded again (TargetCaps.textBytes).
   */
  readonly utf8Bytes?: ReadonlySet<string>;
}

export interface SourceCaps {
  readonly dialect: string;
  /** Can stream keys in key order and read key ranges (keyset batches). */
  readonly keysetReads: boolean;
}

export interface SourceConnector {
  readonly caps: SourceCaps;
  /** Where it reads from, without secrets. */
  readonly description: string;
  /** Every table of the configured database/schema. */
  listTables(signal?: AbortSignal): Promise<TableRef[]>;
  /** Throws TABLE_NOT_FOUND when the table does not exist. */
  describeTable(ref: TableRef, signal?: AbortSignal): Promise<SourceTable>;
  probe(table: SourceTable, probes: readonly Probe[], signal?: AbortSignal): Promise<ProbeResult[]>;
  /**
   * Streams key tuples in the database's own key order (never sorted in JS), starting strictly
   * after `after` when given. Chunks keep the per-row overhead low.
   */
  scanKeys(
    table: SourceTable,
    keyColumns: readonly string[],
    after: KeyTuple | null,
    signal?: AbortSignal,
  ): AsyncIterable<KeyTuple[]>;
  /**
   * Streams the rows of `columns` whose key lies in `range`, in key order; the whole table when
   * `range` is null. Memory stays bounded: rows are read as a stream, with backpressure.
   */
  readRows(
    table: SourceTable,
    columns: readonly string[],
    keyColumns: readonly string[],
    range: KeyRange | null,
    signal?: AbortSignal,
    hints?: ReadHints,
  ): AsyncIterable<Row[]>;
  countRows(table: SourceTable, signal?: AbortSignal): Promise<number>;
  close(): Promise<void>;
}

export interface TargetCaps {
  readonly dialect: string;
  /** Identifier limit in bytes (PostgreSQL: 63); names are truncated to it, collisions fail the plan. */
  readonly maxIdentifierBytes: number;
  /** Text columns can hold U+0000 (SQLite yes, PostgreSQL no: such a record is an error). */
  readonly textAllowsNul: boolean;
  /**
   * Values of text columns (varchar, char, text, json, uuid, native) may be given as Buffers of
   * UTF-8 bytes, written as they are: bytes that are not valid text are the database's record error,
   * never replaced (PostgreSQL COPY yes; SQLite no: a Buffer there is a BLOB).
   */
  readonly textBytes: boolean;
  /** Fold identifiers to lower case when that keeps them unique (PostgreSQL convention). */
  readonly foldIdentifiers: boolean;
  /**
   * A failed write aborts the chunk, the statement and the transaction (PostgreSQL COPY): the engine
   * isolates bad records with savepoints and bisection. When false the target reports failed rows
   * itself from `writeChunk` and keeps the rest (SQLite row inserts).
   */
  readonly atomicChunks: boolean;
  /** How many batches may write at once (SQLite: 1 writer). */
  readonly maxConcurrentWriters: number;
  /** Target type kinds it has natively; the mapping falls back (boolean → int16, ...) for others. */
  readonly types: ReadonlySet<TargetTypeKind>;
}

export interface FinalizeReport {
  readonly done: string[];
  readonly failed: Array<{ readonly what: string; readonly error: string }>;
}

export interface TargetConnector {
  readonly caps: TargetCaps;
  readonly description: string;
  /** The schema new tables go to (PostgreSQL: from the URL, default public). */
  readonly defaultSchema: string | undefined;
  /** Column names of an existing table, or null when it does not exist. */
  tableColumns(ref: TableRef, signal?: AbortSignal): Promise<string[] | null>;
  /** Creates the table with its columns, primary key and CHECKs; indexes come after the load. */
  createTable(plan: TablePlan, signal?: AbortSignal): Promise<void>;
  /** Secondary indexes, identity/sequence values, triggers, generated columns. Idempotent. */
  finalizeTable(plan: TablePlan, signal?: AbortSignal): Promise<FinalizeReport>;
  /** Foreign keys, once every table of the job is loaded. Idempotent. */
  createForeignKeys(plan: TablePlan, signal?: AbortSignal): Promise<FinalizeReport>;
  /** Opens a transaction for one batch of `plan`'s table. */
  openBatch(plan: TablePlan, signal?: AbortSignal): Promise<BatchWriter>;
  countRows(ref: TableRef, signal?: AbortSignal): Promise<number>;
  /** Streams the table's rows in canonical form (for checksums), any order. */
  readRows(plan: TablePlan, signal?: AbortSignal): AsyncIterable<Row[]>;
  close(): Promise<void>;
}

export interface RowFailure {
  /** Index of the row within the chunk given to `writeChunk`. */
  readonly index: number;
  readonly error: FreightError;
}

/**
 * One batch's transaction on the target. A batch deletes what an earlier attempt may have written
 * and writes its rows, all in one transaction, so running a batch twice gives the same state.
 */
export interface BatchWriter {
  deleteRange(range: KeyRange): Promise<void>;
  deleteKeys(keys: readonly KeyTuple[]): Promise<void>;
  deleteAll(): Promise<void>;
  /** Fast path: streams every row (PostgreSQL: one COPY). Any failure throws. */
  writeStream(chunks: AsyncIterable<Row[]>): Promise<number>;
  /** Writes one chunk. Atomic targets throw on a bad row; the others return the failures. */
  writeChunk(rows: readonly Row[]): Promise<RowFailure[]>;
  savepoint(): Promise<void>;
  rollbackToSavepoint(): Promise<void>;
  releaseSavepoint(): Promise<void>;
  commit(): Promise<void>;
  /** Rolls back and releases the connection; safe to call after a failure or twice. */
  rollback(): Promise<void>;
}

/** Opens connectors for a job (connectors/index.ts; tests add the in-memory fake). */
export interface Connectors {
  openSource(config: ConnectionConfig, options: { poolSize: number }): Promise<SourceConnector>;
  openTarget(config: ConnectionConfig, options: { poolSize: number }): Promise<TargetConnector>;
}
