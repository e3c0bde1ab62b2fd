import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isTerminalJobStatus } from '../domain/job.js';
import type { JobEvent } from '../engine/events.js';
import { tenantJob } from '../operations/job-access.js';
import type { Operation } from '../operations/operation.js';
import { summarizeTables } from '../engine/job-summary.js';
import { presentJobDetail } from '../operations/presenters.js';
import { ErrorBody, JobIdParams } from '../operations/schemas.js';
import type { Services } from '../operations/services.js';
import { authorize } from './access.js';
import { baseUrlOf } from './routes.js';

/** Who may watch: the same rule as get_migration_job (viewer, tenant-scoped). */
const WATCH = {
  id: 'stream_job_events',
  role: 'viewer',
  tenantScoped: true,
} as unknown as Operation;

/**
 * GET /api/v1/jobs/{job_id}/events — Server-Sent Events: the job's state changes and batch,
 * table and log events as they happen (from any worker, over the event bus), plus a `progress`
 * snapshot (rows done, rows/s, ETA) every second from the store; ends after the terminal state.
 * Same authentication and tenancy as REST.
 */
export function mountJobEvents(
  app: FastifyInstance,
  services: Services,
  publicUrl: string | undefined,
): void {
  app.withTypeProvider<ZodTypeProvider>().route({
    method: 'GET',
    url: '/api/v1/jobs/:job_id/events',
    schema: {
      operationId: 'stream_job_events',
      summary: "Stream a job's progress (SSE)",
      description:
        'A text/event-stream of the job: `progress` (the job as get_migration_job shows it, every second while it changes), `status`, `batch`, `table` and `log` events as they happen; the stream ends after the terminal state.',
      tags: ['jobs'],
      params: JobIdParams,
      headers: z.object({ 'x-tenant-id': z.string().optional() }).passthrough(),
      response: {
        200: z.string().describe('text/event-stream'),
        404: ErrorBody,
        401: ErrorBody,
        403: ErrorBody,
      },
      security: [{ bearerAuth: [] }],
    },
    handler: async (request, reply) => {
      const { caller, tenantId } = await authorize(services, WATCH, request);
      request.caller = caller;
      request.tenantId = tenantId;
      const ctx = {
        services,
        caller,
        tenantId,
        requestId: String(request.id),
        baseUrl: baseUrlOf(request, publicUrl),
      };
      const job = await tenantJob(ctx, request.params.job_id);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': String(request.id),
      });
      let closed = false;
      let lastProgress = '';
      let eventId = 0;
      const send = (type: string, data: unknown) => {
        if (!closed)
          res.write(`id: ${++eventId}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      const finish = () => {
        if (closed) return;
        closed = true;
        clearInterval(ticker);
        clearInterval(keepAlive);
        unsubscribe();
        res.end();
      };
      // One snapshot at a time, in order: two overlapping reads (the ticker and a terminal status
      // event) could otherwise send an older progress after a newer one.
      // A failed read (store unreachable for a moment) is tried again at the next tick.
      let queued: Promise<void> = Promise.resolve();
      let waiting = 0;
      const snapshot = () => {
        waiting++;
        queued = queued
          .then(read)
          .catch(() => {})
          .finally(() => waiting--);
        return queued;
      };
      const read = async () => {
        if (closed) return;
        const current = await services.store.getJob(job.id, job.tenantId);
        if (!current || closed) return;
        const view = await presentJobDetail(
          services.store,
          current,
          await summarizeTables(services.store, current.id),
        );
        const text = JSON.stringify(view);
        if (text !== lastProgress) {
          lastProgress = text;
          send('progress', view);
        }
        if (isTerminalJobStatus(current.status)) {
          send('end', { status: current.status, error: current.error });
          finish();
        }
      };
      const unsubscribe = services.events.subscribe(job.id, (_id, event: JobEvent) => {
        send(kindOf(event), event);
        if (event.type === 'status' && isTerminalJobStatus(event.status)) void snapshot();
      });
      const ticker = setInterval(() => {
        if (waiting === 0) void snapshot();
      }, 1000);
      const keepAlive = setInterval(() => !closed && res.write(': keep-alive\n\n'), 15_000);
      request.raw.on('close', finish);
      await snapshot();
    },
  });
}

function kindOf(event: JobEvent): string {
  switch (event.type) {
    case 'status':
      return 'status';
    case 'batch-started':
    case 'batch-finished':
      return 'batch';
    case 'table-prepared':
    case 'table-planned':
    case 'table-finalized':
    case 'table-validated':
      return 'table';
    default:
      return 'log';
  }
}
