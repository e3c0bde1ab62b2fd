import type { Config } from '../config/config.js';
import { resolveSecretKey, secretKeyFile } from '../config/secret-key.js';
import { ExportLinks } from '../auth/export-links.js';
import { KeyService } from '../auth/key-service.js';
import { TokenService } from '../auth/tokens.js';
import { connectors as defaultConnectors } from '../connectors/index.js';
import type { Connectors } from '../engine/ports.js';
import { InProcessEventBus, RedisEventBus } from '../events/event-bus.js';
import type { Services } from '../operations/services.js';
import { BullMqQueue } from '../queue/bullmq-queue.js';
import { InProcessQueue } from '../queue/in-process-queue.js';
import type { JobQueue } from '../queue/job-queue.js';
import { createConnectionGuard } from '../security/connection-guard.js';
import { openStore } from '../store/open-store.js';

/**
 * The composition root: from a Config to the Services every operation uses. The embedded default
 * is the SQLite store and the in-process queue; REDIS_URL (or CELERY_BROKER_URL) selects BullMQ.
 */
export async function createServices(
  config: Config,
  overrides: { connectors?: Connectors; queue?: JobQueue } = {},
): Promise<Services> {
  const secret = resolveSecretKey(config);
  const store = await openStore(config);
  const queue =
    overrides.queue ??
    (config.redisUrl
      ? new BullMqQueue({
          redisUrl: config.redisUrl,
          name: config.queueName,
          lockMs: config.queueLockMs,
        })
      : new InProcessQueue());
  return {
    config,
    store,
    queue,
    keys: new KeyService(store),
    tokens: new TokenService(
      config.jwtSecretKey ?? secret,
      config.tokenExpiryHours,
      !config.jwtSecretKey,
    ),
    exports: new ExportLinks(secret),
    connectors: overrides.connectors ?? defaultConnectors,
    guard: createConnectionGuard({
      dataDirs: config.dataDirs,
      // Never a job's source or target, whatever FREIGHT_DATA_DIRS covers: the store and the key that opens it.
      protectedPaths: [
        ...(config.store.kind === 'sqlite' ? [config.store.path] : []),
        secretKeyFile(config.home),
      ],
      network: config.network,
    }),
    events: config.redisUrl
      ? new RedisEventBus(config.redisUrl, config.queueName)
      : new InProcessEventBus(),
  };
}
