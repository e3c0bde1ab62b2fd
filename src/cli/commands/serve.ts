import type { Config } from '../../config/config.js';
import { startApiProcess } from '../../app/api-process.js';
import { createLogger } from '../../app/logger.js';

/**
 * `freight serve`: the API on PORT (8000) with, by default, a worker in the same process. The
 * first start on an empty store prints a one-time admin key (or uses FREIGHT_BOOTSTRAP_ADMIN_KEY).
 */
export async function serve(
  config: Config,
  flags: { port?: string; host?: string; worker: boolean; concurrency?: string },
): Promise<void> {
  const port = flags.port !== undefined ? Number(flags.port) : config.port;
  const host = flags.host ?? config.host;
  const logger = createLogger(config, 'freight-api');
  const proc = await startApiProcess(config, {
    worker: flags.worker,
    ...(flags.concurrency ? { concurrency: Number(flags.concurrency) } : {}),
    logger,
  });
  if (proc.bootstrapKey?.generated) {
    process.stderr.write(
      `\nFirst start: created tenant "platform" and an admin API key. It is shown once — store it now:\n\n  ${proc.bootstrapKey.key}\n\n` +
        `Use it as "Authorization: Bearer <key>"; create tenants and keys with POST /api/v1/admin/tenants and /api/v1/admin/keys\n` +
        `(or \`freight tenants create\` / \`freight keys create\`).\n\n`,
    );
  }
  const address = await proc.app.listen({ port, host });
  process.stderr.write(
    `freight: API on ${address} (docs ${address}/docs, OpenAPI ${address}/openapi.json)${proc.worker ? `, worker ${proc.worker.id}` : ', no worker'}${proc.metricsPort ? `, metrics on :${proc.metricsPort}/metrics` : ''}\n`,
  );
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write('freight: stopping now\n');
      void proc.close({ hard: true }).finally(() => process.exit(1));
      return;
    }
    stopping = true;
    process.stderr.write(
      `freight: ${signal}: finishing running batches, then stopping (again to stop now)\n`,
    );
    void proc.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
