import { FreightError } from '../domain/errors.js';
import { isTerminalJobStatus, type JobStatus } from '../domain/job.js';
import type { JobLedger } from './ledger.js';

/**
 * Graceful cancel (DESIGN.md §3): no new batch starts; running batches finish; the job ends
 * `cancelled` — at once when nothing is running, else when the last running batch finishes
 * (the step that finishes it calls `settleCancel`). Works the same from the API, the CLI or any
 * worker, because it only changes the job's state in the store.
 */
export async function requestCancel(ledger: JobLedger, jobId: string): Promise<JobStatus> {
  const status = await ledger.getJobStatus(jobId);
  if (status === null) throw new FreightError('JOB_NOT_FOUND', `job ${jobId} not found`);
  if (isTerminalJobStatus(status)) {
    throw new FreightError(
      'CONFLICT',
      `job ${jobId} is already ${status}; only a job that has not finished can be cancelled`,
    );
  }
  if (status !== 'cancelling') {
    await ledger.transitionJob(jobId, ['pending', 'planning', 'running'], 'cancelling');
  }
  return settleCancel(ledger, jobId);
}

/** cancelling → cancelled once no batch of the job is running. Returns the job's status. */
export async function settleCancel(ledger: JobLedger, jobId: string): Promise<JobStatus> {
  const counts = await ledger.batchCounts(jobId);
  const running = counts.reduce((n, c) => n + c.running, 0);
  if (running === 0) {
    await ledger.transitionJob(jobId, ['cancelling'], 'cancelled', {
      finishedAt: new Date().toISOString(),
    });
  }
  return (await ledger.getJobStatus(jobId)) ?? 'cancelled';
}
