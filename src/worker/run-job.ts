import { isTerminalJobStatus, type JobStatus } from '../domain/job.js';
import type { JobError, JobWithSecrets } from '../domain/model.js';
import type { JobEvent } from '../engine/events.js';
import { requestCancel } from '../engine/job-control.js';
import { summarizeTables, type TableOutcome } from '../engine/job-summary.js';
import type { JobLedger } from '../engine/ledger.js';
import type { Connectors } from '../engine/ports.js';
import { InProcessQueue } from '../queue/in-process-queue.js';
import { Worker } from './worker.js';

export interface RunJobOptions {
  readonly ledger: JobLedger;
  readonly job: JobWithSecrets;
  readonly connectors: Connectors;
  readonly workerId?: string;
  /** Graceful cancel: no new batch starts, running batches finish, the job ends `cancelled`. */
  readonly cancel?: AbortSignal;
  /** Hard stop: running batches roll back and are handed back; the job ends `cancelled`. */
  readonly abort?: AbortSignal;
  readonly onEvent?: (event: JobEvent) => void;
  readonly leaseMs?: number;
  /** Resume: batches and locks left by a process that died are taken over at once. */
  readonly takeOver?: boolean;
}

export interface JobOutcome {
  readonly status: JobStatus;
  readonly error: JobError | null;
  readonly tables: readonly TableOutcome[];
  readonly durationMs: number;
}

/**
 * Runs one job to its end in this process (the CLI, tests): an in-process queue and a worker
 * driving the same tasks a distributed deployment runs.
 */
export async function runJob(o: RunJobOptions): Promise<JobOutcome> {
  const started = Date.now();
  const jobId = o.job.id;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const queue = new InProcessQueue();
  const worker = new Worker({
    ledger: o.ledger,
    queue,
    connectors: o.connectors,
    ...(o.workerId ? { workerId: o.workerId } : {}),
    concurrency: o.job.options.concurrency + 1,
    ...(o.leaseMs ? { leaseMs: o.leaseMs } : {}),
    onEvent: (id, event) => {
      if (id !== jobId) return;
      o.onEvent?.(event);
      if (event.type === 'status' && isTerminalJobStatus(event.status)) finish();
    },
  });
  if (o.takeOver) {
    await o.ledger.requeueStaleBatches(jobId, { force: true, exceptWorker: worker.id });
    await o.ledger.releaseJobLock(jobId, null);
  }
  const onCancel = () => {
    requestCancel(o.ledger, jobId)
      .then((status) => isTerminalJobStatus(status) && finish())
      .catch(() => finish());
  };
  o.cancel?.addEventListener('abort', onCancel, { once: true });
  o.abort?.addEventListener('abort', finish, { once: true });
  // A safety net: the store is the truth, whatever path the job took to its end.
  const poll = setInterval(() => {
    void o.ledger.getJobStatus(jobId).then((s) => s && isTerminalJobStatus(s) && finish());
  }, 1000);
  try {
    worker.start();
    await queue.enqueue({ kind: 'plan', jobId });
    await done;
  } finally {
    clearInterval(poll);
    o.cancel?.removeEventListener('abort', onCancel);
    o.abort?.removeEventListener('abort', finish);
    await worker.stop({ hard: o.abort?.aborted ?? false });
    await queue.close();
  }
  if (o.abort?.aborted) {
    await o.ledger.transitionJob(
      jobId,
      ['pending', 'planning', 'running', 'cancelling'],
      'cancelled',
      {
        finishedAt: new Date().toISOString(),
      },
    );
  }
  const job = await o.ledger.getJobWithSecrets(jobId);
  return {
    status: job?.status ?? 'failed',
    error: job?.error ?? null,
    tables: await summarizeTables(o.ledger, jobId),
    durationMs: Date.now() - started,
  };
}
