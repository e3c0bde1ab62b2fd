import { destination, pino, type Logger } from 'pino';
import type { Config } from '../config/config.js';
import { isTerminalJobStatus } from '../domain/job.js';
import type { JobEvent } from '../engine/events.js';
import type { MetadataStore } from '../store/store.js';

/**
 * Structured logs (pino): JSON lines with request, tenant, job and batch ids; pretty output when
 * stderr is a terminal. Credentials never reach a log line: they are not logged, and the usual
 * places are redacted besides (Authorization headers, anything named password or api_key).
 */
export function createLogger(config: Config, name: string): Logger {
  return pino(
    {
      name,
      level: config.logLevel,
      base: { pid: process.pid },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          '*.password',
          '*.*.password',
          '*.api_key',
          'headers.authorization',
        ],
        censor: '[redacted]',
      },
      ...(process.stderr.isTTY
        ? { transport: { target: 'pino-pretty', options: { colorize: true, destination: 2 } } }
        : {}),
    },
    process.stderr.isTTY ? undefined : destination(2),
  );
}

/** Logs a worker's job events: state changes at info, retries and failures at warn/error. */
export function logJobEvent(log: Logger, jobId: string, event: JobEvent): void {
  switch (event.type) {
    case 'status':
      log.info({ job_id: jobId, status: event.status }, `job ${event.status}`);
      break;
    case 'batch-finished':
      if (event.status === 'retrying')
        log.warn(
          { job_id: jobId, batch_id: event.batchId, table: event.table, error: event.error },
          'batch will be retried',
        );
      else if (event.status === 'failed')
        log.warn(
          {
            job_id: jobId,
            batch_id: event.batchId,
            table: event.table,
            error: event.error,
            rows_failed: event.rowsFailed,
          },
          'batch failed',
        );
      else
        log.debug(
          {
            job_id: jobId,
            batch_id: event.batchId,
            table: event.table,
            rows: event.rowsWritten,
            duration_ms: event.durationMs,
          },
          `batch ${event.status}`,
        );
      break;
    case 'log':
      log[event.level === 'error' ? 'error' : event.level === 'warn' ? 'warn' : 'info'](
        { job_id: jobId },
        event.message,
      );
      break;
    case 'table-validated':
      log.info(
        {
          job_id: jobId,
          table: event.table,
          passed: event.passed,
          source_rows: event.sourceRows,
          target_rows: event.targetRows,
        },
        'table validated',
      );
      break;
    default:
      log.debug({ job_id: jobId, event: event.type }, event.type);
  }
}

/**
 * Logs a worker's job events (logJobEvent) with the job's tenant on every line: the tenant is
 * looked up once per job, and lines keep their order while it is.
 */
export function jobEventLogger(
  log: Logger,
  store: Pick<MetadataStore, 'getJob'>,
): (jobId: string, event: JobEvent) => void {
  const loggers = new Map<string, Promise<Logger>>();
  let previous: Promise<unknown> = Promise.resolve();
  return (jobId, event) => {
    let forJob = loggers.get(jobId);
    if (!forJob) {
      forJob = store.getJob(jobId).then(
        (job) => (job ? log.child({ tenant_id: job.tenantId }) : log),
        () => log,
      );
      if (loggers.size >= 10_000) loggers.clear();
      loggers.set(jobId, forJob);
    }
    if (event.type === 'status' && isTerminalJobStatus(event.status)) loggers.delete(jobId);
    const line = forJob;
    previous = previous
      .then(() => line)
      .then((l) => logJobEvent(l, jobId, event))
      .catch(() => {});
  };
}
