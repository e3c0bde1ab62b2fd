import { randomBytes } from 'node:crypto';
import { connectors } from '../../src/connectors/index.js';
import {
  dropMemoryDatabase,
  memoryDatabase,
  registerMemoryConnector,
  type MemoryDatabase,
} from '../../src/connectors/memory/index.js';
import type { MemoryColumn } from '../../src/connectors/memory/memory-database.js';
import {
  DEFAULT_JOB_OPTIONS,
  type JobOptions,
  type JobWithSecrets,
} from '../../src/domain/model.js';
import type { JobEvent } from '../../src/engine/events.js';
import { runJob, type JobOutcome, type RunJobOptions } from '../../src/worker/run-job.js';
import type { MetadataStore } from '../../src/store/store.js';

registerMemoryConnector();

/** A source and a target in-memory database, unique to one test. */
export function memoryPair(): {
  source: MemoryDatabase;
  target: MemoryDatabase;
  names: { source: string; target: string };
  drop: () => void;
} {
  const id = randomBytes(4).toString('hex');
  const names = { source: `src-${id}`, target: `dst-${id}` };
  return {
    source: memoryDatabase(names.source),
    target: memoryDatabase(names.target),
    names,
    drop: () => {
      dropMemoryDatabase(names.source);
      dropMemoryDatabase(names.target);
    },
  };
}

export const INT: MemoryColumn['type'] = { kind: 'integer', bytes: 4, unsigned: false };
export const TEXT: MemoryColumn['type'] = { kind: 'text' };

/** `users(id int primary key, name text)` with ids 1..n. */
export function seedUsers(db: MemoryDatabase, n: number, name = (i: number) => `user ${i}`): void {
  db.tables.set('users', {
    columns: [
      { name: 'id', type: INT, nullable: false },
      { name: 'name', type: TEXT },
    ],
    primaryKey: ['id'],
    rows: Array.from({ length: n }, (_, i) => [i + 1, name(i + 1)]),
  });
}

export async function createMemoryJob(
  store: MetadataStore,
  names: { source: string; target: string },
  options: Partial<JobOptions> = {},
): Promise<JobWithSecrets> {
  const job = await store.createJob({
    tenantId: 'tenant-a',
    source: { type: 'memory', name: names.source },
    target: { type: 'memory', name: names.target },
    options: { ...DEFAULT_JOB_OPTIONS, concurrency: 2, ...options },
    startedBy: 'test',
  });
  return (await store.getJobWithSecrets(job.id))!;
}

export async function run(
  store: MetadataStore,
  job: JobWithSecrets,
  extra: Partial<Omit<RunJobOptions, 'ledger' | 'job' | 'connectors'>> = {},
): Promise<JobOutcome & { events: JobEvent[] }> {
  const events: JobEvent[] = [];
  const outcome = await runJob({
    ledger: store,
    job: (await store.getJobWithSecrets(job.id))!,
    connectors,
    workerId: extra.workerId ?? `worker-${randomBytes(3).toString('hex')}`,
    leaseMs: 5_000,
    onEvent: (e) => events.push(e),
    ...extra,
  });
  return { ...outcome, events };
}
