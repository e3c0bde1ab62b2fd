import { z } from 'zod';
import { ROLES } from '../domain/access.js';
import { UserConnectionSchema } from '../domain/connection.js';
import {
  AUDIT_LEVELS,
  BATCH_STATUSES,
  JOB_STATUSES,
  RECORD_STATUSES,
  VERIFY_MODES,
} from '../domain/job.js';

/** Shared request and response shapes of the REST API (and so of the MCP tools). */

export const JobId = z
  .uuid({ error: 'must be a job id (a UUID)' })
  .describe('The job id (a UUID).');
export const JobIdParams = z.object({ job_id: JobId }).strict();

/** Table names: one optional schema qualifier; no control characters; quoted wherever they reach SQL. */
export const TableName = z
  .string()
  .min(1)
  .max(129)
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters')
  .describe(
    'A source table, optionally qualified by its schema/database: `users` or `shop.users`.',
  );

export const ConnectionInput = z
  .union([UserConnectionSchema, z.string().min(1).max(2048)])
  .describe(
    'Where to connect: an object {type: mysql|mariadb|postgresql|sqlite|csv, host, port, database, user, password, schema?} or a URL such as mysql://user:pass@host:3306/db. Passwords are encrypted at rest and never returned.',
  );

export const CreateJobBody = z
  .object({
    source_config: ConnectionInput,
    target_config: ConnectionInput,
    tables: z
      .array(TableName)
      .min(1)
      .max(1000)
      .optional()
      .describe('Tables to copy; every table of the source when omitted.'),
    batch_size: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1000)
      .describe('Rows per batch (a key range of a table).'),
    max_retries: z
      .number()
      .int()
      .min(0)
      .max(20)
      .default(3)
      .describe('Automatic retries of a batch after a transient error.'),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(32)
      .default(4)
      .describe('Batches of this job running at once.'),
    audit_level: z
      .enum(AUDIT_LEVELS)
      .default('batches')
      .describe('Log successes per batch (default) or per record.'),
    verify: z
      .enum(VERIFY_MODES)
      .default('count')
      .describe('After the load: compare row counts (default), checksums, or nothing.'),
    create_tables: z
      .boolean()
      .default(true)
      .describe('Create missing target tables from the source schema.'),
    started_by: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('Who or what started the job, for the record.'),
    validate: z
      .boolean()
      .default(false)
      .describe(
        'Connect to both databases before creating the job and answer 400 if either cannot be reached.',
      ),
  })
  .strict();

export const JobError = z.object({ code: z.string(), message: z.string() }).nullable();

export const BatchCountsSchema = z.object({
  total: z.number().int(),
  pending: z.number().int(),
  running: z.number().int(),
  retrying: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
});

export const ProgressSchema = z.object({
  rows_estimated: z
    .number()
    .int()
    .describe('Rows the source reported before planning (an estimate).'),
  rows_planned: z
    .number()
    .int()
    .describe('Rows counted while planning (exact once planning is done).'),
  planning_done: z.boolean(),
  rows_read: z.number().int(),
  rows_written: z.number().int(),
  rows_failed: z.number().int(),
  percent: z.number().describe('Rows done (written + failed) of rows planned, 0–100.'),
  rows_per_second: z
    .number()
    .nullable()
    .describe(
      "While running: rows per second over the last 30 s (smoothed); afterwards the job's average.",
    ),
  eta_seconds: z
    .number()
    .nullable()
    .describe('Estimated seconds left at the recent rate; null when unknown or finished.'),
  batches: BatchCountsSchema,
});

export const JobSchema = z.object({
  job_id: z.string(),
  tenant_id: z.string(),
  status: z.enum(JOB_STATUSES),
  source: z.string().describe('The source, without credentials.'),
  target: z.string().describe('The target, without credentials.'),
  source_type: z.string(),
  target_type: z.string(),
  options: z.object({
    tables: z.array(z.string()).nullable(),
    batch_size: z.number().int(),
    max_retries: z.number().int(),
    concurrency: z.number().int(),
    audit_level: z.enum(AUDIT_LEVELS),
    verify: z.enum(VERIFY_MODES),
    create_tables: z.boolean(),
  }),
  started_by: z.string().nullable(),
  error: JobError,
  created_at: z.string(),
  updated_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  progress: ProgressSchema,
});

