import type { z } from 'zod';
import { describeRange } from '../domain/keys.js';
import type { Batch, Job, RecordLog } from '../domain/model.js';
import type { BatchCounts } from '../engine/ledger.js';
import type { TableOutcome } from '../engine/job-summary.js';
import type { MetadataStore } from '../store/store.js';
import type {
  BatchSchema,
  JobDetailSchema,
  JobSchema,
  ProgressSchema,
  RecordLogSchema,
  TableProgressSchema,
} from './schemas.js';

/** Domain objects → API shapes (snake_case, no secrets: configs appear only as descriptions). */

/** Rates and ETAs come from the last RATE_WINDOW_S seconds of finished batches: a smoothed, current rate. */
const RATE_WINDOW_S = 30;

interface Recent {
  readonly rows: ReadonlyMap<string, number>;
  /** Seconds the window actually covers (less than RATE_WINDOW_S just after the start). */
  readonly seconds: number;
}

async function recentOf(store: MetadataStore, job: Job): Promise<Recent | null> {
  if ((job.status !== 'running' && job.status !== 'cancelling') || !job.startedAt) return null;
  const since = Math.max(Date.now() - RATE_WINDOW_S * 1000, Date.parse(job.startedAt));
  const seconds = (Date.now() - since) / 1000;
  return seconds > 0
    ? { rows: await store.recentThroughput(job.id, new Date(since).toISOString()), seconds }
    : null;
}

export async function presentJob(
  store: MetadataStore,
  job: Job,
): Promise<z.input<typeof JobSchema>> {
  const [counts, tables, recent] = await Promise.all([
    store.batchCounts(job.id),
    store.listJobTables(job.id),
    recentOf(store, job),
  ]);
  return { ...jobFields(job), progress: progressOf(job, counts, tables, recent) };
}

export async function presentJobDetail(
  store: MetadataStore,
  job: Job,
  summaries: readonly TableOutcome[],
): Promise<z.input<typeof JobDetailSchema>> {
  const [counts, tables, failed, recent] = await Promise.all([
    store.batchCounts(job.id),
    store.listJobTables(job.id),
    store.listBatches(job.id, { status: ['failed'], limit: 20, offset: 0 }),
    recentOf(store, job),
  ]);
  return {
    ...jobFields(job),
    progress: progressOf(job, counts, tables, recent),
    tables: summaries.map((t) => presentTable(t, recent)),
    failed_batches: failed.batches.map(presentBatch),
  };
}

/** Per-table progress, with the table's recent rate and ETA while the job runs. */
export async function presentTables(
  store: MetadataStore,
  job: Job,
  summaries: readonly TableOutcome[],
) {
  const recent = await recentOf(store, job);
  return summaries.map((t) => presentTable(t, recent));
}

function jobFields(job: Job) {
  return {
    job_id: job.id,
    tenant_id: job.tenantId,
    status: job.status,
    source: job.sourceDescription,
    target: job.targetDescription,
    source_type: job.sourceType,
    target_type: job.targetType,
    options: {
      tables: job.options.tables ? [...job.options.tables] : null,
      batch_size: job.options.batchSize,
      max_retries: job.options.maxRetries,
      concurrency: job.options.concurrency,
      audit_level: job.options.auditLevel,
      verify: job.options.verify,
      create_tables: job.options.createTables,
    },
    started_by: job.startedBy,
    error: job.error,
    created_at: job.createdAt,
    updated_at: job.updatedAt,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
  };
}

