import type { ConnectionConfig } from '../../domain/connection.js';
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
import { chunkRows } from '../stream-chunks.js';
import { csvTables } from './csv-files.js';
import { checkHeader, readCsvHead } from './csv-header.js';
import { csvError, openCsvRecords, type CsvRecord } from './csv-records.js';

/** `{ type: 'csv', path, delimiter? }`: a .csv file or a directory of them. */
export type CsvConfig = Extract<ConnectionConfig, { type: 'csv' }>;

/** Records per chunk handed to the engine. */
const READ_CHUNK = 1000;

/**
 * CSV source: a file (one table) or a directory of `*.csv` files (one table each). The first
 * record is the header. A CSV file has no types and Freight never changes a value silently, so
 * every column is nullable text, exactly as written: an empty unquoted field is NULL, a quoted
 * empty field `""` is the empty string. There is no key, so the engine copies each file as one
 * batch, which `readRows` streams in chunks with bounded memory.
 *
 * A malformed file (a record with another field count than the header, a stray quote, invalid
 * UTF-8) is a SCHEMA_CONFLICT naming the file and line — a whole-job problem, not a record error.
 */
export class CsvSource implements SourceConnector {
  readonly caps: SourceCaps = { dialect: 'csv', keysetReads: false };
  readonly description: string;
  private readonly delimiter: string;

  private constructor(
    private readonly config: CsvConfig,
    private tables: Map<string, string>,
  ) {
    this.description = describeConnection(config);
    this.delimiter = config.delimiter ?? ',';
  }

  /** Checks that the path exists (DATABASE_NOT_FOUND names it) and lists its files. Delimiter: `,` by default. */
  static async open(config: CsvConfig, _options: { poolSize?: number } = {}): Promise<CsvSource> {
    if (config.delimiter !== undefined && /^["\r\n]$/.test(config.delimiter)) {
      throw new FreightError(
        'CONNECTION_CONFIG_INVALID',
        `a quote or a line break cannot be the csv delimiter`,
        {
          details: { field: 'delimiter' },
        },
      );
    }
    return new CsvSource(config, await csvTables(config.path));
  }

  async listTables(): Promise<TableRef[]> {
    this.tables = await csvTables(this.config.path);
    return [...this.tables.keys()].map((name) => ({ name }));
  }

  async describeTable(ref: TableRef, signal?: AbortSignal): Promise<SourceTable> {
    const file = await this.file(ref);
    const head = await readCsvHead(file, this.delimiter, signal);
    return {
      ref: { name: ref.name },
      columns: head.columns.map((name) => ({
        name,
        nativeType: 'text',
        type: { kind: 'text' },
        nullable: true,
      })),
      primaryKey: [],
      indexes: [],
      foreignKeys: [],
      estimatedRows: head.estimatedRows,
    };
  }

  /** One scan answers every probe; `max` has no meaning for text and is null. */
  async probe(
    table: SourceTable,
    probes: readonly Probe[],
    signal?: AbortSignal,
  ): Promise<ProbeResult[]> {
    if (probes.length === 0) return [];
    const columns = probes.map((p) => p.column);
    const results: ProbeResult[] = probes.map((p) =>
      p.kind === 'only-01' ? true : p.kind === 'max' ? null : false,
    );
    for await (const rows of this.readRows(table, columns, [], null, signal)) {
      for (const row of rows) {
        probes.forEach((p, i) => {
          const v = row[i];
          if (v === null) return;
          if (p.kind === 'only-01' && v !== '0' && v !== '1') results[i] = false;
          if (p.kind === 'has-empty' && v === '') results[i] = true;
        });
      }
    }
    return results;
  }

  /** No key: nothing to scan (the engine plans one batch per file). */
  async *scanKeys(
    _table: SourceTable,
    _keyColumns: readonly string[],
    _after: KeyTuple | null,
  ): AsyncIterable<KeyTuple[]> {
    yield* [];
  }

  /** Streams the whole file (`range` must be null: a CSV file has no key) in chunks of records. */
  async *readRows(
    table: SourceTable,
    columns: readonly string[],
    _keyColumns: readonly string[],
    range: KeyRange | null,
    signal?: AbortSignal,
  ): AsyncIterable<Row[]> {
    if (range && (range.lo !== null || range.hi !== null)) {
      throw new FreightError(
        'UNSUPPORTED',
        `csv file ${table.ref.name} has no key: it cannot be read by key range`,
      );
    }
    const file = await this.file(table.ref);
    let pick: ((record: CsvRecord) => Row) | null = null;
    for await (const records of this.records(file, table.columns.length, signal)) {
      let start = 0;
      if (pick === null) {
        pick = picker(checkHeader(records[0]!, file), columns, file);
        start = 1;
      }
      const rows = start === 0 ? records.map(pick) : records.slice(start).map(pick);
      if (rows.length > 0) yield rows;
    }
  }

  /** Counts the records after the header (streams the file). */
  async countRows(table: SourceTable, signal?: AbortSignal): Promise<number> {
    const file = await this.file(table.ref);
    let n = -1;
    for await (const records of this.records(file, table.columns.length, signal, {
      chunkSize: 10_000,
      nulls: false,
    }))
      n += records.length;
    return Math.max(0, n);
  }

  async close(): Promise<void> {}

  /** Every record of the file (the header first), in chunks, with backpressure. */
  private async *records(
    file: string,
    columnCount: number,
    signal?: AbortSignal,
    options: { chunkSize?: number; nulls?: boolean } = {},
  ): AsyncGenerator<CsvRecord[]> {
    signal?.throwIfAborted();
    const parser = openCsvRecords(file, {
      delimiter: this.delimiter,
      skipEmptyLines: columnCount > 1,
      nulls: options.nulls ?? true,
    });
    try {
      yield* chunkRows<CsvRecord>(
        parser,
        options.chunkSize ?? READ_CHUNK,
        signal ? { signal } : {},
      );
    } catch (error) {
      if (signal?.aborted) throw error;
      throw csvError(error, file);
    }
  }

  private async file(ref: TableRef): Promise<string> {
    let file = this.tables.get(ref.name);
    if (file === undefined) {
      this.tables = await csvTables(this.config.path);
      file = this.tables.get(ref.name);
    }
    if (file === undefined) {
      throw new FreightError(
        'TABLE_NOT_FOUND',
        `table ${ref.name} does not exist in the source ${this.description} (no ${ref.name}.csv)`,
        {
          details: { table: ref.name },
        },
      );
    }
    return file;
  }
}

/**
 * Maps a record to the requested columns. The header is checked again at every read: a file that
 * changed since the job was planned is a SCHEMA_CONFLICT, not a silent shift of values.
 */
function picker(
  header: readonly string[],
  columns: readonly string[],
  file: string,
): (record: CsvRecord) => Row {
  const positions = columns.map((name) => {
    const at = header.indexOf(name);
    if (at < 0) {
      throw new FreightError(
        'SCHEMA_CONFLICT',
        `csv file ${file} has no column ${name} any more (its header changed since the job was planned)`,
      );
    }
    return at;
  });
  if (positions.length === header.length && positions.every((p, i) => p === i))
    return (record) => record;
  return (record) => positions.map((p) => record[p] ?? null);
}