export const TableProgressSchema = z.object({
  table: z.string(),
  target: z.string(),
  status: z.string().describe('pending, prepared, planning, planned, finalized or failed'),
  rows_estimated: z.number().int(),
  rows_planned: z.number().int(),
  rows_read: z.number().int(),
  rows_written: z.number().int(),
  rows_failed: z.number().int(),
  rows_warned: z.number().int(),
  batches: z.number().int(),
  batches_succeeded: z.number().int(),
  batches_failed: z.number().int(),
  batches_open: z.number().int(),
  percent: z.number(),
  rows_per_second: z
    .number()
    .describe("Recent rate while the job runs (last 30 s), else the table's average."),
  eta_seconds: z
    .number()
    .nullable()
    .describe('Estimated seconds left for this table at the recent rate; null when unknown.'),
  source_rows: z.number().int().nullable(),
  target_rows: z.number().int().nullable(),
  validation: z.string(),
  notes: z.array(z.string()),
  errors: z.array(z.string()),
});

export const BatchSchema = z.object({
  batch_id: z.number().int(),
  table: z.string(),
  seq: z.number().int(),
  key_range: z.string().describe("The batch's key range [lo, hi)."),
  status: z.enum(BATCH_STATUSES),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  rows_read: z.number().int(),
  rows_written: z.number().int(),
  rows_failed: z.number().int(),
  duration_ms: z.number().int().nullable(),
  worker_id: z.string().nullable(),
  last_error: z.string().nullable(),
  next_attempt_at: z.string().nullable(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
});

export const JobDetailSchema = JobSchema.extend({
  tables: z.array(TableProgressSchema),
  failed_batches: z
    .array(BatchSchema)
    .describe('Up to 20 failed batches; list them all with list_job_batches.'),
});

export const RecordLogSchema = z.object({
  log_id: z.number().int(),
  batch_id: z.number().int().nullable(),
  table: z.string(),
  scope: z.enum(['record', 'batch']),
  record_id: z.string().describe('The source key of the record (or a key range for batch lines).'),
  status: z.enum(RECORD_STATUSES),
  error_code: z.string().nullable(),
  error_message: z.string().nullable(),
  retry_count: z.number().int(),
  rows: z.number().int(),
  created_at: z.string(),
});

/**
 * A whole number that may arrive as query-string text: only plain decimal digits are read as a
 * number ("0x10", "1e2", " 5" and "" are refused, where Number() would accept them); JSON numbers
 * (MCP arguments, request bodies) pass through to `inner`.
 */
export const QueryInt = <T extends z.ZodType>(inner: T) =>
  z.preprocess((v) => (typeof v === 'string' && /^[0-9]{1,15}$/.test(v) ? Number(v) : v), inner);

export const Limit = (max: number, dflt: number) =>
  QueryInt(z.number().int().min(1).max(max).default(dflt));
export const Offset = QueryInt(z.number().int().min(0).max(10_000_000).default(0));
/** A page cursor: the next_cursor of the previous page. */
export const Cursor = QueryInt(z.number().int().positive().optional());

/**
 * A set of states: a list (`["failed","retrying"]`, or `status=failed&status=retrying` in a query
 * string) or one comma-separated string (`failed,retrying`).
 */
export const StatusList = <T extends readonly [string, ...string[]]>(values: T) =>
  z
    .union([
      z.array(z.enum(values)).min(1),
      z
        .string()
        .regex(
          new RegExp(`^(${values.join('|')})(,(${values.join('|')}))*$`),
          `must be one or more of ${values.join(', ')}, comma-separated`,
        )
        .transform((s) => s.split(',') as T[number][]),
    ])
    .transform((v) => v as T[number][]);

export const RoleSchema = z.enum(ROLES);

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  request_id: z.string(),
});
