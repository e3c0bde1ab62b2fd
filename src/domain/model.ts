import type { ConnectionConfig } from './connection.js';
import type { AuditLevel, BatchStatus, JobStatus, RecordStatus, VerifyMode } from './job.js';

/** The job model (DESIGN.md §4) as plain data. Timestamps are ISO-8601 UTC strings. */

export interface JobOptions {
  /** Source tables to copy; all tables of the source database/schema when absent. */
  readonly tables?: readonly string[];
  /** Rows per batch (key range). */
  readonly batchSize: number;
  /** Automatic retries of a batch after a transient error. */
  readonly maxRetries: number;
  /** Batches of this job running at once. */
  readonly concurrency: number;
  readonly auditLevel: AuditLevel;
  /** Create missing target tables (`--no-create` turns it off). */
  readonly createTables: boolean;
  readonly verify: VerifyMode;
}

export const DEFAULT_JOB_OPTIONS: JobOptions = Object.freeze({
  batchSize: 1000,
  maxRetries: 3,
  concurrency: 4,
  auditLevel: 'batches',
  createTables: true,
  verify: 'count',
});

export interface JobError {
  readonly code: string;
  readonly message: string;
}

export interface Job {
  readonly id: string;
  readonly tenantId: string;
  readonly status: JobStatus;
  /** Redacted descriptions (no secrets); the configs themselves stay encrypted in the store. */
  readonly sourceDescription: string;
  readonly targetDescription: string;
  readonly sourceType: string;
  readonly targetType: string;
  readonly options: JobOptions;
  readonly startedBy: string | null;
  readonly error: JobError | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/** A job with its decrypted connection configs: only ever held by the process running it. */
export interface JobWithSecrets extends Job {
  readonly source: ConnectionConfig;
  readonly target: ConnectionConfig;
}

export const JOB_TABLE_STATUSES = [
  'pending',
  'prepared',
  'planning',
  'planned',
  'finalized',
  'failed',
] as const;
/**
 *     pending ──► prepared (target table ready) ──► planning ──► planned (every batch exists)
 *        │             │                              │              └──► finalized (indexes, identity)
 *        └─────────────┴──────────────────────────────┴──► failed (the table cannot be migrated)
 */
export type JobTableStatus = (typeof JOB_TABLE_STATUSES)[number];

export type ValidationStatus = 'pending' | 'passed' | 'failed' | 'skipped';

export interface JobTable {
  readonly jobId: string;
  /** Source table name (schema-qualified when the source has schemas). */
  readonly name: string;
  readonly targetName: string;
  readonly ordinal: number;
  readonly status: JobTableStatus;
  /** The persisted `TablePlan` (engine/plan.ts), JSON. */
  readonly plan: unknown;
  /** Planning resumes strictly after this key. */
  readonly planCursor: readonly unknown[] | null;
  readonly createdByJob: boolean;
  readonly estimatedRows: number;
  /** Rows counted while planning (exact for keyed tables). */
  readonly plannedRows: number;
  readonly sourceRows: number | null;
  readonly targetRows: number | null;
  readonly sourceChecksum: string | null;
  readonly targetChecksum: string | null;
  readonly validation: ValidationStatus;
  readonly error: string | null;
  readonly notes: readonly string[];
}

export interface Batch {
  readonly id: number;
  readonly jobId: string;
  readonly tableName: string;
  /** Position of the batch within its table, from 1. */
  readonly seq: number;
  readonly lo: readonly unknown[] | null;
  readonly hi: readonly unknown[] | null;
  readonly status: BatchStatus;
  /** Times the batch was started, ever (never reset: a second attempt knows it may find rows). */
  readonly attempts: number;
  /** `attempts` may reach this before the batch stays failed. */
  readonly maxAttempts: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly rowsFailed: number;
  readonly durationMs: number | null;
  readonly workerId: string | null;
  readonly leaseExpiresAt: string | null;
  readonly nextAttemptAt: string | null;
  readonly lastError: string | null;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

export interface RecordLog {
  readonly id: number;
  readonly jobId: string;
  readonly batchId: number | null;
  readonly tableName: string;
  /** `record`: one record; `batch`: a whole batch (its success count, or why it failed as a whole). */
  readonly scope: 'record' | 'batch';
  /** The source key (`42`, or a JSON array for composite keys), or a key range for batch lines. */
  readonly recordId: string;
  readonly status: RecordStatus;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly retryCount: number;
  /** Records this line stands for (1, or a batch's count for per-batch success lines). */
  readonly rows: number;
  readonly createdAt: string;
}

export type NewRecordLog = Omit<RecordLog, 'id' | 'createdAt'>;
