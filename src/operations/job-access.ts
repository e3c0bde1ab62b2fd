import {
  parseConnectionConfig,
  parseConnectionUrl,
  type ConnectionConfig,
} from '../domain/connection.js';
import { FreightError } from '../domain/errors.js';
import type { Job } from '../domain/model.js';
import type { OperationContext } from './operation.js';

/** The tenant's job, or 404 — the same answer for another tenant's job as for a missing one. */
export async function tenantJob(ctx: OperationContext, jobId: string): Promise<Job> {
  const job = await ctx.services.store.getJob(jobId, ctx.tenantId ?? '\u0000');
  if (!job) {
    throw new FreightError('JOB_NOT_FOUND', `job ${jobId} not found for tenant ${ctx.tenantId}`, {
      details: { job_id: jobId },
    });
  }
  return job;
}

/** A connection from the API's object or URL form; errors name the field (never the password). */
export function connectionFrom(input: unknown, field: string): ConnectionConfig {
  try {
    return typeof input === 'string' ? parseConnectionUrl(input) : parseConnectionConfig(input);
  } catch (error) {
    if (error instanceof FreightError) {
      const sub = (error.details?.field as string | undefined) ?? '';
      throw new FreightError(
        'VALIDATION_FAILED',
        `${field}: ${error.message.replace(/^invalid connection config: /, '')}`,
        {
          details: { field: sub ? `${field}.${sub}` : field },
        },
      );
    }
    throw error;
  }
}