function progressOf(
  job: Job,
  counts: readonly BatchCounts[],
  tables: ReadonlyArray<{ estimatedRows: number; plannedRows: number; status: string }>,
  recent: Recent | null,
): z.input<typeof ProgressSchema> {
  const sum = (k: keyof Omit<BatchCounts, 'tableName'>) => counts.reduce((n, c) => n + c[k], 0);
  const planningDone =
    tables.length > 0 &&
    tables.every(
      (t) => t.status === 'planned' || t.status === 'finalized' || t.status === 'failed',
    );
  const planned = tables.reduce((n, t) => n + t.plannedRows, 0);
  const estimated = tables.reduce((n, t) => n + t.estimatedRows, 0);
  const written = sum('rowsWritten');
  const failed = sum('rowsFailed');
  const total = planningDone ? planned : Math.max(planned, estimated);
  const done = written + failed;
  const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
  const seconds = job.startedAt ? (end - Date.parse(job.startedAt)) / 1000 : 0;
  const recentRows = recent ? [...recent.rows.values()].reduce((a, b) => a + b, 0) : 0;
  // While running: the recent (smoothed) rate; afterwards: the job's average.
  const rate = recent
    ? recentRows / recent.seconds
    : seconds > 0 && written > 0
      ? written / seconds
      : null;
  const running = job.status === 'running' || job.status === 'planning';
  return {
    rows_estimated: estimated,
    rows_planned: planned,
    planning_done: planningDone,
    rows_read: sum('rowsRead'),
    rows_written: written,
    rows_failed: failed,
    percent:
      total > 0
        ? Math.min(100, Math.round((done / total) * 1000) / 10)
        : job.status === 'completed'
          ? 100
          : 0,
    rows_per_second: rate === null ? null : Math.round(rate),
    // Unknown (null) until there is a rate and, before planning ends, a row count to go by.
    eta_seconds:
      running && total > done
        ? rate
          ? Math.round((total - done) / rate)
          : null
        : running && planningDone
          ? 0
          : null,
    batches: {
      total: sum('total'),
      pending: sum('pending'),
      running: sum('running'),
      retrying: sum('retrying'),
      succeeded: sum('succeeded'),
      failed: sum('failed'),
    },
  };
}

export function presentTable(
  t: TableOutcome,
  recent: Recent | null = null,
): z.input<typeof TableProgressSchema> {
  const total =
    t.status === 'planned' || t.status === 'finalized'
      ? t.plannedRows
      : Math.max(t.plannedRows, t.estimatedRows);
  const done = t.rowsWritten + t.rowsFailed;
  const rate = recent ? (recent.rows.get(t.name) ?? 0) / recent.seconds : null;
  return {
    table: t.name,
    target: t.target,
    status: t.status,
    rows_estimated: t.estimatedRows,
    rows_planned: t.plannedRows,
    rows_read: t.rowsRead,
    rows_written: t.rowsWritten,
    rows_failed: t.rowsFailed,
    rows_warned: t.rowsWarned,
    batches: t.batches,
    batches_succeeded: t.batchesSucceeded,
    batches_failed: t.batchesFailed,
    batches_open: t.batchesOpen,
    percent:
      total > 0
        ? Math.min(100, Math.round((done / total) * 1000) / 10)
        : t.status === 'finalized'
          ? 100
          : 0,
    rows_per_second: rate !== null ? Math.round(rate) : t.rowsPerSecond,
    eta_seconds:
      rate && total > done
        ? Math.round((total - done) / rate)
        : rate !== null && total <= done
          ? 0
          : null,
    source_rows: t.sourceRows,
    target_rows: t.targetRows,
    validation: t.validation,
    notes: [...t.notes],
    errors: [...t.errors],
  };
}

export function presentBatch(b: Batch): z.input<typeof BatchSchema> {
  return {
    batch_id: b.id,
    table: b.tableName,
    seq: b.seq,
    key_range: describeRange(b.lo, b.hi),
    status: b.status,
    attempts: b.attempts,
    max_attempts: b.maxAttempts,
    rows_read: b.rowsRead,
    rows_written: b.rowsWritten,
    rows_failed: b.rowsFailed,
    duration_ms: b.durationMs,
    worker_id: b.workerId,
    last_error: b.lastError,
    next_attempt_at: b.nextAttemptAt,
    started_at: b.startedAt,
    finished_at: b.finishedAt,
  };
}

export function presentLog(l: RecordLog): z.input<typeof RecordLogSchema> {
  return {
    log_id: l.id,
    batch_id: l.batchId,
    table: l.tableName,
    scope: l.scope,
    record_id: l.recordId,
    status: l.status,
    error_code: l.errorCode,
    error_message: l.errorMessage,
    retry_count: l.retryCount,
    rows: l.rows,
    created_at: l.createdAt,
  };
}
