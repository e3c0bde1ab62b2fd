import { z } from 'zod';
import { sourceTypes, targetTypes } from '../connectors/index.js';
import { FreightError } from '../domain/errors.js';
import { BATCH_STATUSES, JOB_STATUSES } from '../domain/job.js';
import { requestCancel } from '../engine/job-control.js';
import { summarizeTables } from '../engine/job-summary.js';
import { checkConnections } from './check-connections.js';
import { connectionFrom, tenantJob } from './job-access.js';
import { defineOperation, READ } from './operation.js';
import { presentBatch, presentJob, presentJobDetail, presentTables } from './presenters.js';
import {
  BatchSchema,
  CreateJobBody,
  JobDetailSchema,
  JobIdParams,
  JobSchema,
  Limit,
  Offset,
  StatusList,
  TableProgressSchema,
} from './schemas.js';

const JOB_ERRORS = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'TENANT_REQUIRED',
  'RATE_LIMITED',
  'INTERNAL',
] as const;

export const createMigrationJob = defineOperation({
  id: 'create_migration_job',
  method: 'POST',
  path: '/api/v1/jobs',
  summary: 'Create a migration job',
  description:
    'Creates a job that copies tables from a source database into a target database, and starts it. Use it when the user asks to migrate, copy or move data between databases. The job is planned into batches (key ranges of each table) that workers copy; follow it with get_migration_job. Returns the new job (status pending). With validate=true both databases are contacted first and an unreachable one is a 400; otherwise such a job is created and ends failed with the reason.',
  tags: ['jobs'],
  role: 'engineer',
  tenantScoped: true,
  toolset: 'jobs',
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: true,
  },
  body: CreateJobBody,
  output: JobSchema,
  successStatus: 201,
  errors: ['VALIDATION_FAILED', 'POLICY_VIOLATION', 'CONNECTION_FAILED', ...JOB_ERRORS],
  audited: true,
  auditTarget: (_input, output) => (output as { job_id?: string }).job_id ?? null,
  async handler(ctx, { body }) {
    const source = connectionFrom(body.source_config, 'source_config');
    const target = connectionFrom(body.target_config, 'target_config');
    if (!sourceTypes().includes(source.type)) {
      throw new FreightError(
        'VALIDATION_FAILED',
        `source_config.type: ${source.type} cannot be a source (sources: ${sourceTypes().join(', ')})`,
        { details: { field: 'source_config.type' } },
      );
    }
    if (!targetTypes().includes(target.type)) {
      throw new FreightError(
        'VALIDATION_FAILED',
        `target_config.type: ${target.type} cannot be a target (targets: ${targetTypes().join(', ')})`,
        { details: { field: 'target_config.type' } },
      );
    }
    // Refused paths and hosts are a 400 now; the worker checks again right before it connects.
    const admitted = {
      source: await ctx.services.guard.admit(source, {
        tenantId: ctx.tenantId!,
        field: 'source_config',
      }),
      target: await ctx.services.guard.admit(target, {
        tenantId: ctx.tenantId!,
        field: 'target_config',
      }),
    };
    if (body.validate)
      await checkConnections(
        ctx.services.connectors,
        admitted.source,
        admitted.target,
        body.tables,
      );
    const job = await ctx.services.store.createJob({
      tenantId: ctx.tenantId!,
      source,
      target,
      options: {
        ...(body.tables ? { tables: body.tables } : {}),
        batchSize: body.batch_size,
        maxRetries: body.max_retries,
        concurrency: body.concurrency,
        auditLevel: body.audit_level,
        verify: body.verify,
        createTables: body.create_tables,
      },
      startedBy: body.started_by ?? ctx.caller?.keyId ?? null,
    });
    await ctx.services.queue.enqueue({ kind: 'plan', jobId: job.id });
    return presentJob(ctx.services.store, job);
  },
});

