import { toFreightError } from '../../domain/errors.js';
import { newShortId } from '../../domain/ids.js';
import type { JobTable } from '../../domain/model.js';
import { planBatches } from '../batch-planner.js';
import type { JobEvent } from '../events.js';
import { settleCancel } from '../job-control.js';
import { prepareTables } from '../job-prepare.js';
import { loadTables, type JobRuntime } from '../job-runtime.js';
import { lockRetryDelayMs, withLease, type StepContext } from './step-context.js';

/**
 * The `plan` task: pending → planning; prepares the tables (introspect, map types, create target
 * tables); → running; starts `concurrency` work chains; then cuts every table into batches,
 * handing them over as they are found so copying starts at once. Holds the job's plan lock, so a
 * duplicate delivery does nothing; resumes from each table's plan cursor after a crash.
 */
export async function planStep(ctx: StepContext, jobId: string): Promise<void> {
  const { ledger } = ctx;
  // The owner is this invocation, not the worker: two plan tasks in one process must exclude each other too.
  const owner = newShortId(`${ctx.workerId}-plan`);
  if (!(await ledger.acquireJobLock(jobId, owner, 'plan', ctx.leaseMs))) {
    // Another process is planning (or finalizing). Should it die, this task must finish the plan.
    if (await planUnfinished(ctx, jobId))
      await ctx.schedule({ kind: 'plan', jobId }, lockRetryDelayMs(ctx.leaseMs));
    return;
  }
  const emit = (event: JobEvent) => ctx.emit(jobId, event);
  try {
    await withLease(
      ctx.leaseMs,
      () => ledger.acquireJobLock(jobId, owner, 'plan', ctx.leaseMs),
      async () => {
        let status = await ledger.getJobStatus(jobId);
        if (status === 'pending') {
          const now = new Date().toISOString();
          if (
            await ledger.transitionJob(jobId, ['pending'], 'planning', {
              startedAt: now,
              error: null,
              finishedAt: null,
            })
          ) {
            emit({ type: 'status', status: 'planning' });
          }
          status = await ledger.getJobStatus(jobId);
        }
        if (status === 'cancelling') {
          emit({ type: 'status', status: await settleCancel(ledger, jobId) });
          return;
        }
        if (status !== 'planning' && status !== 'running') return;
        const runtime = await ctx.runtime(jobId);
        const rows = await prepareTables(
          runtime.job,
          ledger,
          runtime.source,
          runtime.target,
          emit,
          ctx.abort,
        );
        loadTables(runtime, rows);
        if (status === 'planning') {
          if (!(await ledger.transitionJob(jobId, ['planning'], 'running'))) {
            if ((await ledger.getJobStatus(jobId)) === 'cancelling')
              emit({ type: 'status', status: await settleCancel(ledger, jobId) });
            return;
          }
          emit({ type: 'status', status: 'running' });
        }
        for (let i = 0; i < runtime.job.options.concurrency; i++)
          await ctx.schedule({ kind: 'work', jobId });
        await planTables(ctx, runtime, rows, emit);
      },
    );
  } catch (error) {
    if (ctx.abort.aborted) return;
    const e = toFreightError(error);
    if (e.kind === 'transient') {
      // A database restarting: the job stays as it is and this step runs again shortly.
      emit({ type: 'log', level: 'warn', message: `${e.message} (retrying the plan step)` });
      await ctx.schedule({ kind: 'plan', jobId }, 2000);
      return;
    }
    emit({ type: 'log', level: 'error', message: `${e.code}: ${e.message}` });
    const failed = await ledger.transitionJob(jobId, ['pending', 'planning', 'running'], 'failed', {
      error: { code: e.code, message: e.message },
      finishedAt: new Date().toISOString(),
    });
    if (failed) emit({ type: 'status', status: 'failed' });
    else if ((await ledger.getJobStatus(jobId)) === 'cancelling')
      emit({ type: 'status', status: await settleCancel(ledger, jobId) });
  } finally {
    await ledger.releaseJobLock(jobId, owner);
  }
}

/** True while the job still needs a plan step: not started, or a table not fully planned. */
async function planUnfinished(ctx: StepContext, jobId: string): Promise<boolean> {
  const status = await ctx.ledger.getJobStatus(jobId);
  if (status === 'pending' || status === 'planning') return true;
  if (status !== 'running') return false;
  const tables = await ctx.ledger.listJobTables(jobId);
  return (
    tables.length === 0 ||
    tables.some((t) => t.status === 'pending' || t.status === 'prepared' || t.status === 'planning')
  );
}

/** Plans every table not fully planned yet, one after another, persisting batches in groups. */
async function planTables(
  ctx: StepContext,
  runtime: JobRuntime,
  rows: readonly JobTable[],
  emit: (e: JobEvent) => void,
): Promise<void> {
  const jobId = runtime.job.id;
  const counts = new Map((await ctx.ledger.batchCounts(jobId)).map((c) => [c.tableName, c.total]));
  for (const row of rows) {
    if (row.status !== 'prepared' && row.status !== 'planning') continue;
    const table = runtime.tables.get(row.name);
    if (!table) continue;
    await ctx.ledger.updateJobTable(jobId, row.name, { status: 'planning' });
    let batches = counts.get(row.name) ?? 0;
    for await (const group of planBatches(
      runtime.source,
      table.sourceTable,
      table.plan.keySourceColumns,
      {
        batchSize: runtime.job.options.batchSize,
        resumeFrom: row.planCursor,
        nextSeq: batches + 1,
        plannedRows: row.plannedRows,
        signal: ctx.abort,
      },
    )) {
      if ((await ctx.ledger.getJobStatus(jobId)) !== 'running') return;
      // The last group marks the table planned in the same transaction (see addBatches).
      await ctx.ledger.addBatches(
        jobId,
        row.name,
        group.batches,
        runtime.job.options.maxRetries + 1,
        {
          planCursor: group.cursor,
          plannedRows: group.plannedRows,
          done: group.done,
        },
      );
      batches += group.batches.length;
      emit({
        type: 'table-planned',
        table: row.name,
        plannedRows: group.plannedRows,
        batches,
        done: group.done,
      });
    }
  }
}
