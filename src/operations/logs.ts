import { z } from 'zod';
import { RECORD_STATUSES } from '../domain/job.js';
import { tenantJob } from './job-access.js';
import { defineOperation, READ } from './operation.js';
import { presentLog } from './presenters.js';
import { Cursor, JobIdParams, Limit, RecordLogSchema, StatusList } from './schemas.js';

const COMMON = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'TENANT_REQUIRED',
  'RATE_LIMITED',
  'INTERNAL',
  'JOB_NOT_FOUND',
  'VALIDATION_FAILED',
] as const;

export const getMigrationLogs = defineOperation({
  id: 'get_migration_logs',
  method: 'GET',
  path: '/api/v1/jobs/{job_id}/logs',
  summary: "Read a job's record logs",
  description:
    "Returns a job's record-level log, newest first: every failed record with its source key and the database's message, records written with a policy change (warning), retries, and per-batch success lines. Filter by status (failed, warning, retrying, success). Page with limit and cursor: pass next_cursor from one page to get the next; pages stay stable while the job keeps writing. For a full file use export_migration_logs.",
  tags: ['logs'],
  role: 'viewer',
  tenantScoped: true,
  toolset: 'logs',
  annotations: READ,
  params: JobIdParams,
  query: z
    .object({
      status: StatusList(RECORD_STATUSES)
        .optional()
        .describe('Only these statuses, e.g. failed or failed,warning.'),
      limit: Limit(500, 50),
      cursor: Cursor.describe('next_cursor of the previous page.'),
    })
    .strict(),
  output: z.object({
    job_id: z.string(),
    logs: z.array(RecordLogSchema),
    total: z.number().int().describe('Lines matching the filter, over all pages.'),
    next_cursor: z
      .number()
      .int()
      .nullable()
      .describe('Pass as cursor for the next (older) page; null on the last page.'),
  }),
  successStatus: 200,
  errors: [...COMMON],
  audited: false,
  async handler(ctx, { params, query }) {
    const job = await tenantJob(ctx, params.job_id);
    const { logs, total } = await ctx.services.store.listRecordLogs(job.id, {
      ...(query.status ? { status: query.status } : {}),
      limit: query.limit + 1,
      ...(query.cursor !== undefined ? { before: query.cursor } : {}),
    });
    const page = logs.slice(0, query.limit);
    return {
      job_id: job.id,
      logs: page.map(presentLog),
      total,
      next_cursor: logs.length > query.limit ? page.at(-1)!.id : null,
    };
  },
});

export const exportMigrationLogs = defineOperation({
  id: 'export_migration_logs',
  method: 'GET',
  path: '/api/v1/logs/export/{job_id}',
  summary: "Export a job's record logs",
  description:
    "Prepares a download of a job's whole record log as CSV, JSON (an array) or JSON lines, optionally only some statuses. Returns a signed link (export_url) that works without any header — a browser or an assistant can fetch it — until expires_at, plus the number of lines it holds. Never returns the file content itself.",
  tags: ['logs'],
  role: 'engineer',
  tenantScoped: true,
  toolset: 'logs',
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  params: JobIdParams,
  query: z
    .object({
      format: z
        .enum(['csv', 'json', 'jsonl'])
        .default('csv')
        .describe('csv (default), json (one array) or jsonl (one object per line).'),
      status: StatusList(RECORD_STATUSES).optional().describe('Only these statuses.'),
    })
    .strict(),
  output: z.object({
    job_id: z.string(),
    format: z.enum(['csv', 'json', 'jsonl']),
    export_url: z
      .string()
      .describe('Download link; the link itself is the credential — share it with care.'),
    expires_at: z.string(),
    records: z.number().int().describe('Log lines in the file.'),
  }),
  successStatus: 200,
  errors: [...COMMON],
  audited: true,
  auditTarget: (input) => input.params.job_id,
  async handler(ctx, { params, query }) {
    const job = await tenantJob(ctx, params.job_id);
    const { total } = await ctx.services.store.listRecordLogs(job.id, {
      ...(query.status ? { status: query.status } : {}),
      limit: 1,
    });
    const { token, expiresAt } = ctx.services.exports.sign({
      jobId: job.id,
      tenantId: job.tenantId,
      format: query.format,
      ...(query.status ? { status: query.status } : {}),
    });
    return {
      job_id: job.id,
      format: query.format,
      export_url: `${ctx.baseUrl}/api/v1/exports/${token}`,
      expires_at: expiresAt,
      records: total,
    };
  },
});
