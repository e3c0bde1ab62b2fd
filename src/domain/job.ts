/**
 * Job and batch lifecycles (DESIGN.md §4).
 *
 * Job:
 *
 *     pending ──► planning ──► running ──► completed
 *        │            │           │    ├─► completed_with_errors   (failed records or batches,
 *        │            │           │    │                            or a validation mismatch)
 *        │            │           │    └─► failed                  (a whole-job failure)
 *        └────────────┴───────────┴──► cancelling ──► cancelled    (graceful: running batches finish;
 *                                                                   a runner stopping itself goes
 *                                                                   straight to cancelled)
 *
 *   completed_with_errors | failed ──► running   (retry of failed batches, or resume)
 *   cancelled ──► running                          (resume)
 *
 * Batch:
 *
 *     pending ──► running ──► succeeded
 *                    │   └──► failed      (attempts exhausted, a fatal error, or failed records)
 *                    └──► retrying ──► running   (transient error; waits `next_attempt_at`)
 *     failed ──► pending   (retry)
 *     running ──► pending  (lease expired: its worker died; or the job was cancelled mid-flight)
 */

export const JOB_STATUSES = [
  'pending',
  'planning',
  'running',
  'cancelling',
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_JOB_STATUSES: ReadonlySet<JobStatus> = new Set([
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
]);

export function isTerminalJobStatus(status: JobStatus): boolean {
  return TERMINAL_JOB_STATUSES.has(status);
}

const JOB_TRANSITIONS: Record<JobStatus, readonly JobStatus[]> = {
  pending: ['planning', 'cancelling', 'cancelled', 'failed'],
  planning: ['running', 'cancelling', 'cancelled', 'failed', 'pending'],
  running: ['completed', 'completed_with_errors', 'failed', 'cancelling', 'cancelled', 'pending'],
  cancelling: ['cancelled'],
  completed: ['running'],
  completed_with_errors: ['running', 'pending'],
  failed: ['running', 'pending'],
  cancelled: ['running', 'pending'],
};

export function canTransitionJob(from: JobStatus, to: JobStatus): boolean {
  return from === to || JOB_TRANSITIONS[from].includes(to);
}

export const BATCH_STATUSES = ['pending', 'running', 'retrying', 'succeeded', 'failed'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** Batch states a runner may pick up. */
export const RUNNABLE_BATCH_STATUSES: readonly BatchStatus[] = ['pending', 'retrying'];

export const RECORD_STATUSES = ['success', 'failed', 'retrying', 'warning'] as const;
/**
 * `warning`: the record was written, but a value was changed by an explicit policy (a MySQL zero
 * date written as NULL, say). DESIGN.md lists success|failed|retrying; a changed value must never
 * pass as a plain success, so it gets its own status.
 */
export type RecordStatus = (typeof RECORD_STATUSES)[number];

export const AUDIT_LEVELS = ['batches', 'records'] as const;
/** `batches`: successes logged per batch (key range + count). `records`: one line per record. */
export type AuditLevel = (typeof AUDIT_LEVELS)[number];

export const VERIFY_MODES = ['none', 'count', 'checksum'] as const;
export type VerifyMode = (typeof VERIFY_MODES)[number];
