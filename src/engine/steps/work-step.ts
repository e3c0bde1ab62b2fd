import { isAbortError, toFreightError } from '../../domain/errors.js';
import { describeRange } from '../../domain/keys.js';
import type { Batch } from '../../domain/model.js';
import { runBatch, type WriteMode } from '../batch-runner.js';
import { settleCancel } from '../job-control.js';
import { loadTables, type JobRuntime, type TableRuntime } from '../job-runtime.js';
import { backoffMs, isJobFatal } from '../retry.js';
import { withLease, type StepContext } from './step-context.js';

const POLL_MS = 100;

/** Errors that mean the database refused or could not take the connection: nothing was written. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  '57P03',
  '53300',
  'ER_CON_COUNT_ERROR',
  '1040',
]);
/** Attempts a batch may spend waiting for an unreachable database (~backoff 25 s each: about 15 minutes). */
const MAX_WAITS = 40;

/**
 * One step of a `work` chain: claim the next runnable batch of the job (at most `concurrency`
 * of its batches run at once), copy it, record the outcome, schedule the next step. With nothing
 * to claim it waits for planning, a due retry or a dead worker's lease — or, when every batch is
 * done, schedules `finalize` and ends the chain.
 */
export async function workStep(ctx: StepContext, jobId: string): Promise<void> {
  const status = await ctx.ledger.getJobStatus(jobId);
  if (status === 'cancelling') {
    ctx.emit(jobId, { type: 'status', status: await settleCancel(ctx.ledger, jobId) });
    return;
  }
  if (status !== 'running' || ctx.abort.aborted) return;
  let runtime: JobRuntime;
  try {
    runtime = await ctx.runtime(jobId);
  } catch (error) {
    // The databases may be restarting: try again later; the batches wait in the store.
    ctx.emit(jobId, {
      type: 'log',
      level: 'warn',
      message: `cannot open connections: ${toFreightError(error).message}`,
    });
    await ctx.schedule({ kind: 'work', jobId }, 2000);
    return;
  }
  const limits = {
    maxRunning: runtime.job.options.concurrency,
    maxRunningForTenant: ctx.tenantConcurrency ?? 0,
    onlyWhileRunning: true,
  };
  let batch = await ctx.ledger.claimBatch(jobId, ctx.workerId, ctx.leaseMs, limits);
  if (!batch && (await ctx.ledger.requeueStaleBatches(jobId)) > 0) {
    batch = await ctx.ledger.claimBatch(jobId, ctx.workerId, ctx.leaseMs, limits);
  }
  if (!batch) return idle(ctx, jobId, runtime.job.options.concurrency);
  await executeBatch(ctx, runtime, batch);
  await ctx.schedule({ kind: 'work', jobId });
}

async function idle(ctx: StepContext, jobId: string, concurrency: number): Promise<void> {
  const [counts, tables] = await Promise.all([
    ctx.ledger.batchCounts(jobId),
    ctx.ledger.listJobTables(jobId),
  ]);
  const sum = (k: 'pending' | 'running' | 'retrying') => counts.reduce((n, c) => n + c[k], 0);
  const planning =
    tables.length === 0 ||
    tables.some(
      (t) => t.status === 'pending' || t.status === 'prepared' || t.status === 'planning',
    );
  if (sum('pending') > 0) {
    // Every running batch has a chain that goes on after it; when they fill the job's concurrency
    // this chain is one too many (a duplicate delivery, a re-queued plan) and ends here.
    if (sum('running') >= concurrency) return;
    return ctx.schedule({ kind: 'work', jobId }, POLL_MS * 2);
  }
  if (planning) return ctx.schedule({ kind: 'work', jobId }, POLL_MS);
  if (sum('retrying') > 0) {
    const next = await ctx.ledger.nextRetryAt(jobId);
    return ctx.schedule(
      { kind: 'work', jobId },
      next ? Math.max(20, Date.parse(next) - Date.now()) : POLL_MS,
    );
  }
  // Batches still running: ours finish on their own; a dead worker's come back when its lease expires.
  if (sum('running') > 0)
    return ctx.schedule({ kind: 'work', jobId }, Math.min(1000, ctx.leaseMs / 2));
  await ctx.schedule({ kind: 'finalize', jobId });
}

