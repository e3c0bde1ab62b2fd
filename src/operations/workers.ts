import { z } from 'zod';
import { defineOperation, READ } from './operation.js';

/** A worker is alive while its heartbeat is younger than this. */
export const WORKER_ALIVE_MS = 15_000;

export const getWorkerStatus = defineOperation({
  id: 'get_worker_status',
  method: 'GET',
  path: '/api/v1/workers/status',
  summary: 'Workers and queue status',
  description:
    "Returns the live workers (id, host, pid, concurrency, batches running now, last heartbeat), the queue's depth by state and the processing rate over the last minute. Use it to see whether jobs are being worked on or stuck. Running batches are shown for the caller's tenant only (all tenants for admins).",
  tags: ['ops'],
  role: 'viewer',
  tenantScoped: true,
  toolset: 'ops',
  annotations: READ,
  output: z.object({
    workers: z.array(
      z.object({
        worker_id: z.string(),
        host: z.string(),
        pid: z.number().int(),
        concurrency: z.number().int(),
        running_batches: z.number().int(),
        batches: z.array(
          z.object({
            job_id: z.string(),
            table: z.string(),
            batch_id: z.number().int(),
            attempt: z.number().int(),
            started_at: z.string(),
          }),
        ),
        started_at: z.string(),
        last_heartbeat: z.string(),
      }),
    ),
    workers_alive: z.number().int(),
    queue: z.object({
      kind: z.string(),
      waiting: z.number().int(),
      delayed: z.number().int(),
      active: z.number().int(),
      failed: z.number().int().nullable(),
    }),
    processing_rate: z.object({
      rows_per_second: z
        .number()
        .describe('Rows written per second over the last minute, all workers.'),
      batches_per_minute: z.number().int(),
    }),
  }),
  successStatus: 200,
  errors: ['UNAUTHENTICATED', 'FORBIDDEN', 'TENANT_REQUIRED', 'RATE_LIMITED', 'INTERNAL'],
  audited: false,
  async handler(ctx) {
    const { store, queue } = ctx.services;
    const [workers, counts] = await Promise.all([
      store.listWorkers(new Date(Date.now() - WORKER_ALIVE_MS).toISOString()),
      queue.counts(),
    ]);
    const admin = ctx.caller?.role === 'admin';
    const tenantJobs = new Set<string>();
    const mine = async (jobId: string) => {
      if (admin) return true;
      if (tenantJobs.has(jobId)) return true;
      const job = await store.getJob(jobId, ctx.tenantId!);
      if (job) tenantJobs.add(jobId);
      return Boolean(job);
    };
    let rows = 0;
    let batches = 0;
    const out = [];
    for (const w of workers) {
      const info = w.info as {
        running?: Array<{
          jobId: string;
          table: string;
          batchId: number;
          attempt: number;
          startedAt: string;
        }>;
        lastMinute?: { rows: number; batches: number };
      };
      const running = info.running ?? [];
      rows += info.lastMinute?.rows ?? 0;
      batches += info.lastMinute?.batches ?? 0;
      const visible = [];
      for (const b of running)
        if (await mine(b.jobId))
          visible.push({
            job_id: b.jobId,
            table: b.table,
            batch_id: b.batchId,
            attempt: b.attempt,
            started_at: b.startedAt,
          });
      out.push({
        worker_id: w.id,
        host: w.host,
        pid: w.pid,
        concurrency: w.concurrency,
        running_batches: running.length,
        batches: visible,
        started_at: w.startedAt,
        last_heartbeat: w.heartbeatAt,
      });
    }
    return {
      workers: out,
      workers_alive: out.length,
      queue: {
        kind: queue.kind,
        waiting: counts.waiting,
        delayed: counts.delayed,
        active: counts.active,
        failed: counts.failed ?? null,
      },
      processing_rate: {
        rows_per_second: Math.round((rows / 60) * 10) / 10,
        batches_per_minute: batches,
      },
    };
  },
});
