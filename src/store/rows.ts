import type { Selectable, Updateable } from 'kysely';
import type { BatchStatus, JobStatus, RecordStatus } from '../domain/job.js';
import type {
  Batch,
  Job,
  JobOptions,
  JobTable,
  JobTableStatus,
  RecordLog,
  ValidationStatus,
} from '../domain/model.js';
import { decodeKey, encodeKey } from '../domain/keys.js';
import type { BatchesTable, JobTablesTable, JobsTable, RecordLogsTable } from './schema.js';

/** Row ↔ domain mapping. The only place that knows column names and JSON encodings. */

export function nowIso(): string {
  return new Date().toISOString();
}

/** Timestamps come back as Date (pg default), ISO strings or null. */
export function iso(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

export function toJob(row: Selectable<JobsTable>): Job {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    status: row.status as JobStatus,
    sourceDescription: row.source_description,
    targetDescription: row.target_description,
    sourceType: row.source_type,
    targetType: row.target_type,
    options: JSON.parse(row.options) as JobOptions,
    startedBy: row.started_by,
    error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
}

export function toJobTable(row: Selectable<JobTablesTable>): JobTable {
  return {
    jobId: row.job_id,
    name: row.name,
    targetName: row.target_name,
    ordinal: row.ordinal,
    status: row.status as JobTableStatus,
    plan: row.plan === null ? null : JSON.parse(row.plan),
    planCursor: row.plan_cursor === null ? null : decodeKey(row.plan_cursor),
    createdByJob: Boolean(row.created_by_job),
    estimatedRows: Number(row.estimated_rows),
    plannedRows: Number(row.planned_rows),
    sourceRows: row.source_rows === null ? null : Number(row.source_rows),
    targetRows: row.target_rows === null ? null : Number(row.target_rows),
    sourceChecksum: row.source_checksum,
    targetChecksum: row.target_checksum,
    validation: row.validation as ValidationStatus,
    error: row.error,
    notes: JSON.parse(row.notes) as string[],
  };
}

export function fromJobTable(t: Partial<JobTable>): Updateable<JobTablesTable> {
  const out: Updateable<JobTablesTable> = {};
  if (t.targetName !== undefined) out.target_name = t.targetName;
  if (t.ordinal !== undefined) out.ordinal = t.ordinal;
  if (t.status !== undefined) out.status = t.status;
  if (t.plan !== undefined) out.plan = t.plan === null ? null : JSON.stringify(t.plan);
  if (t.planCursor !== undefined)
    out.plan_cursor = t.planCursor === null ? null : encodeKey(t.planCursor);
  if (t.createdByJob !== undefined) out.created_by_job = t.createdByJob ? 1 : 0;
  if (t.estimatedRows !== undefined) out.estimated_rows = t.estimatedRows;
  if (t.plannedRows !== undefined) out.planned_rows = t.plannedRows;
  if (t.sourceRows !== undefined) out.source_rows = t.sourceRows;
  if (t.targetRows !== undefined) out.target_rows = t.targetRows;
  if (t.sourceChecksum !== undefined) out.source_checksum = t.sourceChecksum;
  if (t.targetChecksum !== undefined) out.target_checksum = t.targetChecksum;
  if (t.validation !== undefined) out.validation = t.validation;
  if (t.error !== undefined) out.error = t.error;
  if (t.notes !== undefined) out.notes = JSON.stringify(t.notes);
  return out;
}

export function toBatch(row: Selectable<BatchesTable>): Batch {
  return {
    id: Number(row.id),
    jobId: row.job_id,
    tableName: row.table_name,
    seq: row.seq,
    lo: row.lo === null ? null : decodeKey(row.lo),
    hi: row.hi === null ? null : decodeKey(row.hi),
    status: row.status as BatchStatus,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    rowsRead: Number(row.rows_read),
    rowsWritten: Number(row.rows_written),
    rowsFailed: Number(row.rows_failed),
    durationMs: row.duration_ms,
    workerId: row.worker_id,
    leaseExpiresAt: iso(row.lease_expires_at),
    nextAttemptAt: iso(row.next_attempt_at),
    lastError: row.last_error,
    createdAt: iso(row.created_at)!,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
}

export function toRecordLog(row: Selectable<RecordLogsTable>): RecordLog {
  return {
    id: Number(row.id),
    jobId: row.job_id,
    batchId: row.batch_id === null ? null : Number(row.batch_id),
    tableName: row.table_name,
    scope: row.scope as RecordLog['scope'],
    recordId: row.record_id,
    status: row.status as RecordStatus,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    retryCount: row.retry_count,
    rows: row.rows,
    createdAt: iso(row.created_at)!,
  };
}
