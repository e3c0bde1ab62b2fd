import { errorKind, toFreightError, type FreightError } from '../domain/errors.js';
import type { AuditLevel } from '../domain/job.js';
import { describeRange, recordIdOf } from '../domain/keys.js';
import type { Batch, NewRecordLog } from '../domain/model.js';
import type { TablePlan } from './plan.js';
import type {
  BatchWriter,
  KeyRange,
  Row,
  SourceConnector,
  SourceTable,
  TargetConnector,
} from './ports.js';
import type { RowConversion, ValueIssue } from './value-codec.js';

/**
 * How a batch makes itself idempotent on the target (DESIGN.md §5):
 * - `insert`: first attempt into a table this job created: nothing to remove;
 * - `replace-range`: delete the key range first (keys every database orders alike);
 * - `replace-keys`: delete exactly the keys read (text keys: collations differ between databases);
 * - `replace-all`: a keyless table is one batch: delete everything first.
 */
export type WriteMode = 'insert' | 'replace-range' | 'replace-keys' | 'replace-all';

export interface BatchWork {
  readonly jobId: string;
  readonly batch: Batch;
  readonly plan: TablePlan;
  readonly sourceTable: SourceTable;
  readonly conversion: RowConversion;
  /** Source columns to read as UTF-8 bytes (ReadHints.utf8Bytes). */
  readonly utf8Bytes?: ReadonlySet<string>;
  readonly mode: WriteMode;
  readonly auditLevel: AuditLevel;
}

export interface BatchResult {
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly rowsFailed: number;
  readonly rowsWarned: number;
  readonly logs: NewRecordLog[];
}

/**
 * One attempt at a batch, in one target transaction. The fast path streams the range straight
 * into the target (one COPY); when the database rejects a record, the transaction is rolled back
 * and the batch runs again chunk by chunk under savepoints, bisecting failing chunks until each
 * bad record is isolated and logged; the good records commit. Transient and fatal errors are
 * thrown for the caller to retry or report.
 */
export async function runBatch(
  source: SourceConnector,
  target: TargetConnector,
  work: BatchWork,
  signal?: AbortSignal,
): Promise<BatchResult> {
  if (target.caps.atomicChunks && work.mode !== 'replace-keys') {
    try {
      return await attempt(source, target, work, 'stream', signal);
    } catch (error) {
      if (errorKind(error) !== 'data') throw error;
    }
  }
  return attempt(source, target, work, 'isolate', signal);
}

async function attempt(
  source: SourceConnector,
  target: TargetConnector,
  work: BatchWork,
  how: 'stream' | 'isolate',
  signal?: AbortSignal,
): Promise<BatchResult> {
  const { plan, batch } = work;
  const keyed = plan.keyPositions.length > 0;
  const range: KeyRange | null = keyed ? { lo: batch.lo, hi: batch.hi } : null;
  const recorder = new Recorder(work);
  const rows = source.readRows(
    work.sourceTable,
    plan.columns.map((c) => c.source),
    plan.keySourceColumns,
    range,
    signal,
    work.utf8Bytes ? { utf8Bytes: work.utf8Bytes } : undefined,
  );
  const writer = await target.openBatch(plan, signal);
  try {
    if (work.mode === 'replace-range' && range) await writer.deleteRange(range);
    if (work.mode === 'replace-all' || (work.mode === 'replace-range' && !range))
      await writer.deleteAll();
    if (how === 'stream') {
      await writer.writeStream(convertChunks(rows, work, recorder, null));
      recorder.wroteAll();
    } else {
      for await (const chunk of convertChunks(rows, work, recorder, writer)) {
        await writeIsolating(writer, target.caps.atomicChunks, chunk, recorder);
      }
    }
    await writer.commit();
  } catch (error) {
    await writer.rollback();
    throw error;
  }
  return recorder.result(range);
}

/**
 * Converts each chunk read; records that fail conversion are logged and left out. In `replace-keys`
 * mode the keys of every row read — bad ones included — are removed from the target first.
 */
async function* convertChunks(
  chunks: AsyncIterable<Row[]>,
  work: BatchWork,
  recorder: Recorder,
  writer: BatchWriter | null,
): AsyncGenerator<Row[]> {
  for await (const chunk of chunks) {
    recorder.noteRead(chunk);
    const issues = work.conversion.convert(chunk);
    if (writer && work.mode === 'replace-keys') {
      await writer.deleteKeys(chunk.map((row) => work.plan.keyPositions.map((p) => row[p])));
    }
    if (!issues) {
      if (!writer) recorder.handedOver(chunk);
      yield chunk;
      continue;
    }
    const good: Row[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const found = issues.byRow.get(i);
      const row = chunk[i]!;
      if (found?.some((x) => x.kind === 'fail')) {
        recorder.conversionFailed(row, found);
        continue;
      }
      if (found) recorder.warned(row, found);
      good.push(row);
    }
    if (good.length === 0) continue;
    if (!writer) recorder.handedOver(good);
    yield good;
  }
}

