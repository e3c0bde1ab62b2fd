import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_JOB_OPTIONS } from '../../src/domain/model.js';
import type { Database } from '../../src/store/schema.js';
import type { MetadataStore } from '../../src/store/store.js';
import { hasService } from '../helpers/services.js';
import { openTestStore, STORE_KINDS } from '../helpers/stores.js';

const pgUp = await hasService('postgres');
const PASSWORD = 'pl4nted-s3cret-pw!';

describe.each(STORE_KINDS)('metadata store on %s', (kind) => {
  const skip = kind === 'postgresql' && !pgUp;
  let store: MetadataStore;
  let cleanup: () => Promise<void>;
  const db = () => (store as unknown as { db: Kysely<Database> }).db;

  beforeAll(async () => {
    if (skip) return;
    ({ store, cleanup } = await openTestStore(kind));
  });
  afterAll(async () => {
    if (!skip) await cleanup();
  });

  const newJob = (tenantId = 'acme') =>
    store.createJob({
      tenantId,
      source: {
        type: 'mysql',
        host: 'db.internal',
        port: 3306,
        database: 'shop',
        user: 'app',
        password: PASSWORD,
      },
      target: {
        type: 'postgresql',
        host: 'pg.internal',
        port: 5432,
        database: 'shop',
        user: 'app',
        password: PASSWORD,
      },
      options: DEFAULT_JOB_OPTIONS,
      startedBy: 'alice',
    });

  it.skipIf(skip)('migrates idempotently: a second migrate() is a no-op', async () => {
    await store.migrate();
    await store.migrate();
    expect(await store.ping()).toBe(true);
  });

  it.skipIf(skip)(
    'stores connection passwords encrypted and returns them only with getJobWithSecrets',
    async () => {
      const job = await newJob();
      expect(JSON.stringify(job)).not.toContain(PASSWORD);
      expect(job.sourceDescription).toBe('mysql://app@db.internal:3306/shop');
      const raw = await db()
        .selectFrom('jobs')
        .selectAll()
        .where('id', '=', job.id)
        .executeTakeFirstOrThrow();
      expect(JSON.stringify(raw)).not.toContain(PASSWORD);
      expect(raw.source_config).toMatch(/^v1:[0-9a-f]{8}:/);
      const secret = await store.getJobWithSecrets(job.id);
      expect(secret?.source).toMatchObject({ type: 'mysql', password: PASSWORD });
    },
  );

  it.skipIf(skip)('returns a job only to its tenant', async () => {
    const job = await newJob('acme');
    expect(await store.getJob(job.id, 'acme')).not.toBeNull();
    expect(await store.getJob(job.id, 'globex')).toBeNull();
    expect(await store.getJob('00000000-0000-0000-0000-000000000000')).toBeNull();
  });

  it.skipIf(skip)('moves a job only from the states it is allowed to leave', async () => {
    const job = await newJob();
    expect(await store.transitionJob(job.id, ['running'], 'completed')).toBe(false);
    expect(
      await store.transitionJob(job.id, ['pending'], 'planning', {
        startedAt: new Date().toISOString(),
      }),
    ).toBe(true);
    expect(await store.getJobStatus(job.id)).toBe('planning');
    expect(
      await store.transitionJob(job.id, ['planning'], 'failed', {
        error: { code: 'AUTH_FAILED', message: 'denied' },
      }),
    ).toBe(true);
    expect((await store.getJob(job.id))!.error).toEqual({ code: 'AUTH_FAILED', message: 'denied' });
  });

  async function jobWithBatches(n: number) {
    const job = await newJob();
    await store.saveJobTable({
      jobId: job.id,
      name: 'shop.users',
      targetName: 'users',
      ordinal: 0,
      status: 'planning',
      plan: { x: 1 },
      planCursor: null,
      createdByJob: true,
      estimatedRows: n * 10,
      plannedRows: 0,
      sourceRows: null,
      targetRows: null,
      sourceChecksum: null,
      targetChecksum: null,
      validation: 'pending',
      error: null,
      notes: [],
    });
    await store.addBatches(
      job.id,
      'shop.users',
      Array.from({ length: n }, (_, i) => ({
        seq: i + 1,
        range: {
          lo: i === 0 ? null : [String(i * 10)],
          hi: i === n - 1 ? null : [String(i * 10 + 10)],
        },
      })),
      3,
      { planCursor: [String((n - 1) * 10)], plannedRows: n * 10 },
    );
    return job;
  }

  it.skipIf(skip)(
    'persists batches with their key ranges and the plan cursor atomically',
    async () => {
      const job = await jobWithBatches(3);
      const [t] = await store.listJobTables(job.id);
      expect(t).toMatchObject({ planCursor: ['20'], plannedRows: 30, plan: { x: 1 } });
      const first = await store.claimBatch(job.id, 'w1', 60_000);
      expect(first).toMatchObject({
        seq: 1,
        lo: null,
        hi: ['10'],
        status: 'running',
        attempts: 1,
        workerId: 'w1',
      });
    },
  );

  it.skipIf(skip)(
    'marks the table planned together with its last batches (a planner dying in between cannot leave a cursor to re-plan from)',
    async () => {
      const job = await jobWithBatches(2);
      expect((await store.listJobTables(job.id))[0]).toMatchObject({
        status: 'planning',
        planCursor: ['10'],
      });
      await store.addBatches(
        job.id,
        'shop.users',
        [{ seq: 3, range: { lo: ['20'], hi: null } }],
        3,
        { planCursor: ['20'], plannedRows: 25, done: true },
      );
      expect((await store.listJobTables(job.id))[0]).toMatchObject({
        status: 'planned',
        planCursor: ['20'],
        plannedRows: 25,
      });
    },
  );

  it.skipIf(skip)(
    'with onlyWhileRunning, claims nothing once the job is no longer running (a cancel between status check and claim)',
    async () => {
      const job = await jobWithBatches(3);
      expect(await store.claimBatch(job.id, 'w1', 60_000, { onlyWhileRunning: true })).toBeNull(); // still pending
      await store.transitionJob(job.id, ['pending'], 'planning');
      await store.transitionJob(job.id, ['planning'], 'running');
      expect(
        await store.claimBatch(job.id, 'w1', 60_000, { onlyWhileRunning: true }),
      ).toMatchObject({ seq: 1 });
      await store.transitionJob(job.id, ['running'], 'cancelling');
      expect(await store.claimBatch(job.id, 'w1', 60_000, { onlyWhileRunning: true })).toBeNull();
      expect((await store.batchCounts(job.id)).reduce((n, c) => n + c.pending, 0)).toBe(2);
    },
  );

  it.skipIf(skip)('never hands the same batch to two concurrent claimers', async () => {
    const job = await jobWithBatches(40);
    const claims = await Promise.all(
      Array.from({ length: 60 }, (_, i) => store.claimBatch(job.id, `w${i % 6}`, 60_000)),
    );
    const ids = claims.filter((b) => b !== null).map((b) => b!.id);
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
  });

  it.skipIf(skip)('finishes a batch only for the worker holding its lease', async () => {
    const job = await jobWithBatches(1);
    const b = (await store.claimBatch(job.id, 'w1', 60_000))!;
    const outcome = {
      status: 'succeeded' as const,
      rowsRead: 10,
      rowsWritten: 10,
      rowsFailed: 0,
      durationMs: 5,
    };
    expect(await store.finishBatch(b.id, 'intruder', outcome)).toBe(false);
    const log = {
      jobId: job.id,
      batchId: b.id,
      tableName: 'shop.users',
      scope: 'batch' as const,
      recordId: '[-∞, +∞)',
      status: 'success' as const,
      errorCode: null,
      errorMessage: null,
      retryCount: 0,
      rows: 10,
    };
    expect(await store.finishBatch(b.id, 'w1', outcome, [log])).toBe(true);
    expect((await store.batchCounts(job.id))[0]).toMatchObject({ succeeded: 1, rowsWritten: 10 });
    const logs = await db()
      .selectFrom('record_logs')
      .selectAll()
      .where('job_id', '=', job.id)
      .execute();
    expect(logs).toHaveLength(1);
  });

  it.skipIf(skip)('gives expired leases back and keeps live ones', async () => {
    const job = await jobWithBatches(2);
    await store.claimBatch(job.id, 'dead', 1);
    await store.claimBatch(job.id, 'alive', 60_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(await store.requeueStaleBatches(job.id)).toBe(1);
    const again = await store.claimBatch(job.id, 'w2', 60_000);
    expect(again).toMatchObject({ attempts: 2, seq: 1 });
    expect(await store.renewLease(again!.id, 'w2', 60_000)).toBe(true);
    expect(await store.renewLease(again!.id, 'dead', 60_000)).toBe(false);
  });

  it.skipIf(skip)(
    'retries due batches first, waits for the others, and resets failed ones with a new budget',
    async () => {
      const job = await jobWithBatches(3);
      const a = (await store.claimBatch(job.id, 'w', 60_000))!;
      await store.finishBatch(a.id, 'w', {
        status: 'retrying',
        nextAttemptAt: new Date(Date.now() + 60_000).toISOString(),
        durationMs: 1,
        error: 'TRANSIENT: reset',
      });
      expect(await store.nextRetryAt(job.id)).not.toBeNull();
      const b = (await store.claimBatch(job.id, 'w', 60_000))!;
      expect(b.id).not.toBe(a.id);
      await store.finishBatch(
        b.id,
        'w',
        {
          status: 'failed',
          rowsRead: 10,
          rowsWritten: 9,
          rowsFailed: 1,
          durationMs: 1,
          error: '1 record failed',
        },
        [
          {
            jobId: job.id,
            batchId: b.id,
            tableName: 'shop.users',
            scope: 'record',
            recordId: '15',
            status: 'failed',
            errorCode: 'DATA_ERROR',
            errorMessage: 'bad',
            retryCount: 0,
            rows: 1,
          },
        ],
      );
      expect(await store.failedRecordIds(job.id, 'shop.users')).toEqual(['15']);
      expect(await store.resetFailedBatches(job.id, [999_999], 2)).toBe(0);
      expect(await store.resetFailedBatches(job.id, [b.id], 2)).toBe(1);
      const again = (await store.claimBatch(job.id, 'w', 60_000))!;
      expect(again).toMatchObject({ id: b.id, attempts: 2, maxAttempts: 4 });
      // Its earlier failures are history now: they read "retrying", not "failed".
      expect(await store.failedRecordIds(job.id, 'shop.users')).toEqual([]);
    },
  );
});
