import type { ConnectionConfig } from '../domain/connection.js';
import { FreightError, toFreightError } from '../domain/errors.js';
import type { Connectors } from '../engine/ports.js';

/**
 * `validate: true` on job creation: connects to both sides once (and checks the named tables
 * exist) so a wrong host, password or table is a 400 now rather than a failed job later.
 */
export async function checkConnections(
  connectors: Connectors,
  source: ConnectionConfig,
  target: ConnectionConfig,
  tables: readonly string[] | undefined,
): Promise<void> {
  const signal = AbortSignal.timeout(15_000);
  await probe('source_config', async () => {
    const s = await connectors.openSource(source, { poolSize: 1 });
    try {
      const all = await s.listTables(signal);
      const missing = (tables ?? []).filter(
        (t) =>
          !all.some(
            (r) =>
              r.name === t ||
              `${r.schema}.${r.name}` === t ||
              r.name.toLowerCase() === t.toLowerCase(),
          ),
      );
      if (missing.length > 0) {
        throw new FreightError(
          'TABLE_NOT_FOUND',
          `table(s) ${missing.join(', ')} do not exist in the source`,
          { details: { tables: missing } },
        );
      }
    } finally {
      await s.close();
    }
  });
  await probe('target_config', async () => {
    const t = await connectors.openTarget(target, { poolSize: 1 });
    await t.close();
  });
}

async function probe(field: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    const e = toFreightError(error, 'CONNECTION_FAILED');
    const code =
      e.code === 'TRANSIENT' || e.code === 'DATABASE_ERROR' || e.code === 'INTERNAL'
        ? 'CONNECTION_FAILED'
        : e.code;
    throw new FreightError(code, `${field}: ${e.message}`, { details: { field } });
  }
}
