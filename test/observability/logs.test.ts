import { spawn, spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { BIN, REPO } from '../helpers/cli.js';
import { createPgSchema, tempDir } from '../helpers/databases.js';
import { hasService, SERVICES } from '../helpers/services.js';
import { client, listen, waitFor, waitForJob, type Client } from './harness.js';

/**
 * Structured logs: a server's pino output captured line by line while it serves requests and
 * runs jobs. Every line is JSON; request lines carry the request id (the caller's X-Request-ID
 * when it sends a sane one) and the tenant; job lines the job id and tenant, batch lines the
 * batch id; no credential ever appears. In a terminal `freight serve` logs in pretty form instead.
 */

const pgUp = await hasService('postgres');
const mysqlUp = await hasService('mysql');

const PASSWORD = 'Pl4nted-Pw-obs-77';
const MYSQL_PASSWORD = 'Pl4nted-My-obs-88';

describe('structured JSON logs of a server run', () => {
  const skip = !pgUp;
  const files = tempDir();
  const source = files.file('items.db');
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  const lines = () =>
    text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, any>);
  let api: TestApi;
  let call: Client;
  let base = '';
  let target: Awaited<ReturnType<typeof createPgSchema>>;
  let tenant: Awaited<ReturnType<TestApi['tenant']>>;
  let job: any;

  beforeAll(async () => {
    if (skip) return;
    const db = new Database(source);
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
    const insert = db.prepare('INSERT INTO items VALUES (?, ?)');
    // Row 42 has a NUL byte PostgreSQL refuses: its batch ends failed, with a warning line.
    db.transaction(() => {
      for (let i = 1; i <= 500; i++) insert.run(i, i === 42 ? 'bad\u0000' : `item ${i}`);
    })();
    db.close();
    api = await startTestApi('sqlite', { log: { level: 'debug', stream } });
    base = await listen(api.proc);
    call = client(base);
    target = await createPgSchema('flogs');
    tenant = await api.tenant();
    // PostgreSQL here trusts local connections, so the planted password is accepted, carried and must never show.
    const { host, port, user, database } = SERVICES.postgres;
    const created = await call('POST', '/api/v1/jobs', {
      key: tenant.keys.engineer,
      tenant: tenant.id,
      body: {
        source_config: `sqlite:${source}`,
        target_config: `postgresql://${user}:${PASSWORD}@${host}:${port}/${database}?schema=${target.name}`,
        batch_size: 100,
      },
    });
    expect(created.status, created.text).toBe(201);
    job = await waitForJob(call, tenant.keys.viewer, tenant.id, created.json.job_id);
  });
  afterAll(async () => {
    if (skip) return;
    await api.close();
    await target.drop();
    files.remove();
  });

  it.skipIf(skip)('every line is a JSON object with a level, time and message', () => {
    const all = lines();
    expect(all.length).toBeGreaterThan(20);
    for (const l of all) {
      expect(typeof l.level).toBe('number');
      expect(typeof l.time).toBe('number');
      expect(typeof l.msg).toBe('string');
    }
  });

  it.skipIf(skip)(
    "request lines carry the request id (the caller's own when sane) and the tenant",
    async () => {
      const r = await fetch(`${base}/api/v1/jobs/${job.job_id}`, {
        headers: {
          authorization: `Bearer ${tenant.keys.viewer}`,
          'x-tenant-id': tenant.id,
          'x-request-id': 'obs-req-000123',
        },
      });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-request-id')).toBe('obs-req-000123');
      await r.text();
      const mine = await waitFor(
        () => {
          const found = lines().filter((l) => l.request_id === 'obs-req-000123');
          return found.some((l) => l.msg === 'request completed') ? found : null;
        },
        5000,
        'the request lines',
      );
      expect(mine.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
      const completed = mine[1]!;
      expect(completed).toMatchObject({ tenant_id: tenant.id, res: { statusCode: 200 } });
      expect(typeof completed.responseTime).toBe('number');
      expect(mine[0]!.req).toMatchObject({ method: 'GET', url: `/api/v1/jobs/${job.job_id}` });

      // Every request line has an id; every completed request after authorization names its tenant.
      const requestLines = lines().filter(
        (l) => l.msg === 'incoming request' || l.msg === 'request completed',
      );
      expect(requestLines.length).toBeGreaterThan(4);
      for (const l of requestLines) expect(l.request_id).toEqual(expect.any(String));
      const tenantCompleted = lines().filter(
        (l) =>
          l.msg === 'request completed' && l.res?.statusCode < 400 && l.tenant_id === tenant.id,
      );
      // The job creation and the polling reads.
      expect(tenantCompleted.length).toBeGreaterThanOrEqual(2);

      // A sent id that is not sane is replaced, never echoed.
      const odd = await fetch(`${base}/health`, {
        headers: { 'x-request-id': 'bad id\twith tab' },
      });
      expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      await odd.text();
    },
  );

  it.skipIf(skip)(
    'job lines carry the job id and tenant; batch lines the batch id, one per batch',
    async () => {
      expect(job.status).toBe('completed_with_errors');
      const jobLines = lines().filter((l) => l.job_id === job.job_id);
      expect(jobLines.length).toBeGreaterThan(10);
      for (const l of jobLines) expect(l.tenant_id, JSON.stringify(l)).toBe(tenant.id);
      expect(jobLines.filter((l) => l.status).map((l) => l.status)).toEqual(
        expect.arrayContaining(['planning', 'running', 'completed_with_errors']),
      );

      const batches = await call('GET', `/api/v1/jobs/${job.job_id}/batches?limit=100`, {
        key: tenant.keys.viewer,
        tenant: tenant.id,
      });
      const ids = batches.json.batches
        .map((b: any) => b.batch_id)
        .sort((a: number, b: number) => a - b);
      expect(ids).toHaveLength(5);
      const batchLines = jobLines.filter((l) => l.batch_id !== undefined);
      expect(batchLines.map((l) => l.batch_id).sort((a, b) => a - b)).toEqual(ids);
      for (const l of batchLines) expect(l.table).toBe('items');
      // The failed batch is a warning with its error; the others are debug lines with their rows and duration.
      const failed = batchLines.filter((l) => l.level === 40);
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ msg: 'batch failed', rows_failed: 1 });
      for (const l of batchLines.filter((x) => x.level === 20))
        expect(l).toMatchObject({
          msg: 'batch succeeded',
          rows: 100,
          duration_ms: expect.any(Number),
        });
    },
  );

  it.skipIf(skip || !mysqlUp)(
    'no credential appears in any line: passwords of connections (also in errors), API keys, Authorization headers',
    async () => {
      // A connection refused for its password: the job fails, and its error is logged.
      const { host, port } = SERVICES.mysql;
      const refused = await call('POST', '/api/v1/jobs', {
        key: tenant.keys.engineer,
        tenant: tenant.id,
        body: {
          source_config: `mysql://root:${MYSQL_PASSWORD}@${host}:${port}/mysql`,
          target_config: `sqlite:${files.file('never.db')}`,
          max_retries: 0,
        },
      });
      expect(refused.status, refused.text).toBe(201);
      const failed = await waitForJob(call, tenant.keys.viewer, tenant.id, refused.json.job_id);
      expect(failed.status).toBe('failed');
      await waitFor(
        () => lines().some((l) => l.job_id === refused.json.job_id && l.status === 'failed'),
        5000,
        'the failed job line',
      );

      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(MYSQL_PASSWORD);
      for (const key of Object.values(tenant.keys)) expect(text).not.toContain(key.slice(-20));
      expect(text).not.toContain(api.adminKey.slice(-20));
      expect(text.toLowerCase()).not.toContain('bearer ');
      expect(text).not.toContain('test-secret-key-0123456789abcdef');
    },
  );
});