/** Runs one claimed batch and records its outcome: succeeded, failed, retry later, or handed back. */
export async function executeBatch(
  ctx: StepContext,
  runtime: JobRuntime,
  batch: Batch,
): Promise<void> {
  const jobId = runtime.job.id;
  let table = runtime.tables.get(batch.tableName);
  if (!table) {
    loadTables(runtime, await ctx.ledger.listJobTables(jobId));
    table = runtime.tables.get(batch.tableName);
  }
  const started = performance.now();
  if (!table) {
    await ctx.ledger.finishBatch(batch.id, ctx.workerId, {
      status: 'failed',
      rowsRead: 0,
      rowsWritten: 0,
      rowsFailed: 0,
      durationMs: 0,
      error: 'TABLE_NOT_FOUND: the batch belongs to a table this job does not migrate',
    });
    return;
  }
  ctx.emit(jobId, {
    type: 'batch-started',
    table: table.name,
    batchId: batch.id,
    attempt: batch.attempts,
  });
  try {
    const result = await withLease(
      ctx.leaseMs,
      () => ctx.ledger.renewLease(batch.id, ctx.workerId, ctx.leaseMs),
      () =>
        runBatch(
          runtime.source,
          runtime.target,
          {
            jobId,
            batch,
            plan: table.plan,
            sourceTable: table.sourceTable,
            conversion: table.conversion,
            utf8Bytes: table.utf8Bytes,
            mode: modeFor(table, batch),
            auditLevel: runtime.job.options.auditLevel,
          },
          ctx.abort,
        ),
    );
    const status = result.rowsFailed > 0 ? 'failed' : 'succeeded';
    await ctx.ledger.finishBatch(
      batch.id,
      ctx.workerId,
      {
        status,
        rowsRead: result.rowsRead,
        rowsWritten: result.rowsWritten,
        rowsFailed: result.rowsFailed,
        durationMs: performance.now() - started,
        error:
          result.rowsFailed > 0
            ? `${result.rowsFailed} record(s) failed; see the record logs`
            : null,
      },
      result.logs,
    );
    ctx.emit(jobId, {
      type: 'batch-finished',
      table: table.name,
      batchId: batch.id,
      status,
      rowsWritten: result.rowsWritten,
      rowsFailed: result.rowsFailed,
      durationMs: Math.round(performance.now() - started),
    });
  } catch (error) {
    await batchFailed(ctx, table, batch, error, performance.now() - started);
  }
  // A cancel that arrived meanwhile is settled by the next step of this chain (it reads the status first).
}

async function batchFailed(
  ctx: StepContext,
  table: TableRuntime,
  batch: Batch,
  error: unknown,
  durationMs: number,
): Promise<void> {
  const jobId = batch.jobId;
  if (
    ctx.abort.aborted &&
    (isAbortError(error) || toFreightError(error).code === 'CANCELLED' || ctx.abort.aborted)
  ) {
    await ctx.ledger.releaseBatch(batch.id, ctx.workerId);
    ctx.emit(jobId, {
      type: 'batch-finished',
      table: table.name,
      batchId: batch.id,
      status: 'released',
      rowsWritten: 0,
      rowsFailed: 0,
    });
    return;
  }
  const e = toFreightError(error);
  const base = {
    jobId,
    batchId: batch.id,
    tableName: table.name,
    scope: 'batch' as const,
    recordId: describeRange(batch.lo, batch.hi),
    errorCode: e.code,
    retryCount: batch.attempts - 1,
    rows: 0,
  };
  // The database could not be reached at all (restarting, refusing): nothing was written, so the
  // attempt does not count — the batch waits for the database, up to a bound.
  const unavailable =
    e.kind === 'transient' &&
    e.dbCode !== undefined &&
    UNREACHABLE.has(e.dbCode) &&
    batch.attempts < batch.maxAttempts + MAX_WAITS;
  if (unavailable || (e.kind === 'transient' && batch.attempts < batch.maxAttempts)) {
    const delay = backoffMs(Math.min(batch.attempts, 8));
    await ctx.ledger.finishBatch(
      batch.id,
      ctx.workerId,
      {
        status: 'retrying',
        nextAttemptAt: new Date(Date.now() + delay).toISOString(),
        durationMs,
        error: `${e.code}: ${e.message}`,
        ...(unavailable ? { extendBudget: true } : {}),
      },
      [{ ...base, status: 'retrying', errorMessage: `${e.message} (retry in ${delay} ms)` }],
    );
    ctx.emit(jobId, {
      type: 'batch-finished',
      table: table.name,
      batchId: batch.id,
      status: 'retrying',
      rowsWritten: 0,
      rowsFailed: 0,
      error: e.message,
    });
    return;
  }
  await ctx.ledger.finishBatch(
    batch.id,
    ctx.workerId,
    {
      status: 'failed',
      rowsRead: 0,
      rowsWritten: 0,
      rowsFailed: 0,
      durationMs,
      error: `${e.code}: ${e.message}`,
    },
    [{ ...base, status: 'failed', errorMessage: e.message }],
  );
  ctx.emit(jobId, {
    type: 'batch-finished',
    table: table.name,
    batchId: batch.id,
    status: 'failed',
    rowsWritten: 0,
    rowsFailed: 0,
    error: e.message,
  });
  if (isJobFatal(e)) {
    // Nothing else of this job can succeed (the table is gone, the password was changed…).
    if (
      await ctx.ledger.transitionJob(jobId, ['running'], 'failed', {
        error: { code: e.code, message: e.message },
        finishedAt: new Date().toISOString(),
      })
    ) {
      ctx.emit(jobId, { type: 'log', level: 'error', message: `${e.code}: ${e.message}` });
      ctx.emit(jobId, { type: 'status', status: 'failed' });
    }
  }
}

/** A first attempt into a table this job created needs no delete; anything else replaces its range. */
function modeFor(table: TableRuntime, batch: Batch): WriteMode {
  if (table.plan.keyPositions.length === 0) return 'replace-all';
  if (table.createdByJob && batch.attempts === 1) return 'insert';
  return table.plan.keyOrderSafe ? 'replace-range' : 'replace-keys';
}
