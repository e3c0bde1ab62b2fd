import { stat } from 'node:fs/promises';
import { FreightError } from '../../domain/errors.js';
import { csvError, openCsvRecords, type CsvRecord } from './csv-records.js';

/** Records read after the header to estimate the row count from the average record size. */
const SAMPLE_RECORDS = 200;

export interface CsvHead {
  readonly columns: readonly string[];
  /** Rows in the file: exact for small files, else file size / average record size. */
  readonly estimatedRows: number;
}

/** Reads the header (and a small sample, for the row estimate) without reading the whole file. */
export async function readCsvHead(
  file: string,
  delimiter: string,
  signal?: AbortSignal,
): Promise<CsvHead> {
  const parser = openCsvRecords(file, {
    delimiter,
    skipEmptyLines: false,
    relaxColumnCount: true,
    bytes: true,
  });
  let header: CsvRecord | null = null;
  let headerBytes = 0;
  let lastBytes = 0;
  let sampled = 0;
  let complete = true;
  try {
    for await (const item of parser as AsyncIterable<{ record: CsvRecord; bytes: number }>) {
      signal?.throwIfAborted();
      if (header === null) {
        header = item.record;
        headerBytes = item.bytes;
        continue;
      }
      sampled++;
      lastBytes = item.bytes;
      if (sampled >= SAMPLE_RECORDS) {
        complete = false;
        break;
      }
    }
  } catch (error) {
    if (signal?.aborted) throw error;
    throw csvError(error, file);
  } finally {
    parser.destroy();
  }
  if (header === null) {
    throw new FreightError(
      'SCHEMA_CONFLICT',
      `csv file ${file} is empty: its first line must be the header`,
      { details: { file } },
    );
  }
  const columns = checkHeader(header, file);
  if (complete) return { columns, estimatedRows: sampled };
  const size = (await stat(file)).size;
  const average = (lastBytes - headerBytes) / sampled;
  return {
    columns,
    estimatedRows:
      average > 0 ? Math.max(sampled, Math.round((size - headerBytes) / average)) : sampled,
  };
}

/** Column names from the header: each must be non-empty and unique (errors name the position). */
export function checkHeader(header: CsvRecord, file: string): string[] {
  const seen = new Map<string, number>();
  return header.map((name, i) => {
    if (name === null || name === '') {
      throw new FreightError(
        'SCHEMA_CONFLICT',
        `csv file ${file}: column ${i + 1} of the header has no name`,
        {
          details: { file, column: i + 1 },
        },
      );
    }
    const first = seen.get(name);
    if (first !== undefined) {
      throw new FreightError(
        'SCHEMA_CONFLICT',
        `csv file ${file}: column ${i + 1} of the header repeats the name "${name}" of column ${first}`,
        { details: { file, column: i + 1 } },
      );
    }
    seen.set(name, i + 1);
    return name;
  });
}
