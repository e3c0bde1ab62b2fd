import { createReadStream } from 'node:fs';
import { CsvError, parse, type Info, type Options, type Parser } from 'csv-parse';
import { FreightError, isFreightError } from '../../domain/errors.js';
import { Utf8Check } from './csv-utf8-check.js';

/** A record as read: `null` for an empty unquoted field, `''` for a quoted empty one (`""`). */
export type CsvRecord = Array<string | null>;

/** One field may hold this many characters; beyond it (an unclosed quote, usually) the file is rejected. */
export const MAX_RECORD_CHARS = 64 * 1024 * 1024;

export interface CsvRecordOptions {
  readonly delimiter: string;
  /**
   * Skip blank lines. Only right for files of several columns: in a one-column file a blank line
   * is a record whose value is NULL (that is how COPY and most writers put it).
   */
  readonly skipEmptyLines: boolean;
  /** Accept records whose field count differs from the header's (for sampling only). */
  readonly relaxColumnCount?: boolean;
  /** Tell NULL from '' (default true); counting records does not need to. */
  readonly nulls?: boolean;
  /** Emit `{ record, bytes }`, `bytes` being how far into the file the record ends. */
  readonly bytes?: boolean;
}

/**
 * Streams a CSV file's records (the header is the first one), with bounded memory: the file is
 * read in chunks, checked to be UTF-8, and parsed as it arrives. A UTF-8 BOM is dropped, CRLF and
 * LF line ends are both accepted, quoted fields may hold delimiters, quotes (`""`), newlines, tabs
 * and backslashes — all kept as they are.
 */
export function openCsvRecords(file: string, options: CsvRecordOptions): Parser {
  const input = createReadStream(file, { highWaterMark: 256 * 1024 });
  const check = new Utf8Check(file);
  const nulls = options.nulls ?? true;
  // With `raw` / `info` set, csv-parse hands on_record `{ record, raw, info }`.
  const onRecord = (item: { record: string[]; raw?: string; info?: Info }) => {
    const record = nulls ? markNulls(item.record, item.raw ?? '', options.delimiter) : item.record;
    return options.bytes ? { record, bytes: item.info!.bytes } : record;
  };
  const parser = parse({
    bom: true,
    delimiter: options.delimiter,
    relax_column_count: options.relaxColumnCount ?? false,
    skip_empty_lines: options.skipEmptyLines,
    max_record_size: MAX_RECORD_CHARS,
    ...(nulls || options.bytes
      ? {
          raw: nulls,
          info: options.bytes ?? false,
          on_record: onRecord as unknown as Options['on_record'],
        }
      : {}),
  });
  input.on('error', (error) => parser.destroy(error));
  check.on('error', (error) => parser.destroy(error));
  parser.on('close', () => {
    input.destroy();
    check.destroy();
  });
  input.pipe(check).pipe(parser);
  return parser;
}

/**
 * csv-parse yields '' for both an empty unquoted field (NULL) and a quoted `""` (the empty
 * string); the record's raw text tells them apart. Field starts are found from the parsed values:
 * an unquoted field is its value verbatim, a quoted one its value in quotes with each `"`
 * doubled. (csv-parse's `cast` could tell too, but builds a context object per field: 5× slower.)
 */
export function markNulls(record: string[], raw: string, delimiter: string): CsvRecord {
  if (!record.includes('')) return record;
  const out: CsvRecord = record;
  let at = 0;
  for (let i = 0; i < record.length; i++) {
    const value = record[i]!;
    const quoted = raw.charCodeAt(at) === QUOTE;
    if (value === '' && !quoted) out[i] = null;
    at += (quoted ? value.length + 2 + quotesIn(value) : value.length) + delimiter.length;
  }
  return out;
}

const QUOTE = 34;

function quotesIn(value: string): number {
  let n = 0;
  for (let i = value.indexOf('"'); i >= 0; i = value.indexOf('"', i + 1)) n++;
  return n;
}

/**
 * A read failure as a FreightError. A malformed file is a whole-job problem (SCHEMA_CONFLICT
 * naming the file and line), never a record error to bisect; a missing file is TABLE_NOT_FOUND.
 */
export function csvError(error: unknown, file: string): FreightError {
  if (isFreightError(error)) return error;
  if (error instanceof CsvError) {
    const line = typeof error.lines === 'number' ? error.lines : undefined;
    return new FreightError(
      'SCHEMA_CONFLICT',
      `csv file ${file}: ${line !== undefined ? `line ${line}: ` : ''}${error.message}`,
      {
        cause: error,
        dbCode: error.code,
        details: { file, ...(line !== undefined ? { line } : {}) },
      },
    );
  }
  const e = error as { code?: string; message?: string };
  if (e.code === 'ENOENT')
    return new FreightError('TABLE_NOT_FOUND', `csv file ${file} does not exist`, { cause: error });
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    return new FreightError(
      'PERMISSION_DENIED',
      `csv file ${file} cannot be read: ${e.message ?? e.code}`,
      { cause: error },
    );
  }
  return new FreightError('DATABASE_ERROR', `csv file ${file}: ${e.message ?? String(error)}`, {
    cause: error,
    ...(e.code ? { dbCode: e.code } : {}),
  });
}
