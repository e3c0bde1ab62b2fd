import type { Kysely } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/store/schema.js';
import { FreightError } from '../../src/domain/errors.js';
import type { MetadataStore } from '../../src/store/store.js';
import { hasService } from '../helpers/services.js';
import { createMemoryJob, INT, memoryPair, run, seedUsers, TEXT } from '../helpers/memory-jobs.js';
import { openTestStore, STORE_KINDS } from '../helpers/stores.js';

const pgUp = await hasService('postgres');

describe.each(STORE_KINDS)('job runner on the %s store', (kind) => {
  const skip = kind === 'postgresql' && !pgUp;
  let store: MetadataStore;
  let cleanup: () => Promise<void>;
  let pair: ReturnType<typeof memoryPair>;

  beforeAll(async () => {
    if (skip) return;
    ({ store, cleanup } = await openTestStore(kind));
  });
  afterAll(async () => {
    if (!skip) await cleanup();
  });
  afterEach(() => pair?.drop());

  const rowsOf = (db: ReturnType<typeof memoryPair>['target'], table = 'users') =>
    [...db.table(table).rows].sort((a, b) => (a[0] as number) - (b[0] as number));

  it.skipIf(skip)(
    'copies every row once, in keyset batches, and validates the counts',
    async () => {
      pair = memoryPair();
      seedUsers(pair.source, 1050);
      const job = await createMemoryJob(store, pair.names, { batchSize: 100, concurrency: 4 });
      const outcome = await run(store, job);
      expect(outcome.status).toBe('completed');
      expect(rowsOf(pair.target)).toEqual(pair.source.table('users').rows);
      const counts = await store.batchCounts(job.id);
      expect(counts).toEqual([
        expect.objectContaining({
          tableName: 'users',
          total: 11,
          succeeded: 11,
          rowsWritten: 1050,
          rowsFailed: 0,
        }),
      ]);
      const [table] = await store.listJobTables(job.id);
      expect(table).toMatchObject({
        status: 'finalized',
        validation: 'passed',
        sourceRows: 1050,
        targetRows: 1050,
        plannedRows: 1050,
      });
      // Every chain that ran out of work asked for finalization; exactly one did it.
      expect(pair.target.finalized).toEqual(['users']);
    },
  );

  it.skipIf(skip)(
    'retries a batch after transient errors with backoff and writes it exactly once',
    async () => {
      pair = memoryPair();
      seedUsers(pair.source, 300);
      let failures = 0;
      pair.target.faults.beforeWrite = (_table, rows) => {
        if (rows.some((r) => r[0] === 150) && failures < 2) {
          failures++;
          throw new FreightError('TRANSIENT', 'connection reset by peer');
        }
      };
      const job = await createMemoryJob(store, pair.names, { batchSize: 100, maxRetries: 3 });
      const outcome = await run(store, job);
      expect(outcome.status).toBe('completed');
      expect(failures).toBe(2);
      expect(rowsOf(pair.target)).toEqual(pair.source.table('users').rows);
      const retried = outcome.events.filter(
        (e) => e.type === 'batch-finished' && e.status === 'retrying',
      );
      expect(retried).toHaveLength(2);
    },
  );

  it.skipIf(skip)(
    'fails a batch whose transient errors outlast max_retries, and a retry later completes it',
    async () => {
      pair = memoryPair();
      seedUsers(pair.source, 300);
      let down = true;
      pair.target.faults.beforeWrite = (_t, rows) => {
        if (down && rows.some((r) => r[0] === 250))
          throw new FreightError('TRANSIENT', 'server closed the connection');
      };
      const job = await createMemoryJob(store, pair.names, { batchSize: 100, maxRetries: 1 });
      const first = await run(store, job);
      expect(first.status).toBe('completed_with_errors');
      expect(first.error?.message).toMatch(/1 of 3 batch\(es\) failed/);
      expect(pair.target.table('users').rows).toHaveLength(200);

      down = false;
      expect(await store.resetFailedBatches(job.id, null, 2)).toBe(1);
      await store.transitionJob(job.id, ['completed_with_errors'], 'pending');
      const second = await run(store, job);
      expect(second.status).toBe('completed');
      expect(rowsOf(pair.target)).toEqual(pair.source.table('users').rows);
    },
  );

  it.skipIf(skip)(
    'isolates bad records by bisection, logs each with its key, and commits the rest',
    async () => {
      pair = memoryPair();
      seedUsers(pair.source, 1000, (i) => (i % 97 === 0 ? 'BAD' : `user ${i}`));
      let writes = 0;
      pair.target.faults.beforeWrite = (_t, rows) => {
        writes++;
        if (rows.some((r) => r[1] === 'BAD'))
          throw new FreightError('DATA_ERROR', 'value "BAD" violates check constraint');
      };
      const job = await createMemoryJob(store, pair.names, { batchSize: 250 });
      const outcome = await run(store, job);
      const bad = pair.source
        .table('users')
        .rows.filter((r) => r[1] === 'BAD')
        .map((r) => String(r[0]));
      expect(bad).toHaveLength(10);
      expect(outcome.status).toBe('completed_with_errors');
      expect(outcome.error?.message).toMatch(/10 record\(s\) failed/);
      expect((await store.failedRecordIds(job.id, 'users')).sort()).toEqual(bad.sort());
      expect(pair.target.table('users').rows).toHaveLength(990);
      expect(pair.target.table('users').rows.some((r) => r[1] === 'BAD')).toBe(false);
      // Bisection, not row-by-row: far fewer writes than rows.
      expect(writes).toBeLessThan(400);
      const [table] = await store.listJobTables(job.id);
      expect(table!.validation).toBe('passed');
    },
  );

  it.skipIf(skip)('lets a target that reports failed rows itself skip bisection', async () => {
    pair = memoryPair();
    pair.target.atomicChunks = false;
    seedUsers(pair.source, 200, (i) => (i % 50 === 0 ? 'BAD' : `u${i}`));
    pair.target.faults.beforeWrite = (_t, rows) => {
      if (rows.some((r) => r[1] === 'BAD')) throw new FreightError('DATA_ERROR', 'bad value');
    };
    const job = await createMemoryJob(store, pair.names, { batchSize: 100 });
    const outcome = await run(store, job);
    expect(outcome.status).toBe('completed_with_errors');
    expect((await store.failedRecordIds(job.id, 'users')).sort()).toEqual([
      '100',
      '150',
      '200',
      '50',
    ]);
    expect(pair.target.table('users').rows).toHaveLength(196);
  });

  it.skipIf(skip)(
    'cancels gracefully: no new batch starts, running batches finish, and a resume completes',
    async () => {
      pair = memoryPair();
      seedUsers(pair.source, 1000);
      const cancel = new AbortController();
      let commits = 0;
      pair.target.faults.beforeCommit = async () => {
        commits++;
        if (commits === 2) cancel.abort();
        await new Promise((r) => setTimeout(r, 20));
      };
      const job = await createMemoryJob(store, pair.names, { batchSize: 100, concurrency: 2 });
      const outcome = await run(store, job, { cancel: cancel.signal });
      expect(outcome.status).toBe('cancelled');
      const counts = (await store.batchCounts(job.id))[0]!;
      expect(counts.running).toBe(0);
      expect(counts.succeeded).toBeGreaterThanOrEqual(2);
      expect(counts.succeeded).toBeLessThan(10);
      expect(pair.target.table('users').rows).toHaveLength(counts.rowsWritten);

      pair.target.faults = {};
      await store.transitionJob(job.id, ['cancelled'], 'pending');
      const resumed = await run(store, job, { takeOver: true });
      expect(resumed.status).toBe('completed');
      expect(rowsOf(pair.target)).toEqual(pair.source.table('users').rows);
    },
  );

  it.skipIf(skip)(
    'aborts running batches on a hard stop, hands them back, and a resume writes them once',
    async () => {
      pair = memoryPair();
      seedUsers(pair.source, 400);
      const abort = new AbortController();
      pair.source.faults.beforeRead = async (_t, chunk) => {
        if (chunk === 0 && !abort.signal.aborted) setTimeout(() => abort.abort(), 5);
        await new Promise((r) => setTimeout(r, 30));
      };
      const job = await createMemoryJob(store, pair.names, { batchSize: 200, concurrency: 2 });
      const outcome = await run(store, job, { abort: abort.signal });
      expect(outcome.status).toBe('cancelled');
      const counts = (await store.batchCounts(job.id))[0]!;
      expect(counts.running).toBe(0);
      expect(counts.pending).toBeGreaterThan(0);

      pair.source.faults = {};
      await store.transitionJob(job.id, ['cancelled'], 'pending');
      const resumed = await run(store, job);
      expect(resumed.status).toBe('completed');
      expect(rowsOf(pair.target)).toEqual(pair.source.table('users').rows);
    },
  );

  it.skipIf(skip)(
    're-running a batch that already committed (lost acknowledgement) leaves one copy of each row',
    async () => {
      pair = memoryPair();
      seedUsers(pair.source, 300);
      const job = await createMemoryJob(store, pair.names, { batchSize: 100 });
      expect((await run(store, job)).status).toBe('completed');
      // Pretend every batch's outcome was lost after its commit: they run again.
      const batches = await store.resetFailedBatches(job.id, null, 1);
      expect(batches).toBe(0);
      const kysely = (store as unknown as { db: Kysely<Database> }).db;
      await kysely
        .updateTable('batches')
        .set({ status: 'pending' })
        .where('job_id', '=', job.id)
        .execute();
      await store.transitionJob(job.id, ['completed'], 'running');
      await store.transitionJob(job.id, ['running'], 'pending');
      const again = await run(store, job);
      expect(again.status).toBe('completed');
      expect(rowsOf(pair.target)).toEqual(pair.source.table('users').rows);
    },
  );

  it.skipIf(skip)(
    'copies a keyless table as one batch and replaces it entirely when run again',
    async () => {
      pair = memoryPair();
      pair.source.tables.set('events', {
        columns: [
          { name: 'kind', type: TEXT },
          { name: 'n', type: INT },
        ],
        primaryKey: [],
        rows: Array.from({ length: 250 }, (_, i) => [`k${i % 3}`, i]),
      });
      const job = await createMemoryJob(store, pair.names, { batchSize: 100 });
      const outcome = await run(store, job);
      expect(outcome.status).toBe('completed');
      expect((await store.batchCounts(job.id))[0]!.total).toBe(1);
      const job2 = await createMemoryJob(store, pair.names, { batchSize: 100 });
      expect((await run(store, job2)).status).toBe('completed');
      expect(pair.target.table('events').rows).toHaveLength(250);
    },
  );

  it.skipIf(skip)(
    'logs values changed by policy as warnings and values it cannot carry as failures',
    async () => {
      pair = memoryPair();
      pair.source.tables.set('orders', {
        columns: [
          { name: 'id', type: INT, nullable: false },
          { name: 'shipped', type: { kind: 'date' }, nullable: true },
          { name: 'placed', type: { kind: 'date' }, nullable: false },
        ],
        primaryKey: ['id'],
        rows: [
          [1, '2024-01-31', '2024-01-01'],
          [2, '0000-00-00', '2024-01-02'],
          [3, '2024-02-01', '0000-00-00'],
          [4, '2023-02-29', '2024-01-04'],
        ],
      });
      const job = await createMemoryJob(store, pair.names);
      const outcome = await run(store, job);
      expect(outcome.status).toBe('completed_with_errors');
      expect(pair.target.table('orders').rows).toEqual([
        [1, '2024-01-31', '2024-01-01'],
        [2, null, '2024-01-02'],
        [4, null, '2024-01-04'],
      ]);
      expect(await store.failedRecordIds(job.id, 'orders')).toEqual(['3']);
      expect(outcome.tables[0]!.rowsWarned).toBe(2);
    },
  );

  it.skipIf(skip)('fails the whole job with a message naming a missing table', async () => {
    pair = memoryPair();
    seedUsers(pair.source, 10);
    const job = await createMemoryJob(store, pair.names, { tables: ['users', 'nope'] });
    const outcome = await run(store, job);
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toEqual({
      code: 'TABLE_NOT_FOUND',
      message: expect.stringContaining('nope'),
    });
    expect((await store.getJob(job.id))!.error?.code).toBe('TABLE_NOT_FOUND');
  });

  it.skipIf(skip)(
    'plans a table larger than the planner group in several steps and resumes planning from its cursor',
    async () => {
      pair = memoryPair();
      seedUsers(pair.source, 5000);
      const cancel = new AbortController();
      const job = await createMemoryJob(store, pair.names, { batchSize: 10, concurrency: 1 });
      let planned = 0;
      const outcome = await run(store, job, {
        cancel: cancel.signal,
        onEvent: (e) => {
          if (e.type === 'table-planned' && ++planned === 3) cancel.abort();
        },
      });
      expect(outcome.status).toBe('cancelled');
      const [table] = await store.listJobTables(job.id);
      expect(table!.status).toBe('planning');
      expect(table!.planCursor).not.toBeNull();
      await store.transitionJob(job.id, ['cancelled'], 'pending');
      const resumed = await run(store, job, { takeOver: true });
      expect(resumed.status).toBe('completed');
      const counts = (await store.batchCounts(job.id))[0]!;
      expect(counts.rowsWritten).toBe(5000);
      expect(rowsOf(pair.target)).toEqual(pair.source.table('users').rows);
    },
  );
});
