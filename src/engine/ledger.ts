import type { JobStatus } from '../domain/job.js';
import type { Batch, JobError, JobTable, JobWithSecrets, NewRecordLog } from '../domain/model.js';
import type { KeyRange } from './ports.js';

/**
 * What the engine needs from the metadata store. `store/` implements it; tests may too. Every
 * method is one small, atomic step, so several processes can share a job (DESIGN.md §5, leases).
 */
export interface JobLedger {
  /** Moves the job to `to` if its status is one of `from`; false when it was not. */
  transitionJob(
    jobId: string,
    from: readonly JobStatus[],
    to: JobStatus,
    patch?: { error?: JobError | null; startedAt?: string; finishedAt?: string | null },
  ): Promise<boolean>;
  getJobStatus(jobId: string): Promise<JobStatus | null>;
  /** The job with decrypted connection configs, for the process that runs it. */
  getJobWithSecrets(jobId: string): Promise<JobWithSecrets | null>;

  listJobTables(jobId: string): Promise<JobTable[]>;
  /** Inserts or replaces the row of (jobId, name). */
  saveJobTable(table: JobTable): Promise<void>;
  updateJobTable(
    jobId: string,
    name: string,
    patch: Partial<Omit<JobTable, 'jobId' | 'name'>>,
  ): Promise<void>;

  /**
   * Adds the next batches of a table and, in the same transaction, moves its plan cursor — and,
   * with `done`, marks the table planned, so a planner that dies right after its last batches
   * cannot leave a cursor that a resumed plan would cut the last (open-ended) batch from again.
   */
  addBatches(
    jobId: string,
    tableName: string,
    batches: ReadonlyArray<{ seq: number; range: KeyRange }>,
    maxAttempts: number,
    progress: { planCursor: readonly unknown[] | null; plannedRows: number; done?: boolean },
  ): Promise<void>;

  /**
   * Claims the next runnable batch of the job (a due retry first, else the first pending), sets it
   * running with a lease and counts the attempt. Null when nothing is runnable now, or when the
   * job (`maxRunning`) or its tenant (`maxRunningForTenant`) already has that many batches running.
   */
  claimBatch(
    jobId: string,
    workerId: string,
    leaseMs: number,
    limits?: ClaimLimits,
  ): Promise<Batch | null>;
  /** Claims one given batch if it is runnable (queue deliveries). */
  claimBatchById(batchId: number, workerId: string, leaseMs: number): Promise<Batch | null>;
  renewLease(batchId: number, workerId: string, leaseMs: number): Promise<boolean>;
  /**
   * Records the outcome of a batch this worker holds, with its record log lines, in one
   * transaction. False (and nothing written) if the lease was lost meanwhile.
   */
  finishBatch(
    batchId: number,
    workerId: string,
    outcome: BatchOutcome,
    logs?: readonly NewRecordLog[],
  ): Promise<boolean>;
  /** Gives a running batch back (hard cancel, shutdown): it becomes pending again. */
  releaseBatch(batchId: number, workerId: string): Promise<void>;
  /** Running batches whose lease expired (or, with `force`, any not held by `exceptWorker`) → pending. */
  requeueStaleBatches(
    jobId: string,
    options?: { force?: boolean; exceptWorker?: string },
  ): Promise<number>;
  /** Failed batches → pending with a fresh retry budget; all of them, or the given ids. */
  resetFailedBatches(
    jobId: string,
    batchIds: readonly number[] | null,
    maxRetries: number,
  ): Promise<number>;
  /** Earliest `next_attempt_at` of the job's retrying batches (to sleep until), or null. */
  nextRetryAt(jobId: string): Promise<string | null>;

  /**
   * Takes the job's lease for `kind` (planning, finalizing) when nobody holds it or it expired;
   * true when `owner` holds it now. Renewed by calling again.
   */
  acquireJobLock(
    jobId: string,
    owner: string,
    kind: 'plan' | 'finalize',
    leaseMs: number,
  ): Promise<boolean>;
  /** Releases the lock held by `owner`, or whoever holds it when `owner` is null (a takeover). */
  releaseJobLock(jobId: string, owner: string | null): Promise<void>;

  batchCounts(jobId: string): Promise<BatchCounts[]>;
  /** Per table: when its first batch started, its last finished, and its warning records. */
  tableActivity(jobId: string): Promise<TableActivity[]>;
  appendRecordLogs(entries: readonly NewRecordLog[]): Promise<void>;
  /** Record ids of the table's failed records (excluded from the source side of a checksum). */
  failedRecordIds(jobId: string, tableName: string): Promise<string[]>;
}

export type BatchOutcome =
  | {
      readonly status: 'succeeded' | 'failed';
      readonly rowsRead: number;
      readonly rowsWritten: number;
      readonly rowsFailed: number;
      readonly durationMs: number;
      readonly error?: string | null;
    }
  | {
      readonly status: 'retrying';
      readonly nextAttemptAt: string;
      readonly durationMs: number;
      readonly error: string;
      /**
       * The database could not even be reached: the attempt does not count against the batch's
       * retry budget (its `max_attempts` grows by one), so a restarting database is waited for.
       */
      readonly extendBudget?: boolean;
    };

export interface ClaimLimits {
  readonly maxRunning?: number;
  readonly maxRunningForTenant?: number;
  /**
   * Claim only while the job is `running`, checked in the claim itself (and, on PostgreSQL, with
   * the job row share-locked), so a cancel that lands between a worker's status check and its
   * claim stops the batch from starting.
   */
  readonly onlyWhileRunning?: boolean;
}

export interface TableActivity {
  readonly tableName: string;
  readonly firstStartedAt: string | null;
  readonly lastFinishedAt: string | null;
  readonly warnings: number;
}

/** Per-table aggregate of a job's batches. */
export interface BatchCounts {
  readonly tableName: string;
  readonly total: number;
  readonly pending: number;
  readonly running: number;
  readonly retrying: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly rowsFailed: number;
}
