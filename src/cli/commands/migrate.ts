import { availableParallelism } from 'node:os';
import type { Config } from '../../config/config.js';
import { connectors } from '../../connectors/index.js';
import { parseConnectionUrl } from '../../domain/connection.js';
import { FreightError } from '../../domain/errors.js';
import { newShortId } from '../../domain/ids.js';
import { AUDIT_LEVELS, VERIFY_MODES, type AuditLevel, type VerifyMode } from '../../domain/job.js';
import { DEFAULT_JOB_OPTIONS, type JobOptions } from '../../domain/model.js';
import { runJob } from '../../worker/run-job.js';
import { CLI_BATCH_SIZE } from '../defaults.js';
import { openStore } from '../../store/open-store.js';
import { ProgressBar } from '../progress.js';
import { buildSummary, renderSummary } from '../summary.js';

export interface MigrateFlags {
  tables?: string;
  batchSize?: string;
  concurrency?: string;
  maxRetries?: string;
  create: boolean;
  verify?: string;
  auditLevel?: string;
  json?: boolean;
  resume?: string;
  progress: boolean;
}

/** A sensible default for this machine: enough batches in flight to keep both databases busy. */
export function defaultConcurrency(config: Config): number {
  return config.concurrency ?? Math.max(2, Math.min(8, availableParallelism() * 2));
}

/**
 * `freight migrate <source> <target>`: creates a job in the metadata store and runs it here with
 * a progress bar; prints a per-table summary (or JSON). `--resume <job-id>` runs what is not done.
 * Exit code 0 only when every row arrived and validation passed.
 */
export async function migrate(
  config: Config,
  sourceUrl: string | undefined,
  targetUrl: string | undefined,
  flags: MigrateFlags,
): Promise<number> {
  const store = await openStore(config);
  const cancel = new AbortController();
  const abort = new AbortController();
  const onSignal = () => {
    if (!cancel.signal.aborted) {
      process.stderr.write(
        '\nfreight: stopping after the running batches (Ctrl-C again to stop now)\n',
      );
      cancel.abort();
    } else {
      process.stderr.write('\nfreight: stopping now; running batches are rolled back\n');
      abort.abort();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let jobId: string;
    if (flags.resume) {
      const job = await store.getJob(flags.resume);
      if (!job)
        throw new FreightError(
          'JOB_NOT_FOUND',
          `job ${flags.resume} not found in ${describeStore(config)}`,
        );
      if (job.status === 'completed')
        throw new FreightError('CONFLICT', `job ${job.id} already completed; nothing to resume`);
      await store.resetFailedBatches(job.id, null, job.options.maxRetries);
      await store.transitionJob(
        job.id,
        ['planning', 'running', 'cancelling', 'cancelled', 'failed', 'completed_with_errors'],
        'pending',
      );
      jobId = job.id;
    } else {
      if (!sourceUrl || !targetUrl)
        throw new FreightError(
          'BAD_REQUEST',
          'give a source and a target URL, or --resume <job-id>',
        );
      const source = parseConnectionUrl(sourceUrl);
      const target = parseConnectionUrl(targetUrl);
      const job = await store.createJob({
        tenantId: config.tenantId ?? 'default',
        source,
        target,
        options: jobOptions(flags, defaultConcurrency(config)),
        startedBy: 'cli',
      });
      jobId = job.id;
    }
    const job = (await store.getJobWithSecrets(jobId))!;
    if (!flags.json)
      process.stderr.write(
        `freight: job ${job.id}: ${job.sourceDescription} → ${job.targetDescription}\n`,
      );
    const progress = new ProgressBar(process.stderr, flags.progress && !flags.json);
    progress.start();
    const outcome = await runJob({
      ledger: store,
      job,
      connectors,
      workerId: newShortId('cli'),
      cancel: cancel.signal,
      abort: abort.signal,
      onEvent: progress.onEvent,
      takeOver: Boolean(flags.resume),
    });
    progress.stop();
    const summary = buildSummary(job, outcome);
    process.stdout.write(
      flags.json ? `${JSON.stringify(summary, null, 2)}\n` : `${renderSummary(summary)}\n`,
    );
    if (outcome.status !== 'completed' && !flags.json) {
      process.stderr.write(`freight: resume with: freight migrate --resume ${job.id}\n`);
    }
    return outcome.status === 'completed' ? 0 : outcome.status === 'cancelled' ? 130 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await store.close();
  }
}

function describeStore(config: Config): string {
  return config.store.kind === 'sqlite' ? config.store.path : 'the PostgreSQL store';
}

function jobOptions(flags: MigrateFlags, concurrency: number): JobOptions {
  const int = (
    value: string | undefined,
    name: string,
    min: number,
    max: number,
    fallback: number,
  ) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new FreightError(
        'BAD_REQUEST',
        `--${name} must be an integer from ${min} to ${max} (got ${value})`,
      );
    }
    return n;
  };
  const verify = (flags.verify ?? DEFAULT_JOB_OPTIONS.verify) as VerifyMode;
  if (!VERIFY_MODES.includes(verify))
    throw new FreightError('BAD_REQUEST', `--verify must be one of ${VERIFY_MODES.join(', ')}`);
  const auditLevel = (flags.auditLevel ?? DEFAULT_JOB_OPTIONS.auditLevel) as AuditLevel;
  if (!AUDIT_LEVELS.includes(auditLevel))
    throw new FreightError(
      'BAD_REQUEST',
      `--audit-level must be one of ${AUDIT_LEVELS.join(', ')}`,
    );
  const tables = flags.tables
    ?.split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  return {
    ...(tables && tables.length > 0 ? { tables } : {}),
    batchSize: int(flags.batchSize, 'batch-size', 1, 1_000_000, CLI_BATCH_SIZE),
    maxRetries: int(flags.maxRetries, 'max-retries', 0, 100, DEFAULT_JOB_OPTIONS.maxRetries),
    concurrency: int(flags.concurrency, 'concurrency', 1, 64, concurrency),
    auditLevel,
    createTables: flags.create,
    verify,
  };
}