export const listMigrationJobs = defineOperation({
  id: 'list_migration_jobs',
  method: 'GET',
  path: '/api/v1/jobs',
  summary: 'List migration jobs',
  description:
    "Lists the tenant's migration jobs, newest first, with their status and progress. Use it to find a job id, or to see what is running or failed. Filter by status (comma-separated) and creation time; page with limit and offset (the result has total and next_offset).",
  tags: ['jobs'],
  role: 'viewer',
  tenantScoped: true,
  toolset: 'jobs',
  annotations: READ,
  query: z
    .object({
      status: StatusList(JOB_STATUSES)
        .optional()
        .describe('Only jobs in these states, e.g. running or failed,completed_with_errors.'),
      created_after: z.iso
        .datetime({ offset: true })
        .optional()
        .describe('ISO-8601 time; jobs created at or after it.'),
      created_before: z.iso
        .datetime({ offset: true })
        .optional()
        .describe('ISO-8601 time; jobs created before it.'),
      limit: Limit(100, 20),
      offset: Offset,
    })
    .strict(),
  output: z.object({
    jobs: z.array(JobSchema),
    total: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
    next_offset: z
      .number()
      .int()
      .nullable()
      .describe('Pass as offset for the next page; null on the last page.'),
  }),
  successStatus: 200,
  errors: ['VALIDATION_FAILED', ...JOB_ERRORS],
  audited: false,
  async handler(ctx, { query }) {
    const { jobs, total } = await ctx.services.store.listJobs({
      tenantId: ctx.tenantId!,
      ...(query.status ? { status: query.status } : {}),
      ...(query.created_after ? { createdAfter: new Date(query.created_after).toISOString() } : {}),
      ...(query.created_before
        ? { createdBefore: new Date(query.created_before).toISOString() }
        : {}),
      limit: query.limit,
      offset: query.offset,
    });
    const next = query.offset + jobs.length;
    return {
      jobs: await Promise.all(jobs.map((j) => presentJob(ctx.services.store, j))),
      total,
      limit: query.limit,
      offset: query.offset,
      next_offset: next < total ? next : null,
    };
  },
});

export const getMigrationJob = defineOperation({
  id: 'get_migration_job',
  method: 'GET',
  path: '/api/v1/jobs/{job_id}',
  summary: 'Get a migration job',
  description:
    'Returns one job: status, error, progress (rows planned/written/failed, batches by state, rows per second, ETA), per-table progress and validation, and up to 20 failed batches. Use it to follow a job or explain why it failed.',
  tags: ['jobs'],
  role: 'viewer',
  tenantScoped: true,
  toolset: 'jobs',
  annotations: READ,
  params: JobIdParams,
  output: JobDetailSchema,
  successStatus: 200,
  errors: ['JOB_NOT_FOUND', 'VALIDATION_FAILED', ...JOB_ERRORS],
  audited: false,
  async handler(ctx, { params }) {
    const job = await tenantJob(ctx, params.job_id);
    return presentJobDetail(
      ctx.services.store,
      job,
      await summarizeTables(ctx.services.store, job.id),
    );
  },
});

export const getJobProgress = defineOperation({
  id: 'get_job_progress',
  method: 'GET',
  path: '/api/v1/jobs/{job_id}/progress',
  summary: "Get a job's per-table progress",
  description:
    "Returns the job's status and overall progress, and for every table: rows planned, written, failed and warned, batches by state, throughput, validation result and the notes about type decisions. Lighter than get_migration_job when only progress matters.",
  tags: ['jobs'],
  role: 'viewer',
  tenantScoped: true,
  toolset: 'jobs',
  annotations: READ,
  params: JobIdParams,
  output: z.object({
    job_id: z.string(),
    status: z.enum(JOB_STATUSES),
    progress: JobSchema.shape.progress,
    tables: z.array(TableProgressSchema),
  }),
  successStatus: 200,
  errors: ['JOB_NOT_FOUND', 'VALIDATION_FAILED', ...JOB_ERRORS],
  audited: false,
  async handler(ctx, { params }) {
    const job = await tenantJob(ctx, params.job_id);
    const [view, tables] = await Promise.all([
      presentJob(ctx.services.store, job),
      summarizeTables(ctx.services.store, job.id),
    ]);
    return {
      job_id: job.id,
      status: job.status,
      progress: view.progress,
      tables: await presentTables(ctx.services.store, job, tables),
    };
  },
});

export const listJobBatches = defineOperation({
  id: 'list_job_batches',
  method: 'GET',
  path: '/api/v1/jobs/{job_id}/batches',
  summary: "List a job's batches",
  description:
    "Lists a job's batches (key ranges of its tables) with state, attempts, row counts and last error; filter by status (e.g. failed) and page with limit/offset. Use it to choose batch ids for retry_migration_job.",
  tags: ['jobs'],
  role: 'viewer',
  tenantScoped: true,
  toolset: 'jobs',
  annotations: READ,
  params: JobIdParams,
  query: z
    .object({
      status: StatusList(BATCH_STATUSES)
        .optional()
        .describe('Only batches in these states: pending, running, retrying, succeeded, failed.'),
      limit: Limit(500, 50),
      offset: Offset,
    })
    .strict(),
  output: z.object({
    job_id: z.string(),
    batches: z.array(BatchSchema),
    total: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
    next_offset: z.number().int().nullable(),
  }),
  successStatus: 200,
  errors: ['JOB_NOT_FOUND', 'VALIDATION_FAILED', ...JOB_ERRORS],
  audited: false,
  async handler(ctx, { params, query }) {
    const job = await tenantJob(ctx, params.job_id);
    const { batches, total } = await ctx.services.store.listBatches(job.id, {
      ...(query.status ? { status: query.status } : {}),
      limit: query.limit,
      offset: query.offset,
    });
    const next = query.offset + batches.length;
    return {
      job_id: job.id,
      batches: batches.map(presentBatch),
      total,
      limit: query.limit,
      offset: query.offset,
      next_offset: next < total ? next : null,
    };
  },
});

