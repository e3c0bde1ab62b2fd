import { toFreightError } from '../../domain/errors.js';
import { newShortId } from '../../domain/ids.js';
import type { JobEvent } from '../events.js';
import { settleCancel } from '../job-control.js';
import { finishTables } from '../job-finish.js';
import { loadTables } from '../job-runtime.js';
import { verdict } from '../verdict.js';
import { lockRetryDelayMs, withLease, type StepContext } from './step-context.js';

/**
 * The `finalize` task: once every table is planned and no batch is open, builds indexes and
 * constraints, validates, and records the job's verdict. The job's finalize lock makes sure only
 * one process does it; a step that finds work still open simply does nothing.
 */
export async function finalizeStep(ctx: StepContext, jobId: string): Promise<void> {
  const { ledger } = ctx;
  // The owner is this invocation, not the worker: two finalize tasks in one process must exclude each other too.
  const owner = newShortId(`${ctx.workerId}-finalize`);
  if (!(await ledger.acquireJobLock(jobId, owner, 'finalize', ctx.leaseMs))) {
    // Another process is finalizing (or planning). Should it die, this task must finish the job.
    if ((await ledger.getJobStatus(jobId)) === 'running')
      await ctx.schedule({ kind: 'finalize', jobId }, lockRetryDelayMs(ctx.leaseMs));
    return;
  }
  const emit = (event: JobEvent) => ctx.emit(jobId, event);
  try {
    await withLease(
      ctx.leaseMs,
      () => ledger.acquireJobLock(jobId, owner, 'finalize', ctx.leaseMs),
      async () => {
        if ((await ledger.getJobStatus(jobId)) !== 'running') return;
        const [counts, rows] = await Promise.all([
          ledger.batchCounts(jobId),
          ledger.listJobTables(jobId),
        ]);
        if (counts.some((c) => c.pending + c.running + c.retrying > 0)) return;
        if (
          rows.some(
            (r) => r.status !== 'planned' && r.status !== 'finalized' && r.status !== 'failed',
          )
        )
          return;
        const runtime = await ctx.runtime(jobId);
        loadTables(runtime, rows);
        const problems = await finishTables(ledger, runtime, rows, emit, ctx.abort);
        const [status, error] = verdict(counts, problems);
        if (
          await ledger.transitionJob(jobId, ['running'], status, {
            error,
            finishedAt: new Date().toISOString(),
          })
        ) {
          emit({ type: 'status', status });
        } else if ((await ledger.getJobStatus(jobId)) === 'cancelling') {
          emit({ type: 'status', status: await settleCancel(ledger, jobId) });
        }
      },
    );
  } catch (error) {
    if (ctx.abort.aborted) return;
    const e = toFreightError(error);
    if (e.kind === 'transient') {
      // A database restarting: the job stays as it is and this step runs again shortly.
      emit({ type: 'log', level: 'warn', message: `${e.message} (retrying the finalize step)` });
      await ctx.schedule({ kind: 'finalize', jobId }, 2000);
      return;
    }
    emit({ type: 'log', level: 'error', message: `${e.code}: ${e.message}` });
    if (
      await ledger.transitionJob(jobId, ['running'], 'failed', {
        error: { code: e.code, message: e.message },
        finishedAt: new Date().toISOString(),
      })
    ) {
      emit({ type: 'status', status: 'failed' });
    }
  } finally {
    await ledger.releaseJobLock(jobId, owner);
  }
}
