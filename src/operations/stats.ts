import { z } from 'zod';
import type { JobStats } from '../store/job-queries.js';
import { defineOperation, READ } from './operation.js';

const StatsSchema = z.object({
  tenant_id: z.string().nullable(),
  total_jobs: z.number().int(),
  jobs_by_status: z.record(z.string(), z.number().int()),
  success_rate: z
    .number()
    .nullable()
    .describe(
      'completed ÷ (completed + completed_with_errors + failed); null before any job finished.',
    ),
  records_processed: z.number().int().describe('Rows written by all batches.'),
  records_failed: z.number().int(),
  average_duration_seconds: z.number().nullable().describe('Mean run time of finished jobs.'),
  rows_per_second: z
    .number()
    .nullable()
    .describe('Rows written per second of run time, over finished jobs.'),
});

function present(s: JobStats): z.input<typeof StatsSchema> {
  return {
    tenant_id: s.tenantId,
    total_jobs: s.totalJobs,
    jobs_by_status: s.jobsByStatus,
    success_rate: s.successRate === null ? null : Math.round(s.successRate * 10_000) / 10_000,
    records_processed: s.recordsProcessed,
    records_failed: s.recordsFailed,
    average_duration_seconds:
      s.averageDurationSeconds === null ? null : Math.round(s.averageDurationSeconds * 1000) / 1000,
    rows_per_second: s.rowsPerSecond === null ? null : Math.round(s.rowsPerSecond),
  };
}

const COMMON = ['UNAUTHENTICATED', 'FORBIDDEN', 'RATE_LIMITED', 'INTERNAL'] as const;

export const getJobStatistics = defineOperation({
  id: 'get_job_statistics',
  method: 'GET',
  path: '/api/v1/stats/jobs',
  summary: "The tenant's job statistics",
  description:
    "Returns the tenant's job health: jobs by status, success rate, records processed and failed, average job duration and throughput. Use it for questions like 'how are our migrations doing?'.",
  tags: ['stats'],
  role: 'viewer',
  tenantScoped: true,
  toolset: 'ops',
  annotations: READ,
  output: StatsSchema,
  successStatus: 200,
  errors: ['TENANT_REQUIRED', ...COMMON],
  audited: false,
  async handler(ctx) {
    const [stats] = await ctx.services.store.jobStats(ctx.tenantId!);
    return present(stats!);
  },
});

export const getTenantStatistics = defineOperation({
  id: 'get_tenant_statistics',
  method: 'GET',
  path: '/api/v1/stats/tenants',
  summary: 'Platform-wide statistics per tenant (admin)',
  description:
    'Returns, for every tenant, the same figures as get_job_statistics, plus platform totals. Admins only: use it for the health of the whole platform.',
  tags: ['stats', 'admin'],
  role: 'admin',
  tenantScoped: false,
  toolset: 'admin',
  annotations: READ,
  output: z.object({ tenants: z.array(StatsSchema), platform: StatsSchema }),
  successStatus: 200,
  errors: [...COMMON],
  audited: false,
  async handler(ctx) {
    const all = await ctx.services.store.jobStats(null);
    const sum = (f: (s: JobStats) => number) => all.reduce((n, s) => n + f(s), 0);
    const byStatus: Record<string, number> = {};
    for (const s of all)
      for (const [k, v] of Object.entries(s.jobsByStatus)) byStatus[k] = (byStatus[k] ?? 0) + v;
    const done =
      (byStatus.completed ?? 0) + (byStatus.completed_with_errors ?? 0) + (byStatus.failed ?? 0);
    const withDuration = all.filter((s) => s.averageDurationSeconds !== null);
    return {
      tenants: all.map(present),
      platform: present({
        tenantId: null,
        totalJobs: sum((s) => s.totalJobs),
        jobsByStatus: byStatus,
        successRate: done > 0 ? (byStatus.completed ?? 0) / done : null,
        recordsProcessed: sum((s) => s.recordsProcessed),
        recordsFailed: sum((s) => s.recordsFailed),
        averageDurationSeconds:
          withDuration.length > 0
            ? withDuration.reduce((n, s) => n + s.averageDurationSeconds!, 0) / withDuration.length
            : null,
        rowsPerSecond: null,
      }),
    };
  },
});
