import type { JobEvent } from '../events.js';
import type { JobRuntime } from '../job-runtime.js';
import type { JobLedger } from '../ledger.js';
import type { Task } from '../tasks.js';

/** What a step needs from the process running it (a worker provides it). */
export interface StepContext {
  readonly ledger: JobLedger;
  /** This process, as recorded on the batches and locks it holds. */
  readonly workerId: string;
  /** How long a batch or job lock stays ours without renewal. */
  readonly leaseMs: number;
  /** Enqueues a task, optionally after a delay. */
  schedule(task: Task, delayMs?: number): Promise<void>;
  emit(jobId: string, event: JobEvent): void;
  /** The job's runtime in this process: connectors opened once and shared by its steps. */
  runtime(jobId: string): Promise<JobRuntime>;
  /** Aborted when this process stops hard: running batches roll back and are handed back. */
  readonly abort: AbortSignal;
  /** Most batches of one tenant running at once, across all of its jobs (0: no cap). */
  readonly tenantConcurrency?: number;
}

/**
 * A plan or finalize step that finds the job's lock taken tries again after this long (plus a
 * lease): the holder may have died, and then this task — its redelivery, or a worker's start-up
 * re-queue — is the only one left to do the step. Its queue lock usually expires before the job
 * lock (30 s against 60 s by default), so the redelivery alone often arrives too early.
 */
export function lockRetryDelayMs(leaseMs: number): number {
  return leaseMs + 250;
}

/** Calls `renew` every third of the lease while `work` runs. */
export async function withLease<T>(
  leaseMs: number,
  renew: () => Promise<unknown>,
  work: () => Promise<T>,
): Promise<T> {
  const timer = setInterval(
    () => {
      void renew().catch(() => {});
    },
    Math.max(200, leaseMs / 3),
  );
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
