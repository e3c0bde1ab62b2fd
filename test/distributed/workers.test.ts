import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlDatabase, createPgSchema } from '../helpers/databases.js';
import { hasService, SERVICES } from '../helpers/services.js';
import { sleep, startCluster, waitFor, type Cluster, type Proc } from './cluster.js';

/**
 * Distributed mode with real processes (DESIGN.md §2, §5): a PostgreSQL store, BullMQ on Redis,
 * `freight serve --no-worker` and `freight worker` processes that are killed, stopped and
 * restarted while they copy a MariaDB table of 300,000 rows into PostgreSQL.
 */

const up =
  (await hasService('postgres')) && (await hasService('mysql')) && (await hasService('redis'));

const ROWS = 300_000;
const BATCH = 5000;
const WORKER_CONCURRENCY = 3;

interface Batch {
  batch_id: number;
  status: string;
  attempts: number;
  worker_id: string | null;
}

describe.skipIf(!up)('distributed mode: API + workers as processes', () => {
  let cluster: Cluster;
  let mysql: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let pg: Awaited<ReturnType<typeof createPgSchema>>;
  let tenant: { id: string; key: string };
  let source: { n: number; price: string; bodies: number; body_chars: number; qty_nulls: number };
  const schemas: string[] = [];

  beforeAll(async () => {
    [mysql, pg] = await Promise.all([createMysqlDatabase('fdist'), createPgSchema('fdist')]);
    await mysql.query(`CREATE TABLE items (
      id INT NOT NULL PRIMARY KEY,
      name VARCHAR(80) NOT NULL,
      price DECIMAL(12,2) NOT NULL,
      created DATETIME(6) NOT NULL,
      body TEXT NULL,
      qty INT NULL,
      flag TINYINT(1) NULL)`);
    // Gaps in the keys (every 97th id is missing), text with tabs, newlines and backslashes, NULLs.
    await mysql.query(`INSERT INTO items
      SELECT seq, CONCAT('item-', seq, IF(seq % 11 = 0, ' ünïcödé ✓', '')), (seq * 37 % 100000) / 100,
             TIMESTAMP('2021-03-04 05:06:07.123456') + INTERVAL seq * 7 SECOND + INTERVAL seq MICROSECOND,
             IF(seq % 5 = 0, NULL, CONCAT('line\\t', seq, '\\n\\\\', REPEAT('x', seq % 40), '\\r\\nend')),
             IF(seq % 3 = 0, NULL, CAST(seq % 1000 AS SIGNED) - 500), IF(seq % 4 = 0, NULL, seq % 2)
      FROM seq_1_to_${ROWS + ROWS / 50} WHERE seq % 97 <> 0 LIMIT ${ROWS}`);
    const [row] = (await mysql.query(
      `SELECT COUNT(*) AS n, CAST(SUM(price) AS CHAR) AS price, COUNT(body) AS bodies, SUM(CHAR_LENGTH(body)) AS body_chars,
              SUM(qty IS NULL) AS qty_nulls FROM items`,
    )) as Array<Record<string, unknown>>;
    source = {
      n: Number(row!.n),
      price: String(row!.price),
      bodies: Number(row!.bodies),
      body_chars: Number(row!.body_chars),
      qty_nulls: Number(row!.qty_nulls),
    };
    expect(source.n).toBe(ROWS);
    cluster = await startCluster();
    tenant = await cluster.tenant();
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    for (const s of schemas) await pg?.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await mysql?.drop();
    await pg?.drop();
  });

  const api = (method: string, url: string, body?: unknown) =>
    cluster.http(method, url, {
      key: tenant.key,
      tenant: tenant.id,
      ...(body !== undefined ? { body } : {}),
    });

  async function createJob(
    suffix: string,
    options: Record<string, unknown> = {},
  ): Promise<{ jobId: string; schema: string }> {
    const schema = `${pg.name}_${suffix}`;
    schemas.push(schema);
    await pg.query(`CREATE SCHEMA "${schema}"`);
    const { host, port, user, database } = SERVICES.postgres;
    const r = await api('POST', '/api/v1/jobs', {
      source_config: mysql.url,
      target_config: `postgresql://${user}@${host}:${port}/${database}?schema=${schema}`,
      tables: ['items'],
      batch_size: BATCH,
      concurrency: 4,
      max_retries: 5,
      verify: 'checksum',
      ...options,
    });
    expect(r.status, r.text).toBe(201);
    return { jobId: r.json.job_id as string, schema };
  }

  async function getJob(jobId: string): Promise<any> {
    const r = await api('GET', `/api/v1/jobs/${jobId}`);
    expect(r.status, r.text).toBe(200);
    return r.json;
  }

  async function listBatches(jobId: string, status?: string): Promise<Batch[]> {
    const out: Batch[] = [];
    for (let offset = 0; ;) {
      const r = await api(
        'GET',
        `/api/v1/jobs/${jobId}/batches?limit=500&offset=${offset}${status ? `&status=${status}` : ''}`,
      );
      expect(r.status, r.text).toBe(200);
      out.push(...(r.json.batches as Batch[]));
      if (r.json.next_offset === null) return out;
      offset = r.json.next_offset;
    }
  }

  async function waitForJob(jobId: string, statuses: string[], timeoutMs = 90_000): Promise<any> {
    let last: any = null;
    try {
      return await waitFor(
        async () => {
          last = await getJob(jobId);
          return statuses.includes(last.status) ? last : null;
        },
        timeoutMs,
        `job ${jobId} to become ${statuses.join('/')}`,
        200,
      );
    } catch (error) {
      const logs = cluster.workers
        .map(
          (w) =>
            `--- ${w.name} (${w.workerId}, ${w.alive ? 'alive' : 'dead'})\n${w.output().slice(-3000)}`,
        )
        .join('\n');
      throw new Error(
        `${(error as Error).message}; last: ${JSON.stringify(last?.progress)} ${last?.status}\n${logs}`,
        { cause: error },
      );
    }
  }

  /** The job completed, validated by checksum, and the target holds exactly the source's rows. */
  async function expectExactCopy(jobId: string, schema: string, batchSize = BATCH): Promise<any> {
    const job = await waitForJob(jobId, [
      'completed',
      'completed_with_errors',
      'failed',
      'cancelled',
    ]);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.tables).toHaveLength(1);
    expect(job.tables[0]).toMatchObject({
      source_rows: ROWS,
      target_rows: ROWS,
      validation: 'passed',
      rows_failed: 0,
    });
    expect(job.progress.batches).toMatchObject({
      total: ROWS / batchSize,
      succeeded: ROWS / batchSize,
      failed: 0,
      pending: 0,
      running: 0,
    });
    const { rows } = await pg.query(
      `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, sum(price)::text AS price, count(body)::int AS bodies,
              sum(char_length(body))::int AS body_chars, count(*) FILTER (WHERE qty IS NULL)::int AS qty_nulls FROM "${schema}".items`,
    );
    expect(rows[0]).toEqual({
      n: ROWS,
      d: ROWS,
      price: source.price,
      bodies: source.bodies,
      body_chars: source.body_chars,
      qty_nulls: source.qty_nulls,
    });
    return job;
  }

  /** Two live workers (started anew when earlier tests killed or stopped them). */
  async function twoWorkers(): Promise<[Proc, Proc]> {
    const alive = cluster.workers.filter((w) => w.alive);
    while (alive.length < 2) alive.push(await cluster.startWorker(WORKER_CONCURRENCY));
    return [alive[0]!, alive[1]!];
  }

  /**
   * Waits until `check(running batches)` holds after at least `minSucceeded` batches succeeded.
   * Batches take tens of milliseconds here, so this reads the store's batches table directly (a
   * millisecond) rather than through the API, to act while the batches it saw are still running.
   */
  async function whenRunning(
    jobId: string,
    minSucceeded: number,
    check: (running: Batch[]) => boolean,
  ): Promise<Batch[]> {
    return waitFor(
      async () => {
        const { rows } = await pg.query(
          `SELECT id::int AS batch_id, status, attempts::int AS attempts, worker_id FROM "${cluster.schema}".batches WHERE job_id = $1 AND status IN ('running', 'succeeded')`,
          [jobId],
        );
        const running = (rows as Batch[]).filter((b) => b.status === 'running');
        if (rows.length - running.length >= minSucceeded && check(running)) return running;
        if (rows.length - running.length >= ROWS / BATCH)
          throw new Error(`job ${jobId} finished its batches before the moment came`);
        return null;
      },
      60_000,
      'the job to be mid-run',
      5,
    );
  }

  /**
   * Catches `procs` at a moment: waits for it (`wait`), freezes them (SIGSTOP) and confirms it
   * (`holds`) while they cannot move, so what the test then kills them with is what they held —
   * not what they held a few milliseconds earlier. If the moment passed before the freeze, they
   * resume (SIGCONT) and it is tried again.
   */
  async function freezeAt(
    procs: Proc[],
    wait: () => Promise<unknown>,
    holds: () => Promise<boolean>,
  ): Promise<void> {
    for (let attempt = 0; attempt < 30; attempt++) {
      await wait();
      for (const p of procs) p.child.kill('SIGSTOP');
      // A statement already on its way to the database completes there; let it land.
      await sleep(150);
      if (await holds()) return;
      for (const p of procs) p.child.kill('SIGCONT');
    }
    throw new Error('the moment passed every time before the workers were frozen');
  }

  it('a. a worker killed with SIGKILL mid-run: its batches are re-run elsewhere and the job completes exactly', async () => {
    const [victim, survivor] = await twoWorkers();
    const { jobId, schema } = await createJob('sigkill');
    let held: number[] = [];
    await freezeAt(
      [victim],
      () => whenRunning(jobId, 4, (r) => r.some((b) => b.worker_id === victim.workerId)),
      async () => {
        held = (await listBatches(jobId, 'running'))
          .filter((b) => b.worker_id === victim.workerId)
          .map((b) => b.batch_id);
        return held.length > 0;
      },
    );
    victim.child.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    // What it was running when it died stays running under its name until the leases expire.
    const still = (await listBatches(jobId, 'running'))
      .filter((b) => b.worker_id === victim.workerId)
      .map((b) => b.batch_id);
    expect(still.sort((x, y) => x - y)).toEqual([...held].sort((x, y) => x - y));

    await expectExactCopy(jobId, schema);
    const batches = await listBatches(jobId);
    const heldAfter = batches.filter((b) => held.includes(b.batch_id));
    // What the dead worker held was run again by the survivor (a later attempt, another worker).
    expect(heldAfter).toHaveLength(held.length);
    for (const b of heldAfter)
      expect(b).toMatchObject({
        status: 'succeeded',
        worker_id: survivor.workerId,
        attempts: expect.any(Number),
      });
    expect(
      heldAfter.every((b) => b.attempts >= 2),
      JSON.stringify(heldAfter),
    ).toBe(true);
    expect(batches.every((b) => b.status === 'succeeded')).toBe(true);
  }, 120_000);

  it('b. a worker stopped with SIGTERM finishes its running batches and exits 0; the other finishes the job', async () => {
    const [leaving, staying] = await twoWorkers();
    const { jobId, schema } = await createJob('sigterm');
    const running = await whenRunning(jobId, 4, (r) =>
      r.some((b) => b.worker_id === leaving.workerId),
    );
    const held = running.filter((b) => b.worker_id === leaving.workerId).map((b) => b.batch_id);
    leaving.child.kill('SIGTERM');
    const exit = await Promise.race([leaving.exited, sleep(45_000).then(() => null)]);
    expect(exit, leaving.output().slice(-3000)).toEqual({ code: 0, signal: null });
    expect(leaving.output()).toMatch(/SIGTERM: finishing running batches/);

    // It left nothing behind: no batch is still running under its name, the batches it was
    // running were finished by it, and it deregistered at once.
    const after = await listBatches(jobId);
    expect(after.filter((b) => b.status === 'running' && b.worker_id === leaving.workerId)).toEqual(
      [],
    );
    for (const id of held)
      expect(after.find((b) => b.batch_id === id)).toMatchObject({
        status: 'succeeded',
        worker_id: leaving.workerId,
      });
    const status = await api('GET', '/api/v1/workers/status');
    expect(status.json.workers.map((w: any) => w.worker_id)).not.toContain(leaving.workerId);
    expect(status.json.workers.map((w: any) => w.worker_id)).toContain(staying.workerId);

    await expectExactCopy(jobId, schema);
    // The rest was the other worker's.
    expect(after.filter((b) => b.status !== 'succeeded').length).toBeGreaterThan(0);
    const final = await listBatches(jobId);
    expect(
      final
        .filter((b) => after.find((a) => a.batch_id === b.batch_id)?.status !== 'succeeded')
        .every((b) => b.worker_id === staying.workerId),
    ).toBe(true);
  }, 120_000);

  it('c. PostgreSQL target connections terminated mid-COPY, repeatedly: the batches are retried and the job completes exactly', async () => {
    await twoWorkers();
    const { jobId, schema } = await createJob('terminate', { max_retries: 10 });
    await whenRunning(jobId, 1, (r) => r.length > 0);
    let killed = 0;
    const until = Date.now() + 3500;
    while (Date.now() < until) {
      const r = await pg.query(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE application_name = 'freight' AND datname = current_database() AND query ILIKE 'COPY%' AND state = 'active'
            AND position($1 in query) > 0`,
        [`"${schema}"`],
      );
      killed += r.rows.filter((x) => x.ok).length;
      await sleep(40);
    }
    expect(killed).toBeGreaterThanOrEqual(2);
    await expectExactCopy(jobId, schema);
    const batches = await listBatches(jobId);
    expect(batches.filter((b) => b.attempts >= 2).length).toBeGreaterThanOrEqual(1);
    const logs = await api('GET', `/api/v1/jobs/${jobId}/logs?status=retrying&limit=100`);
    expect(logs.status, logs.text).toBe(200);
    expect(logs.json.logs.length).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('d. cancel while two workers run batches of the job: no batch starts afterwards anywhere; retry resumes it to completion', async () => {
    const [w1, w2] = await twoWorkers();
    const { jobId, schema } = await createJob('cancel');
    await whenRunning(
      jobId,
      4,
      (r) =>
        r.some((b) => b.worker_id === w1.workerId) && r.some((b) => b.worker_id === w2.workerId),
    );
    const cancel = await api('DELETE', `/api/v1/jobs/${jobId}`);
    expect(cancel.status, cancel.text).toBe(202);
    expect(['cancelling', 'cancelled']).toContain(cancel.json.status);
    const cancelled = await waitForJob(jobId, ['cancelled', 'completed', 'failed'], 30_000);
    expect(cancelled.status).toBe('cancelled');

    // Nothing runs any more, on either worker, and nothing more succeeds — for longer than a lease.
    const first = await listBatches(jobId);
    expect(first.filter((b) => b.status === 'running')).toEqual([]);
    const succeeded = first.filter((b) => b.status === 'succeeded').length;
    for (let i = 0; i < 8; i++) {
      await sleep(500);
      const now = await listBatches(jobId);
      expect(now.filter((b) => b.status === 'running')).toEqual([]);
      expect(now.filter((b) => b.status === 'succeeded').length).toBe(succeeded);
    }
    expect(first.filter((b) => b.status === 'pending').length).toBeGreaterThan(0);
    expect((await getJob(jobId)).status).toBe('cancelled');
    const partial = (await pg.query(`SELECT count(*)::int AS n FROM "${schema}".items`)).rows[0].n;
    expect(partial).toBeLessThan(ROWS);

    const retry = await api('POST', `/api/v1/jobs/${jobId}/retry`, {});
    expect(retry.status, retry.text).toBe(202);
    await expectExactCopy(jobId, schema);
  }, 120_000);

  it('e. worker status lists both workers with their batches, the BullMQ queue and the processing rate; a killed worker drops off', async () => {
    const [w1, w2] = await twoWorkers();
    // Two jobs at once, in smaller batches (a worker's heartbeat follows its running batches within ~1 s).
    const jobs = [
      await createJob('status1', { batch_size: 2000 }),
      await createJob('status2', { batch_size: 2000 }),
    ];
    const jobIds = jobs.map((j) => j.jobId);
    let sawRunning = false;
    let sawDepth = false;
    let killedAt = 0;
    let goneAfter = 0;
    await waitFor(
      async () => {
        const r = await api('GET', '/api/v1/workers/status');
        expect(r.status, r.text).toBe(200);
        const s = r.json;
        expect(s.queue.kind).toBe('bullmq');
        for (const k of ['waiting', 'delayed', 'active'])
          expect(Number.isInteger(s.queue[k]) && s.queue[k] >= 0, k).toBe(true);
        if (s.queue.waiting + s.queue.delayed + s.queue.active > 0) sawDepth = true;
        const ids = s.workers.map((w: any) => w.worker_id);
        if (!killedAt) {
          for (const proc of [w1, w2]) {
            const w = s.workers.find((x: any) => x.worker_id === proc.workerId);
            expect(w, `${proc.workerId} in ${JSON.stringify(ids)}`).toBeDefined();
            expect(w).toMatchObject({
              pid: proc.pid,
              concurrency: WORKER_CONCURRENCY,
              host: expect.any(String),
              started_at: expect.any(String),
            });
            expect(Math.abs(Date.now() - Date.parse(w.last_heartbeat))).toBeLessThan(15_000);
            expect(w.running_batches).toBeGreaterThanOrEqual(w.batches.length);
            if (w.running_batches > 0 && w.batches.some((b: any) => jobIds.includes(b.job_id)))
              sawRunning = true;
          }
          if (sawRunning && sawDepth) {
            w2.child.kill('SIGKILL');
            await w2.exited;
            killedAt = Date.now();
          } else {
            const states = await Promise.all(jobIds.map(async (id) => (await getJob(id)).status));
            if (states.every((st) => st !== 'running' && st !== 'planning' && st !== 'pending')) {
              throw new Error(
                `the jobs ended (${states.join(', ')}) before the status showed running batches (${sawRunning}) and queue depth (${sawDepth})`,
              );
            }
          }
        } else if (!ids.includes(w2.workerId)) {
          goneAfter = Date.now() - killedAt;
          return true;
        } else {
          expect(ids).toContain(w1.workerId);
        }
        return false;
      },
      60_000,
      'the killed worker to drop off the status',
      250,
    );
    // Alive while its heartbeat is younger than 15 s; heartbeats every 5 s.
    expect(goneAfter).toBeLessThanOrEqual(21_000);

    for (const { jobId, schema } of jobs) await expectExactCopy(jobId, schema, 2000);
    const after = (await api('GET', '/api/v1/workers/status')).json;
    expect(after.processing_rate.rows_per_second).toBeGreaterThan(0);
    expect(after.processing_rate.batches_per_minute).toBeGreaterThan(0);
    expect(after.workers.map((w: any) => w.worker_id)).toContain(w1.workerId);
    expect(after.workers.map((w: any) => w.worker_id)).not.toContain(w2.workerId);
  }, 120_000);

  it('f. both workers killed mid-job: two new workers resume it and it completes exactly', async () => {
    const [w1, w2] = await twoWorkers();
    const { jobId, schema } = await createJob('restart');
    await freezeAt(
      [w1, w2],
      () => whenRunning(jobId, 6, (r) => r.length >= 2),
      async () =>
        (await listBatches(jobId, 'running')).some(
          (b) => b.worker_id === w1.workerId || b.worker_id === w2.workerId,
        ),
    );
    w1.child.kill('SIGKILL');
    w2.child.kill('SIGKILL');
    await Promise.all([w1.exited, w2.exited]);
    const stalled = await getJob(jobId);
    expect(stalled.status).toBe('running');
    expect(stalled.progress.batches.succeeded).toBeLessThan(ROWS / BATCH);

    const [n1, n2] = await twoWorkers();
    expect([n1.workerId, n2.workerId]).not.toContain(w1.workerId);
    await expectExactCopy(jobId, schema);
    const batches = await listBatches(jobId);
    expect(batches.some((b) => b.attempts >= 2)).toBe(true);
    expect(batches.some((b) => b.worker_id === n1.workerId || b.worker_id === n2.workerId)).toBe(
      true,
    );
  }, 120_000);

  /** The job's lock row in the store (plan and finalize hold it). */
  async function jobLock(
    jobId: string,
  ): Promise<{ status: string; lock_owner: string | null; lock_kind: string | null }> {
    const { rows } = await pg.query(
      `SELECT status, lock_owner, lock_kind FROM "${cluster.schema}".jobs WHERE id = $1`,
      [jobId],
    );
    return rows[0];
  }

  /** Stops every worker gracefully, then starts one whose job-lock lease outlasts the others' queue lock. */
  async function loneLongLeaseWorker(): Promise<Proc> {
    const live = cluster.workers.filter((w) => w.alive);
    for (const w of live) w.child.kill('SIGTERM');
    for (const w of live) expect((await w.exited).code).toBe(0);
    // As with the defaults (lease 60 s, queue lock 30 s): its tasks are redelivered before its job lock expires.
    return cluster.startWorker(WORKER_CONCURRENCY, { FREIGHT_LEASE_MS: '6000' });
  }

  it.each([
    ['planning', 'plan', { batch_size: 500 }],
    ['finalizing', 'finalize', {}],
  ] as const)(
    'g/h. a worker killed while %s (holding the job lock): a new worker takes the step over once the lock expires, and the job completes exactly',
    async (_what, kind, options) => {
      const victim = await loneLongLeaseWorker();
      const { jobId, schema } = await createJob(`lock_${kind}`, options);
      const holdsLock = async () => {
        const lock = await jobLock(jobId);
        if (['completed', 'failed', 'completed_with_errors'].includes(lock.status))
          throw new Error(
            `job ${jobId} ended (${lock.status}) before the ${kind} step could be caught`,
          );
        if (lock.lock_kind !== kind || !lock.lock_owner?.startsWith(victim.workerId)) return false;
        if (kind === 'plan') {
          // Past preparing the tables: batches are being cut.
          const { rows } = await pg.query(
            `SELECT count(*)::int AS n FROM "${cluster.schema}".batches WHERE job_id = $1`,
            [jobId],
          );
          return rows[0].n > 0;
        }
        return true;
      };
      await freezeAt(
        [victim],
        () => waitFor(holdsLock, 60_000, `the victim to hold the ${kind} lock`, 5),
        holdsLock,
      );
      victim.child.kill('SIGKILL');
      await victim.exited;
      const held = await jobLock(jobId);
      expect(held).toMatchObject({ status: 'running', lock_kind: kind });

      await twoWorkers();
      await expectExactCopy(
        jobId,
        schema,
        (options as { batch_size?: number }).batch_size ?? BATCH,
      );
    },
    120_000,
  );
});
