import type { KeyRange, KeyTuple, SourceConnector, SourceTable } from './ports.js';

/**
 * Cuts a table into keyset batches `[b_i, b_{i+1})`. The database streams the keys in its own
 * order; the planner only counts them (no comparisons in JS). The first batch is open below and
 * the last open above, so together the batches cover the whole key space — rows added at either
 * end while the job runs are still copied.
 *
 * Batches are handed over in groups as they are found, so copying starts long before a big
 * table's keys have all been read; the groups start at one batch and double up to `groupSize`,
 * so the first batch can start as soon as its keys are counted. `resumeFrom` continues an
 * interrupted plan.
 */
export interface PlannedGroup {
  readonly batches: ReadonlyArray<{ seq: number; range: KeyRange }>;
  /** Where planning would resume: the open lower bound of the batch still being counted. */
  readonly cursor: KeyTuple | null;
  /** Rows in the batches handed over so far (all of the table's rows once `done`). */
  readonly plannedRows: number;
  readonly done: boolean;
}

export async function* planBatches(
  source: SourceConnector,
  table: SourceTable,
  keyColumns: readonly string[],
  options: {
    batchSize: number;
    resumeFrom: KeyTuple | null;
    nextSeq: number;
    plannedRows: number;
    groupSize?: number;
    signal?: AbortSignal;
  },
): AsyncGenerator<PlannedGroup> {
  let seq = options.nextSeq;
  let plannedRows = options.plannedRows;
  if (keyColumns.length === 0) {
    yield {
      batches: [{ seq, range: { lo: null, hi: null } }],
      cursor: null,
      plannedRows: table.estimatedRows,
      done: true,
    };
    return;
  }
  const groupSize = options.groupSize ?? 16;
  let lower: KeyTuple | null = options.resumeFrom;
  // Rows counted in the batch being built; a resumed cursor key itself belongs to it.
  let inBatch = lower === null ? 0 : 1;
  let group: Array<{ seq: number; range: KeyRange }> = [];
  let handOver = 1;
  for await (const keys of source.scanKeys(table, keyColumns, options.resumeFrom, options.signal)) {
    for (const key of keys) {
      if (inBatch === options.batchSize) {
        group.push({ seq: seq++, range: { lo: lower, hi: key } });
        plannedRows += inBatch;
        lower = key;
        inBatch = 0;
      }
      inBatch++;
    }
    if (group.length >= handOver) {
      yield { batches: group, cursor: lower, plannedRows, done: false };
      group = [];
      handOver = Math.min(groupSize, handOver * 2);
    }
  }
  group.push({ seq, range: { lo: lower, hi: null } });
  yield { batches: group, cursor: lower, plannedRows: plannedRows + inBatch, done: true };
}
