import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Metrics } from '../metrics/metrics.js';
import { jobEventLogger } from './logger.js';
import { WebhookNotifier } from '../notifications/notifier.js';
import type { Config } from '../config/config.js';
import { buildServer, type ServerOptions } from '../http/server.js';
import { mcpHttpPlugin } from '../mcp/in-process.js';
import { parseToolsets } from '../mcp/tools.js';
import type { Services } from '../operations/services.js';
import { startHeartbeat } from '../worker/heartbeat.js';
import { recoverJobs } from '../worker/recover.js';
import { Worker } from '../worker/worker.js';
import { createServices } from './services.js';

export interface ApiProcess {
  readonly app: FastifyInstance;
  readonly services: Services;
  readonly worker: Worker | null;
  /** The admin key created on first start (empty store), to be shown once. */
  readonly bootstrapKey: { key: string; generated: boolean } | null;
  /** The port /metrics is served on, when ENABLE_METRICS is set. */
  readonly metricsPort: number | null;
  close(options?: { hard?: boolean }): Promise<void>;
}

/**
 * `freight serve`: the API, and (unless `worker: false`) a worker in the same process — the
 * embedded default. Re-queues unfinished jobs at start.
 */
export async function startApiProcess(
  config: Config,
  options: {
    worker?: boolean;
    concurrency?: number;
    server?: ServerOptions;
    services?: Services;
    logger?: Logger;
  } = {},
): Promise<ApiProcess> {
  const services = options.services ?? (await createServices(config));
  const log = options.logger;
  const metrics = config.enableMetrics ? new Metrics(services.store, services.queue) : null;
  const metricsServer = metrics ? await metrics.serve(config.metricsPort) : null;
  const bootstrapKey = await services.keys.bootstrap(config.bootstrapAdminKey);
  let worker: Worker | null = null;
  let stopHeartbeat: (() => Promise<void>) | null = null;
  const logEvent = log ? jobEventLogger(log, services.store) : null;
  if (options.worker !== false) {
    worker = new Worker({
      ledger: services.store,
      queue: services.queue,
      connectors: services.connectors,
      guard: services.guard,
      concurrency: options.concurrency ?? config.concurrency ?? 8,
      leaseMs: config.leaseMs,
      tenantConcurrency: config.tenantConcurrency,
      onEvent: (jobId, event) => {
        services.events.publish(jobId, event);
        metrics?.onJobEvent(jobId, event);
        logEvent?.(jobId, event);
      },
    });
    stopHeartbeat = startHeartbeat(services.store, worker);
    await recoverJobs(services.store, services.queue, {
      takeOver: services.queue.kind === 'in-process',
      workerId: worker.id,
    });
    worker.start();
  }
  const rateLimitRedis = config.redisUrl
    ? new Redis(config.redisUrl, { maxRetriesPerRequest: 2, enableOfflineQueue: false })
    : null;
  rateLimitRedis?.on('error', () => {});
  const notifier = new WebhookNotifier(services.store, {
    onError: (message, fields) => log?.warn(fields ?? {}, message),
    guard: services.guard,
  });
  const unsubscribe = services.events.subscribe('*', notifier.onJobEvent);
  notifier.start();
  const app = await buildServer(services, {
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    rateLimit: {
      max: config.rateLimitPerMinute,
      windowMs: 60_000,
      ...(rateLimitRedis ? { redis: rateLimitRedis, keyPrefix: config.queueName } : {}),
    },
    ...(metrics ? { metrics } : {}),
    ...(log ? { loggerInstance: log } : {}),
    ...options.server,
    plugins: [
      ...(options.server?.plugins ?? []),
      mcpHttpPlugin(services, {
        ...(config.mcp.toolsets ? { toolsets: parseToolsets(config.mcp.toolsets)! } : {}),
        readOnly: config.mcp.readOnly,
        outputSchemas: config.mcp.outputSchemas,
        ...(config.mcp.allowedHosts ? { allowedHosts: config.mcp.allowedHosts } : {}),
        ...(config.mcp.allowedOrigins ? { allowedOrigins: config.mcp.allowedOrigins } : {}),
        ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
      }),
    ],
  });
  return {
    app,
    services,
    worker,
    bootstrapKey,
    metricsPort: metricsServer?.port ?? null,
    async close({ hard = false } = {}) {
      await app.close();
      unsubscribe();
      await notifier.stop();
      await metricsServer?.close();
      rateLimitRedis?.disconnect();
      await worker?.stop({ hard });
      await stopHeartbeat?.();
      await services.queue.close();
      await services.events.close();
      await services.store.close();
    },
  };
}