/** Writes rows under a savepoint; a rejected chunk is halved until each bad record stands alone. */
async function writeIsolating(
  writer: BatchWriter,
  atomic: boolean,
  rows: Row[],
  recorder: Recorder,
): Promise<void> {
  if (rows.length === 0) return;
  if (!atomic) {
    const failures = await writer.writeChunk(rows);
    const bad = new Set(failures.map((f) => f.index));
    for (const f of failures) recorder.writeFailed(rows[f.index]!, f.error);
    recorder.wrote(bad.size === 0 ? rows : rows.filter((_, i) => !bad.has(i)));
    return;
  }
  await writer.savepoint();
  try {
    await writer.writeChunk(rows);
    await writer.releaseSavepoint();
    recorder.wrote(rows);
  } catch (error) {
    if (errorKind(error) !== 'data') throw error;
    await writer.rollbackToSavepoint();
    if (rows.length === 1) {
      recorder.writeFailed(rows[0]!, toFreightError(error));
      return;
    }
    const mid = rows.length >> 1;
    await writeIsolating(writer, atomic, rows.slice(0, mid), recorder);
    await writeIsolating(writer, atomic, rows.slice(mid), recorder);
  }
}

/** Counts and record log lines of one attempt. */
class Recorder {
  private read = 0;
  private written = 0;
  private failed = 0;
  private warnedCount = 0;
  private readonly logs: NewRecordLog[] = [];
  /** Rows of a keyless table are named by their position in the batch. */
  private readonly ordinals: WeakMap<Row, number> | null;
  /** Stream path: rows handed to the writer, written once the transaction commits. */
  private handed = 0;
  private handedIds: string[] = [];
  private readonly retryCount: number;
  private readonly perRecord: boolean;

  constructor(private readonly work: BatchWork) {
    this.retryCount = Math.max(0, work.batch.attempts - 1);
    this.ordinals = work.plan.keyPositions.length === 0 ? new WeakMap() : null;
    this.perRecord = work.auditLevel === 'records';
  }

  noteRead(rows: Row[]): void {
    if (this.ordinals) rows.forEach((row, i) => this.ordinals!.set(row, this.read + i + 1));
    this.read += rows.length;
  }

  handedOver(rows: Row[]): void {
    this.handed += rows.length;
    if (this.perRecord) for (const row of rows) this.handedIds.push(this.recordId(row));
  }

  /** The stream path committed every row handed over. */
  wroteAll(): void {
    this.written += this.handed;
    for (const id of this.handedIds) this.log(id, 'success', null, null);
    this.handed = 0;
    this.handedIds = [];
  }

  wrote(rows: Row[]): void {
    this.written += rows.length;
    if (this.perRecord) for (const row of rows) this.log(this.recordId(row), 'success', null, null);
  }

  conversionFailed(row: Row, issues: ValueIssue[]): void {
    this.failed++;
    this.log(this.recordId(row), 'failed', 'DATA_ERROR', issues.map((i) => i.message).join('; '));
  }

  warned(row: Row, issues: ValueIssue[]): void {
    this.warnedCount++;
    this.log(
      this.recordId(row),
      'warning',
      'VALUE_POLICY',
      issues.map((i) => i.message).join('; '),
    );
  }

  writeFailed(row: Row, error: FreightError): void {
    this.failed++;
    this.log(this.recordId(row), 'failed', error.code, error.message);
  }

  result(range: KeyRange | null): BatchResult {
    if (!this.perRecord) {
      this.logs.push({
        ...this.base(),
        scope: 'batch',
        recordId: range ? describeRange(range.lo, range.hi) : 'whole table',
        status: 'success',
        errorCode: null,
        errorMessage: null,
        rows: this.written,
      });
    }
    return {
      rowsRead: this.read,
      rowsWritten: this.written,
      rowsFailed: this.failed,
      rowsWarned: this.warnedCount,
      logs: this.logs,
    };
  }

  private recordId(row: Row): string {
    if (this.ordinals) return `#${this.ordinals.get(row) ?? 0}`;
    return recordIdOf(this.work.plan.keyPositions.map((p) => row[p]));
  }

  private base() {
    return {
      jobId: this.work.jobId,
      batchId: this.work.batch.id,
      tableName: this.work.batch.tableName,
      retryCount: this.retryCount,
    };
  }

  private log(
    recordId: string,
    status: NewRecordLog['status'],
    code: string | null,
    message: string | null,
  ): void {
    this.logs.push({
      ...this.base(),
      scope: 'record',
      recordId,
      status,
      errorCode: code,
      errorMessage: message,
      rows: 1,
    });
  }
}