describe('`freight serve` in a terminal logs in pretty form', () => {
  // util-linux `script` gives the child a pseudo-terminal (its output comes back on our stdout).
  const skip = spawnSync('script', ['--version']).status !== 0;

  it.skipIf(skip)('under a pseudo-terminal the lines are human-readable, not JSON', async () => {
    const home = tempDir();
    const child = spawn(
      'script',
      ['-qfec', `${process.execPath} ${BIN} serve --no-worker`, '/dev/null'],
      {
        cwd: REPO,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          FREIGHT_HOME: home.dir,
          PORT: '0',
          HOST: '127.0.0.1',
          TERM: 'dumb',
        },
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const m = await waitFor(
        () => /API on (http:\/\/[^\s(]+)/.exec(out),
        20_000,
        `freight serve to listen:\n${out}`,
      );
      const res = await fetch(`${m[1]}/health`, { headers: { 'x-request-id': 'pretty-req-0001' } });
      await res.text();
      await waitFor(() => /request completed/.test(out), 10_000, `a request line:\n${out}`);
      // eslint-disable-next-line no-control-regex
      const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
      expect(out, 'coloured for the terminal').toContain('\x1b[');
      // pino-pretty: "[time] INFO (freight-api/pid): request completed", then the fields on indented lines.
      const line = plain.split(/\r?\n/).find((l) => l.includes('request completed'))!;
      expect(line).toMatch(/^\[[^\]]+\] INFO \(freight-api\/\d+\): request completed$/);
      expect(plain).toMatch(/request completed\r?\n {4}request_id: "pretty-req-0001"/);
      for (const l of plain.split(/\r?\n/).filter((x) => /^\[\d/.test(x)))
        expect(() => JSON.parse(l)).toThrow();
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      home.remove();
    }
  });
});
