import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RecordStatus } from '../domain/job.js';
import type { RecordLog } from '../domain/model.js';
import { FreightError } from '../domain/errors.js';
import type { Services } from '../operations/services.js';
import { presentLog } from '../operations/presenters.js';
import { ErrorBody } from '../operations/schemas.js';

const COLUMNS = [
  'log_id',
  'created_at',
  'table',
  'scope',
  'record_id',
  'status',
  'error_code',
  'error_message',
  'retry_count',
  'rows',
  'batch_id',
] as const;

/**
 * The download behind export_migration_logs' link: no headers needed (the signed token is the
 * credential), streamed a page at a time from the store, so memory stays flat however long the log.
 */
export function mountExportDownload(app: FastifyInstance, services: Services): void {
  app.withTypeProvider<ZodTypeProvider>().route({
    method: 'GET',
    url: '/api/v1/exports/:token',
    schema: {
      operationId: 'download_log_export',
      summary: 'Download a log export',
      description:
        'Streams the file prepared by export_migration_logs. The link is signed and expires; it needs no Authorization header.',
      tags: ['logs'],
      params: z.object({ token: z.string().min(10).max(4096) }),
      response: {
        200: z
          .string()
          .describe('The log file (text/csv, application/json or application/x-ndjson).'),
        404: ErrorBody.describe('Unknown or expired link'),
      },
      security: [],
    },
    handler: async (request, reply) => {
      const grant = services.exports.verify(request.params.token);
      const job = await services.store.getJob(grant.jobId, grant.tenantId);
      if (!job) throw new FreightError('NOT_FOUND', 'this export link is not valid');
      const pages = services.store.recordLogPages(
        job.id,
        grant.status ? { status: grant.status as RecordStatus[] } : {},
      );
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const ext = grant.format === 'jsonl' ? 'jsonl' : grant.format;
      reply
        .header(
          'content-disposition',
          `attachment; filename="freight-logs-${job.id}-${stamp}.${ext}"`,
        )
        .header('cache-control', 'no-store')
        .type(
          grant.format === 'csv'
            ? 'text/csv; charset=utf-8'
            : grant.format === 'json'
              ? 'application/json; charset=utf-8'
              : 'application/x-ndjson; charset=utf-8',
        );
      return reply.send(Readable.from(render(pages, grant.format)) as never);
    },
  });
}

async function* render(
  pages: AsyncIterable<RecordLog[]>,
  format: 'csv' | 'json' | 'jsonl',
): AsyncGenerator<string> {
  if (format === 'csv') yield `${COLUMNS.join(',')}\r\n`;
  if (format === 'json') yield '[';
  let first = true;
  for await (const page of pages) {
    let chunk = '';
    for (const log of page) {
      const view = presentLog(log) as Record<string, unknown>;
      if (format === 'csv') chunk += `${COLUMNS.map((c) => csvCell(view[c])).join(',')}\r\n`;
      else if (format === 'jsonl') chunk += `${JSON.stringify(view)}\n`;
      else {
        chunk += `${first ? '' : ','}\n${JSON.stringify(view)}`;
        first = false;
      }
    }
    yield chunk;
  }
  if (format === 'json') yield first ? ']\n' : '\n]\n';
}

/** RFC 4180: quote when needed, double the quotes. */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}
