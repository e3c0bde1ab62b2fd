import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSampleDatabase } from '../../src/connectors/sqlite/sqlite-sample.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { createMysqlDatabase, createPgSchema, tempDir } from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';
import { STORE_KINDS } from '../helpers/stores.js';

const pgUp = await hasService('postgres');
const mysqlUp = await hasService('mysql');

describe.each(STORE_KINDS)('jobs API on the %s store', (kind) => {
  const skip = !pgUp || (kind === 'postgresql' && !pgUp);
  let api: TestApi;
  let pg: Awaited<ReturnType<typeof createPgSchema>>;
  let tenant: Awaited<ReturnType<TestApi['tenant']>>;
  const files = tempDir();
  const sample = files.file('shop.db');

  beforeAll(async () => {
    if (skip) return;
    api = await startTestApi(kind);
    pg = await createPgSchema();
    tenant = await api.tenant();
    createSampleDatabase(sample, 0.02);
  });
  afterAll(async () => {
    if (skip) return;
    await api.close();
    await pg.drop();
    files.remove();
  });

  const as = (role: 'viewer' | 'engineer' | 'admin') => ({
    key: tenant.keys[role],
    tenant: tenant.id,
  });

  it.skipIf(skip)(
    'creates a job (201), runs it with the worker, and reports it completed with per-table progress',
    async () => {
      const created = await api.request('POST', '/api/v1/jobs', {
        ...as('engineer'),
        body: {
          source_config: `sqlite:${sample}`,
          target_config: {
            type: 'postgresql',
            host: '127.0.0.1',
            port: 5432,
            database: 'test',
            user: 'postgres',
            schema: pg.name,
          },
          batch_size: 500,
          started_by: 'api-test',
          verify: 'checksum',
        },
      });
      expect(created.statusCode, created.body).toBe(201);
      const job = created.json();
      expect(job).toMatchObject({
        status: 'pending',
        tenant_id: tenant.id,
        started_by: 'api-test',
        options: { batch_size: 500, max_retries: 3 },
      });
      expect(created.headers['x-request-id']).toBeTruthy();

      const done = await api.waitForJob(tenant.id, tenant.keys.viewer, job.job_id);
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
      expect(done.progress).toMatchObject({ planning_done: true, percent: 100, rows_failed: 0 });
      expect(done.tables.map((t: { table: string }) => t.table).sort()).toEqual([
        'audit_log',
        'customers',
        'order_items',
        'orders',
        'products',
      ]);
      for (const t of done.tables)
        expect(t).toMatchObject({ validation: 'passed', status: 'finalized' });
      const orders = await pg.query(`SELECT count(*)::int AS n FROM "${pg.name}".orders`);
      expect(orders.rows[0].n).toBe(
        done.tables.find((t: { table: string }) => t.table === 'orders').rows_written,
      );

      const progress = await api.request(
        'GET',
        `/api/v1/jobs/${job.job_id}/progress`,
        as('viewer'),
      );
      expect(progress.json().tables).toHaveLength(5);
      const list = await api.request('GET', '/api/v1/jobs?status=completed&limit=5', as('viewer'));
      expect(list.json().jobs.map((j: { job_id: string }) => j.job_id)).toContain(job.job_id);
      const batches = await api.request(
        'GET',
        `/api/v1/jobs/${job.job_id}/batches?status=succeeded&limit=3`,
        as('viewer'),
      );
      expect(batches.json()).toMatchObject({
        total: done.progress.batches.total,
        limit: 3,
        next_offset: 3,
      });
      const logs = await api.request(
        'GET',
        `/api/v1/jobs/${job.job_id}/logs?limit=2`,
        as('viewer'),
      );
      expect(logs.json().logs).toHaveLength(2);
      expect(logs.json().logs[0].log_id).toBeGreaterThan(logs.json().logs[1].log_id);
      const next = await api.request(
        'GET',
        `/api/v1/jobs/${job.job_id}/logs?limit=2&cursor=${logs.json().next_cursor}`,
        as('viewer'),
      );
      expect(next.json().logs[0].log_id).toBeLessThan(logs.json().logs[1].log_id);
    },
  );

  it.skipIf(skip)('rejects bad bodies with 400 naming the field, and unknown fields', async () => {
    const target = `postgresql://postgres@127.0.0.1:5432/test?schema=${pg.name}`;
    const cases: Array<[unknown, RegExp]> = [
      [{ source_config: `sqlite:${sample}`, target_config: target, batch_size: 0 }, /batch_size/],
      [{ source_config: `sqlite:${sample}`, target_config: target, colour: 'blue' }, /colour/],
      [{ target_config: target }, /source_config/],
      [{ source_config: { type: 'oracle', host: 'x' }, target_config: target }, /source_config/],
      [
        {
          source_config: { type: 'mysql', host: 'h', database: 'd', user: 'u', port: 99999 },
          target_config: target,
        },
        /source_config/,
      ],
      [{ source_config: `sqlite:${sample}`, target_config: `csv:/tmp/out` }, /target_config/],
      [
        {
          source_config: `sqlite:${sample}`,
          target_config: target,
          tables: ['ok', 'bad\u0001name'],
        },
        /tables/,
      ],
    ];
    for (const [body, field] of cases) {
      const r = await api.request('POST', '/api/v1/jobs', { ...as('engineer'), body });
      expect(r.statusCode, r.body).toBe(400);
      expect(r.json()).toMatchObject({
        error: { code: expect.stringMatching(/VALIDATION_FAILED|CONNECTION_CONFIG_INVALID/) },
        request_id: expect.any(String),
      });
      expect(JSON.stringify(r.json().error)).toMatch(field);
    }
    const notJson = await api.request('POST', '/api/v1/jobs', {
      ...as('engineer'),
      body: '{"source_config": ',
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error.code).toBe('BAD_REQUEST');
  });

  it.skipIf(skip)(
    'creates a job whose source is unreachable and it ends failed with the reason; validate=true answers 400 at once',
    async () => {
      const body = {
        source_config: { type: 'mysql', host: '127.0.0.1', port: 1, database: 'x', user: 'root' },
        target_config: `postgresql://postgres@127.0.0.1:5432/test?schema=${pg.name}`,
        max_retries: 0,
      };
      const created = await api.request('POST', '/api/v1/jobs', { ...as('engineer'), body });
      expect(created.statusCode).toBe(201);
      const done = await api.waitForJob(tenant.id, tenant.keys.viewer, created.json().job_id);
      expect(done.status).toBe('failed');
      expect(done.error).toMatchObject({
        code: 'CONNECTION_FAILED',
        message: expect.stringContaining('ECONNREFUSED'),
      });
      const validated = await api.request('POST', '/api/v1/jobs', {
        ...as('engineer'),
        body: { ...body, validate: true },
      });
      expect(validated.statusCode).toBe(400);
      expect(validated.json().error).toMatchObject({
        code: 'CONNECTION_FAILED',
        details: { field: 'source_config' },
      });
    },
  );

  it.skipIf(skip || !mysqlUp)(
    'isolates a bad record, exports the logs by a signed link, and retries the failed batch once the data is fixed',
    async () => {
      const mysql = await createMysqlDatabase();
      try {
        await mysql.query(`CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)`);
        await mysql.query(`INSERT INTO notes SELECT seq, CONCAT('note ', seq) FROM seq_1_to_300`);
        await mysql.query(`UPDATE notes SET body = CONCAT('bad', CHAR(0), 'byte') WHERE id = 123`);
        const created = await api.request('POST', '/api/v1/jobs', {
          ...as('engineer'),
          body: {
            source_config: mysql.url,
            target_config: `postgresql://postgres@127.0.0.1:5432/test?schema=${pg.name}`,
            tables: ['notes'],
            batch_size: 100,
          },
        });
        const jobId = created.json().job_id;
        const done = await api.waitForJob(tenant.id, tenant.keys.viewer, jobId);
        expect(done.status).toBe('completed_with_errors');
        expect(done.failed_batches).toHaveLength(1);
        const failed = await api.request(
          'GET',
          `/api/v1/jobs/${jobId}/logs?status=failed`,
          as('viewer'),
        );
        expect(failed.json().logs).toEqual([
          expect.objectContaining({
            record_id: '123',
            status: 'failed',
            error_code: 'DATA_ERROR',
            scope: 'record',
          }),
        ]);

        const link = await api.request(
          'GET',
          `/api/v1/logs/export/${jobId}?format=csv`,
          as('engineer'),
        );
        expect(link.statusCode, link.body).toBe(200);
        const { export_url, records } = link.json();
        expect(records).toBeGreaterThan(1);
        const csv = await api.app.inject({ method: 'GET', url: new URL(export_url).pathname });
        expect(csv.statusCode).toBe(200);
        expect(csv.headers['content-type']).toContain('text/csv');
        const lines = csv.body.trim().split('\r\n');
        expect(lines[0]).toBe(
          'log_id,created_at,table,scope,record_id,status,error_code,error_message,retry_count,rows,batch_id',
        );
        expect(lines).toHaveLength(records + 1);
        for (const format of ['json', 'jsonl']) {
          const l = (
            await api.request(
              'GET',
              `/api/v1/logs/export/${jobId}?format=${format}&status=failed`,
              as('engineer'),
            )
          ).json();
          const file = await api.app.inject({ method: 'GET', url: new URL(l.export_url).pathname });
          const items =
            format === 'json'
              ? JSON.parse(file.body)
              : file.body
                  .trim()
                  .split('\n')
                  .map((x: string) => JSON.parse(x));
          expect(items).toEqual([expect.objectContaining({ record_id: '123', status: 'failed' })]);
        }
        const forged = await api.app.inject({
          method: 'GET',
          url: new URL(export_url).pathname.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
        });
        expect(forged.statusCode).toBe(404);
        expect(
          await api
            .request('GET', `/api/v1/logs/export/${jobId}`, as('viewer'))
            .then((r) => r.statusCode),
        ).toBe(403);

        const badIds = await api.request('POST', `/api/v1/jobs/${jobId}/retry`, {
          ...as('engineer'),
          body: { batch_ids: [999999] },
        });
        expect(badIds.statusCode).toBe(404);
        await mysql.query(`UPDATE notes SET body = 'fixed' WHERE id = 123`);
        const retried = await api.request('POST', `/api/v1/jobs/${jobId}/retry`, {
          ...as('engineer'),
          body: { batch_ids: [done.failed_batches[0].batch_id], max_retries: 5 },
        });
        expect(retried.statusCode, retried.body).toBe(202);
        expect(retried.json().retried_batches).toBe(1);
        const again = await api.waitForJob(tenant.id, tenant.keys.viewer, jobId);
        expect(again.status).toBe('completed');
        const count = await pg.query(
          `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${pg.name}".notes`,
        );
        expect(count.rows[0]).toEqual({ n: 300, d: 300 });
        const nothing = await api.request('POST', `/api/v1/jobs/${jobId}/retry`, {
          ...as('engineer'),
          body: {},
        });
        expect(nothing.statusCode).toBe(409);
      } finally {
        await mysql.drop();
      }
    },
  );

  it.skipIf(skip || !mysqlUp)(
    'cancels a running job gracefully (202 → cancelled) and answers 409 once it has finished',
    async () => {
      const mysql = await createMysqlDatabase();
      try {
        await mysql.query(`CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(20))`);
        await mysql.query(`INSERT INTO big SELECT seq, CONCAT('v', seq) FROM seq_1_to_60000`);
        const created = await api.request('POST', '/api/v1/jobs', {
          ...as('engineer'),
          body: {
            source_config: mysql.url,
            target_config: `postgresql://postgres@127.0.0.1:5432/test?schema=${pg.name}`,
            tables: ['big'],
            batch_size: 200,
            concurrency: 1,
          },
        });
        const jobId = created.json().job_id;
        await api.waitForJob(tenant.id, tenant.keys.viewer, jobId, (s) => s === 'running');
        const viewerCancel = await api.request('DELETE', `/api/v1/jobs/${jobId}`, as('viewer'));
        expect(viewerCancel.statusCode).toBe(403);
        const cancel = await api.request('DELETE', `/api/v1/jobs/${jobId}`, as('engineer'));
        expect(cancel.statusCode, cancel.body).toBe(202);
        expect(['cancelling', 'cancelled']).toContain(cancel.json().status);
        const done = await api.waitForJob(tenant.id, tenant.keys.viewer, jobId);
        expect(done.status).toBe('cancelled');
        expect(done.progress.batches.running).toBe(0);
        expect(done.progress.rows_written).toBeLessThan(60000);
        const again = await api.request('DELETE', `/api/v1/jobs/${jobId}`, as('engineer'));
        expect(again.statusCode).toBe(409);
        expect(again.json().error.code).toBe('CONFLICT');
        const resumed = await api.request('POST', `/api/v1/jobs/${jobId}/retry`, {
          ...as('engineer'),
          body: {},
        });
        expect(resumed.statusCode, resumed.body).toBe(202);
        const finished = await api.waitForJob(
          tenant.id,
          tenant.keys.viewer,
          jobId,
          undefined,
          120_000,
        );
        expect(finished.status).toBe('completed');
        const count = await pg.query(`SELECT count(*)::int AS n FROM "${pg.name}".big`);
        expect(count.rows[0].n).toBe(60000);
      } finally {
        await mysql.drop();
      }
    },
  );

  it.skipIf(skip)('reports statistics and worker status', async () => {
    const stats = await api.request('GET', '/api/v1/stats/jobs', as('viewer'));
    expect(stats.statusCode).toBe(200);
    expect(stats.json()).toMatchObject({
      tenant_id: tenant.id,
      total_jobs: expect.any(Number),
      records_processed: expect.any(Number),
    });
    expect(stats.json().jobs_by_status.completed).toBeGreaterThanOrEqual(1);
    const workers = await api.request('GET', '/api/v1/workers/status', as('viewer'));
    expect(workers.json()).toMatchObject({ workers_alive: 1, queue: { kind: 'in-process' } });
    expect(workers.json().workers[0]).toMatchObject({
      host: expect.any(String),
      pid: process.pid,
      concurrency: 4,
    });
    const platform = await api.request('GET', '/api/v1/stats/tenants', { key: api.adminKey });
    expect(platform.statusCode).toBe(200);
    expect(platform.json().tenants.map((t: { tenant_id: string }) => t.tenant_id)).toContain(
      tenant.id,
    );
    expect((await api.request('GET', '/api/v1/stats/tenants', as('engineer'))).statusCode).toBe(
      403,
    );
    const health = await api.request('GET', '/health', { key: null });
    expect(health.json()).toMatchObject({
      status: 'ok',
      checks: { store: { ok: true }, queue: { ok: true }, workers: { alive: 1 } },
    });
  });
});
