import { settleCancel } from '../engine/job-control.js';
import type { JobQueue } from '../queue/job-queue.js';
import type { MetadataStore } from '../store/store.js';

/**
 * Re-queues every unfinished job at start-up (DESIGN.md §2: pending work is re-queued). With
 * `takeOver` (the embedded server: no other worker can hold its batches) batches and locks left by
 * the previous process are released at once; otherwise they come back when their leases expire.
 */
export async function recoverJobs(
  store: MetadataStore,
  queue: JobQueue,
  options: { takeOver: boolean; workerId: string },
): Promise<number> {
  const jobs = await store.unfinishedJobs();
  for (const { id, status } of jobs) {
    if (options.takeOver) {
      await store.requeueStaleBatches(id, { force: true, exceptWorker: options.workerId });
      await store.releaseJobLock(id, null);
    }
    if (status === 'cancelling') {
      await settleCancel(store, id);
      continue;
    }
    await queue.enqueue({ kind: 'plan', jobId: id });
  }
  return jobs.length;
}
