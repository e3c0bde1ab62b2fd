import type { Config } from '../../config/config.js';
import { createServices } from '../../app/services.js';
import { createLogger, jobEventLogger } from '../../app/logger.js';
import { Metrics } from '../../metrics/metrics.js';
import { WebhookNotifier } from '../../notifications/notifier.js';
import { FreightError } from '../../domain/errors.js';
import { startHeartbeat } from '../../worker/heartbeat.js';
import { recoverJobs } from '../../worker/recover.js';
import { Worker } from '../../worker/worker.js';

/**
 * `freight worker`: runs batches from the shared queue (BullMQ on REDIS_URL) against the shared
 * store (PostgreSQL DATABASE_URL), beside any number of other workers and API processes. SIGTERM
 * lets running batches finish (their follow-ups are queued for others) before exiting; a second
 * signal, or the grace period running out, rolls them back and hands them back.
 */
export async function worker(
  config: Config,
  flags: { concurrency?: string; graceMs?: string },
): Promise<void> {
  if (!config.redisUrl) {
    throw new FreightError(
      'CONFIG_INVALID',
      'freight worker needs a shared queue: set REDIS_URL (or CELERY_BROKER_URL), and DATABASE_URL to the PostgreSQL store the API uses',
    );
  }
  if (config.store.kind !== 'postgresql') {
    process.stderr.write(
      'freight worker: warning: DATABASE_URL is not PostgreSQL; only processes on this machine can share a SQLite store\n',
    );
  }
  const services = await createServices(config);
  const log = createLogger(config, 'freight-worker');
  const metrics = config.enableMetrics ? new Metrics(services.store, services.queue) : null;
  const metricsServer = metrics ? await metrics.serve(config.metricsPort) : null;
  const logEvent = jobEventLogger(log, services.store);
  const w = new Worker({
    ledger: services.store,
    queue: services.queue,
    connectors: services.connectors,
    guard: services.guard,
    concurrency: flags.concurrency ? Number(flags.concurrency) : (config.concurrency ?? 8),
    leaseMs: config.leaseMs,
    tenantConcurrency: config.tenantConcurrency,
    onEvent: (jobId, event) => {
      services.events.publish(jobId, event);
      metrics?.onJobEvent(jobId, event);
      logEvent(jobId, event);
    },
  });
  const stopHeartbeat = startHeartbeat(services.store, w);
  const notifier = new WebhookNotifier(services.store, {
    onError: (message, fields) => log.warn(fields ?? {}, message),
    guard: services.guard,
  });
  const unsubscribe = services.events.subscribe('*', notifier.onJobEvent);
  notifier.start();
  await recoverJobs(services.store, services.queue, { takeOver: false, workerId: w.id });
  w.start();
  process.stderr.write(
    `freight: worker ${w.id} running up to ${flags.concurrency ?? config.concurrency ?? 8} tasks (queue ${config.queueName})\n`,
  );
  const grace = flags.graceMs ? Number(flags.graceMs) : 30_000;
  let stopping = false;
  const stop = async (hard: boolean) => {
    const timer = setTimeout(() => void w.stop({ hard: true }), hard ? 0 : grace);
    try {
      await w.stop({ hard });
    } finally {
      clearTimeout(timer);
      await stopHeartbeat();
      unsubscribe();
      await notifier.stop();
      await metricsServer?.close();
      await services.queue.close().catch(() => {});
      await services.events.close().catch(() => {});
      await services.store.close().catch(() => {});
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`freight: ${signal} again: rolling back running batches\n`);
      void stop(true).finally(() => process.exit(1));
      return;
    }
    stopping = true;
    process.stderr.write(
      `freight: ${signal}: finishing running batches (up to ${grace / 1000} s), then exiting\n`,
    );
    void stop(false).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
