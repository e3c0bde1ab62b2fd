import { PostgresTarget } from '../../src/connectors/postgres/postgres-target.js';
import type { ConnectionConfig } from '../../src/domain/connection.js';
import { DEFAULT_JOB_OPTIONS, type JobOptions, type JobTable } from '../../src/domain/model.js';
import type { JobEvent } from '../../src/engine/events.js';
import { runJob, type JobOutcome } from '../../src/worker/run-job.js';
import type { SourceConnector } from '../../src/engine/ports.js';
import { openTestStore } from '../helpers/stores.js';

type PgConfig = Extract<ConnectionConfig, { type: 'postgresql' }>;

export interface ConnectorJobResult {
  readonly outcome: JobOutcome;
  readonly tables: readonly JobTable[];
  readonly events: readonly JobEvent[];
}

/**
 * Runs one real job through the engine (SQLite metadata store, PostgreSQL target) with the source
 * connector under test — before it is registered in `connectors/index.ts`. Checksum-verified.
 */
export async function runConnectorJob(
  source: ConnectionConfig,
  target: ConnectionConfig,
  openSource: (config: ConnectionConfig, options: { poolSize: number }) => Promise<SourceConnector>,
  options: Partial<JobOptions> = {},
): Promise<ConnectorJobResult> {
  const { store, cleanup } = await openTestStore('sqlite');
  try {
    const created = await store.createJob({
      tenantId: 'test',
      source,
      target,
      options: { ...DEFAULT_JOB_OPTIONS, verify: 'checksum', ...options },
      startedBy: 'test',
    });
    const job = (await store.getJobWithSecrets(created.id))!;
    const events: JobEvent[] = [];
    const outcome = await runJob({
      ledger: store,
      job,
      connectors: { openSource, openTarget: (c, o) => PostgresTarget.open(c as PgConfig, o) },
      workerId: 'test',
      onEvent: (e) => events.push(e),
    });
    return { outcome, tables: await store.listJobTables(job.id), events };
  } finally {
    await cleanup();
  }
}