export const retryMigrationJob = defineOperation({
  id: 'retry_migration_job',
  method: 'POST',
  path: '/api/v1/jobs/{job_id}/retry',
  summary: 'Retry failed batches',
  description:
    "Runs a finished job's failed batches again — all of them, or only batch_ids — each with a fresh budget of max_retries automatic retries (default: the job's). Batches rewrite their key range, so nothing is duplicated. Also restarts a job that failed or was cancelled before finishing. Answers 409 while the job is still running or when there is nothing to retry; 404 for batch ids that are not this job's.",
  tags: ['jobs'],
  role: 'engineer',
  tenantScoped: true,
  toolset: 'jobs',
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: true,
  },
  params: JobIdParams,
  body: z
    .object({
      batch_ids: z
        .array(z.number().int().positive())
        .min(1)
        .max(10_000)
        .optional()
        .describe('Only these batches (from list_job_batches); all failed batches when omitted.'),
      max_retries: z
        .number()
        .int()
        .min(0)
        .max(20)
        .optional()
        .describe("Automatic retries per batch for this run (default: the job's max_retries)."),
    })
    .strict(),
  output: z.object({ job: JobSchema, retried_batches: z.number().int() }),
  successStatus: 202,
  errors: ['JOB_NOT_FOUND', 'NOT_FOUND', 'CONFLICT', 'VALIDATION_FAILED', ...JOB_ERRORS],
  audited: true,
  auditTarget: (input) => input.params.job_id,
  async handler(ctx, { params, body }) {
    const { store, queue } = ctx.services;
    const job = await tenantJob(ctx, params.job_id);
    if (!['completed', 'completed_with_errors', 'failed', 'cancelled'].includes(job.status)) {
      throw new FreightError(
        'CONFLICT',
        `job ${job.id} is ${job.status}; retry once it has finished, or cancel it first`,
        { details: { status: job.status } },
      );
    }
    const ids = body.batch_ids ? [...new Set(body.batch_ids)] : null;
    if (ids) {
      const found = await store.batchesById(job.id, ids);
      const missing = ids.filter((id) => !found.some((b) => b.id === id));
      if (missing.length > 0) {
        throw new FreightError(
          'NOT_FOUND',
          `batch(es) ${missing.join(', ')} not found in job ${job.id}`,
          { details: { batch_ids: missing } },
        );
      }
      const notFailed = found.filter((b) => b.status !== 'failed');
      if (notFailed.length > 0) {
        throw new FreightError(
          'CONFLICT',
          `batch(es) ${notFailed.map((b) => `${b.id} (${b.status})`).join(', ')} did not fail; only failed batches can be retried`,
          {
            details: { batch_ids: notFailed.map((b) => b.id) },
          },
        );
      }
    }
    const retried = await store.resetFailedBatches(
      job.id,
      ids,
      body.max_retries ?? job.options.maxRetries,
    );
    const restartable = job.status === 'failed' || job.status === 'cancelled';
    if (retried === 0 && !restartable) {
      throw new FreightError('CONFLICT', `job ${job.id} has no failed batches to retry`, {
        details: { status: job.status },
      });
    }
    await store.transitionJob(
      job.id,
      ['completed', 'completed_with_errors', 'failed', 'cancelled'],
      'pending',
      { error: null, finishedAt: null },
    );
    await queue.enqueue({ kind: 'plan', jobId: job.id });
    return {
      job: await presentJob(store, (await store.getJob(job.id))!),
      retried_batches: retried,
    };
  },
});

export const cancelMigrationJob = defineOperation({
  id: 'cancel_migration_job',
  method: 'DELETE',
  path: '/api/v1/jobs/{job_id}',
  summary: 'Cancel a migration job',
  description:
    'Cancels a job gracefully: no new batch starts and running batches finish, then the job is cancelled (status cancelling until then). Already-copied rows stay in the target; the job can be resumed later with retry_migration_job. Answers 409 when the job has already finished.',
  tags: ['jobs'],
  role: 'engineer',
  tenantScoped: true,
  toolset: 'jobs',
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: false,
  },
  params: JobIdParams,
  output: JobSchema,
  successStatus: 202,
  errors: ['JOB_NOT_FOUND', 'CONFLICT', 'VALIDATION_FAILED', ...JOB_ERRORS],
  audited: true,
  auditTarget: (input) => input.params.job_id,
  async handler(ctx, { params }) {
    const job = await tenantJob(ctx, params.job_id);
    const status = await requestCancel(ctx.services.store, job.id);
    // Watchers (SSE, webhooks) hear about it even when no worker finishes a batch afterwards.
    ctx.services.events.publish(job.id, { type: 'status', status });
    return presentJob(ctx.services.store, (await ctx.services.store.getJob(job.id))!);
  },
});
