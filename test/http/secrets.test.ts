import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS } from '../../src/operations/index.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { createMysqlDatabase, createPgSchema, uniqueName } from '../helpers/databases.js';
import { forbiddenForms, expectNoSecret } from '../helpers/secrets.js';
import { hasService } from '../helpers/services.js';
import { dumpStore } from '../helpers/store-dump.js';
import { STORE_KINDS } from '../helpers/stores.js';

/**
 * Source/target credentials are encrypted at rest and never returned by any API, log or export
 * (DESIGN.md §6). This plants distinctive passwords in jobs' configs — object and URL forms, jobs
 * that succeed and jobs that fail on the password — then reads everything back through every read
 * route, every export format and the server's own log, and looks for them everywhere.
 */

const up = (await hasService('postgres')) && (await hasService('mysql'));

const PASSWORD = 'Pl4nted-S3cr3t-zq9';
/** A second one with URL-special characters, planted percent-encoded in URL-form configs. */
const PASSWORD2 = 'Pl4nted/S3cr3t:@%zq8';
/** Both, as they are, percent-encoded, base64/base64url/hex — and any fragment of either. */
const FORBIDDEN = forbiddenForms([PASSWORD, PASSWORD2], ['S3cr3t']);

/** A webhook URL's token (in the path, as Slack incoming-webhook URLs carry it): never shown back or logged. */
const HOOK_TOKEN = 'H00k-T0ken-zq6';

function expectClean(
  text: string,
  where: string,
  forbidden: readonly string[] = [...FORBIDDEN, HOOK_TOKEN],
): void {
  expectNoSecret(text, where, forbidden);
}

describe.each(STORE_KINDS)('planted passwords on the %s store', (kind) => {
  let api: TestApi;
  let mysql: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let pg: Awaited<ReturnType<typeof createPgSchema>>;
  let tenant: Awaited<ReturnType<TestApi['tenant']>>;
  const user = uniqueName('fz');
  const logLines: string[] = [];
  /** Every response the test receives: status, headers and body. */
  const seen: Array<{ what: string; text: string }> = [];
  const jobs: Record<string, string> = {};
  let webhookId = '';

  const capture = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });

  async function call(method: string, url: string, o: Parameters<TestApi['request']>[2] = {}) {
    const r = await api.request(method, url, o);
    seen.push({
      what: `${method} ${url} → ${r.statusCode}`,
      text: `${JSON.stringify(r.headers)}\n${r.body}`,
    });
    return r;
  }
  async function get(url: string) {
    const r = await api.app.inject({ method: 'GET', url });
    seen.push({
      what: `GET ${url} → ${r.statusCode}`,
      text: `${JSON.stringify(r.headers)}\n${r.body}`,
    });
    return r;
  }
  const eng = () => ({ key: tenant.keys.engineer, tenant: tenant.id });
  const pgUrl = (password: string, port = 5432) =>
    `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/test?schema=${pg.name}`;

  beforeAll(async () => {
    if (!up) return;
    api = await startTestApi(kind, { log: { level: 'trace', stream: capture } });
    mysql = await createMysqlDatabase('fzsec');
    pg = await createPgSchema('fzsec');
    tenant = await api.tenant();
    // A MariaDB account whose password is the planted one.
    for (const host of ['%', 'localhost', '127.0.0.1']) {
      await mysql.query(`CREATE USER ?@? IDENTIFIED BY ?`, [user, host, PASSWORD]);
      await mysql.query(`GRANT SELECT, SHOW VIEW ON \`${mysql.name}\`.* TO ?@?`, [user, host]);
    }
    // A webhook whose URL carries a token, told about every outcome (its receiver is a closed port).
    const hook = await api.request('POST', '/api/v1/webhooks', {
      key: tenant.keys.engineer,
      tenant: tenant.id,
      body: { url: `http://127.0.0.1:9/services/T0000/B0000/${HOOK_TOKEN}`, kind: 'generic' },
    });
    expect(hook.statusCode, hook.body).toBe(201);
    webhookId = hook.json().webhook_id;
    seen.push({
      what: 'create_webhook',
      text: hook.body.replace(hook.json().signing_secret, '<signing secret>'),
    });
    // Credentials as user:password@ cannot be sent by fetch (and its refusal quotes the URL): refused at once, without echoing them.
    const withUserInfo = await call('POST', '/api/v1/webhooks', {
      key: tenant.keys.engineer,
      tenant: tenant.id,
      body: { url: `http://hookuser:${HOOK_TOKEN}@127.0.0.1:9/hook`, kind: 'generic' },
    });
    expect(withUserInfo.statusCode, withUserInfo.body).toBe(400);
    expect(withUserInfo.json().error).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'url' },
    });
    await mysql.query(`CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)`);
    await mysql.query(`INSERT INTO notes SELECT seq, CONCAT('note ', seq) FROM seq_1_to_250`);
    await mysql.query(`UPDATE notes SET body = CONCAT('bad', CHAR(0), 'byte') WHERE id = 77`);
    await mysql.query(`CREATE TABLE tags (k VARCHAR(20) PRIMARY KEY, v INT)`);
    await mysql.query(`INSERT INTO tags VALUES ('alpha', 1), ('beta', 2), ('gamma', 3)`);
  });

  afterAll(async () => {
    if (!up) return;
    await api?.close();
    for (const host of ['%', 'localhost', '127.0.0.1'])
      await mysql?.query(`DROP USER IF EXISTS ?@?`, [user, host]).catch(() => {});
    await mysql?.drop();
    await pg?.drop();
  });

  it.skipIf(!up)(
    'creates jobs with the password in object and URL configs; the ones that succeed succeed, the ones that fail say why without it',
    async () => {
      const mysqlObject = (password: string, u = user) => ({
        type: 'mysql',
        host: '127.0.0.1',
        port: 3306,
        database: mysql.name,
        user: u,
        password,
      });
      const bodies: Record<string, unknown> = {
        // The right password: copies, with one bad record isolated and logged.
        objectToUrl: {
          source_config: mysqlObject(PASSWORD),
          target_config: pgUrl(PASSWORD),
          tables: ['notes'],
          batch_size: 50,
          audit_level: 'records',
        },
        urlToObject: {
          source_config: `mysql://${user}:${encodeURIComponent(PASSWORD)}@127.0.0.1:3306/${mysql.name}`,
          target_config: {
            type: 'postgresql',
            host: '127.0.0.1',
            port: 5432,
            database: 'test',
            user: 'postgres',
            password: PASSWORD,
            schema: pg.name,
          },
          tables: ['tags'],
        },
        // Wrong passwords: the job ends failed with AUTH_FAILED.
        rootWithPassword2: {
          source_config: `mysql://root:${encodeURIComponent(PASSWORD2)}@127.0.0.1:3306/${mysql.name}`,
          target_config: pgUrl(PASSWORD2),
          max_retries: 0,
        },
        userWithPassword2: {
          source_config: mysqlObject(PASSWORD2),
          target_config: pgUrl(PASSWORD),
          max_retries: 0,
        },
        // An unreachable target with the password in its URL.
        unreachableTarget: {
          source_config: mysqlObject(PASSWORD),
          target_config: pgUrl(PASSWORD, 1),
          tables: ['tags'],
          max_retries: 0,
        },
      };
      for (const [name, body] of Object.entries(bodies)) {
        const r = await call('POST', '/api/v1/jobs', { ...eng(), body });
        expect(r.statusCode, `${name}: ${r.body}`).toBe(201);
        jobs[name] = r.json().job_id;
        expect(r.json().source).not.toContain('********'); // described, not masked: no password field at all
      }
      const done: Record<
        string,
        { status: string; error: { code: string; message: string } | null }
      > = {};
      for (const [name, id] of Object.entries(jobs))
        done[name] = await api.waitForJob(tenant.id, tenant.keys.viewer, id);
      expect(done.objectToUrl!.status).toBe('completed_with_errors');
      expect(done.urlToObject!.status).toBe('completed');
      for (const name of ['rootWithPassword2', 'userWithPassword2']) {
        expect(done[name]!.status).toBe('failed');
        expect(done[name]!.error).toMatchObject({
          code: 'AUTH_FAILED',
          message: expect.stringMatching(/access denied/i),
        });
        expectClean(done[name]!.error!.message, `${name} error message`);
      }
      expect(done.unreachableTarget!.status).toBe('failed');
      expect(done.unreachableTarget!.error).toMatchObject({ code: 'CONNECTION_FAILED' });
      expect(done.unreachableTarget!.error!.message).toContain('127.0.0.1:1');
      const copied = await pg.query(`SELECT count(*)::int AS n FROM "${pg.name}".notes`);
      expect(copied.rows[0].n).toBe(249);

      // A failed job retried fails again the same way; it is the one that exercised the password twice.
      const retried = await call('POST', `/api/v1/jobs/${jobs.userWithPassword2}/retry`, {
        ...eng(),
        body: {},
      });
      expect(retried.statusCode, retried.body).toBe(202);
      expect(
        (await api.waitForJob(tenant.id, tenant.keys.viewer, jobs.userWithPassword2!)).error.code,
      ).toBe('AUTH_FAILED');
    },
  );

  it.skipIf(!up)(
    'rejects bad configs that carry the password without echoing it: validation errors and validate=true',
    async () => {
      const target = pgUrl(PASSWORD);
      const bad: unknown[] = [
        {
          source_config: {
            type: 'mysql',
            host: '127.0.0.1',
            port: 99999,
            database: 'd',
            user: 'u',
            password: PASSWORD,
          },
          target_config: target,
        },
        {
          source_config: {
            type: 'mysql',
            host: '127.0.0.1',
            database: 'd',
            user: 'u',
            passwd: PASSWORD,
          },
          target_config: target,
        },
        {
          source_config: { type: 'mysql', host: '127.0.0.1', user: 'u', password: PASSWORD },
          target_config: target,
        },
        {
          source_config: {
            type: 'oracle',
            host: '127.0.0.1',
            database: 'd',
            user: 'u',
            password: PASSWORD,
          },
          target_config: target,
        },
        {
          source_config: {
            type: 'mysql',
            host: '127.0.0.1',
            database: 'd',
            user: 'u',
            password: PASSWORD.repeat(80),
          },
          target_config: target,
        },
        { source_config: `mysql://root:${PASSWORD}@127.0.0.1:99999/db`, target_config: target },
        { source_config: `oracle://root:${PASSWORD}@127.0.0.1/db`, target_config: target },
        { source_config: PASSWORD, target_config: target },
        {
          source_config: `mysql://root:${encodeURIComponent(PASSWORD2)}@127.0.0.1:3306/x`,
          target_config: `csv:/tmp/${PASSWORD}`,
        },
        {
          source_config: `mysql://root@127.0.0.1:3306/x`,
          target_config: target,
          batch_size: PASSWORD,
        },
        `{"source_config": "mysql://root:${PASSWORD}@h/db", `,
      ];
      for (const body of bad) {
        const r = await call('POST', '/api/v1/jobs', { ...eng(), body });
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json().error.code).toMatch(
          /VALIDATION_FAILED|BAD_REQUEST|CONNECTION_CONFIG_INVALID/,
        );
      }
      // validate=true contacts the databases and answers 400 with the reason — without the password.
      for (const source of [
        {
          type: 'mysql',
          host: '127.0.0.1',
          port: 3306,
          database: mysql.name,
          user,
          password: PASSWORD2,
        },
        `mysql://root:${encodeURIComponent(PASSWORD2)}@127.0.0.1:3306/${mysql.name}`,
      ]) {
        const r = await call('POST', '/api/v1/jobs', {
          ...eng(),
          body: { source_config: source, target_config: target, validate: true },
        });
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json().error).toMatchObject({
          code: 'AUTH_FAILED',
          details: { field: 'source_config' },
        });
      }
      const ok = await call('POST', '/api/v1/jobs', {
        ...eng(),
        body: {
          source_config: {
            type: 'mysql',
            host: '127.0.0.1',
            database: mysql.name,
            user,
            password: PASSWORD,
          },
          target_config: pgUrl(PASSWORD, 1),
          tables: ['tags'],
          validate: true,
        },
      });
      expect(ok.statusCode).toBe(400);
      expect(ok.json().error).toMatchObject({
        code: 'CONNECTION_FAILED',
        details: { field: 'target_config' },
      });
    },
  );

  it.skipIf(!up)(
    'every read route, every export file, the audit trail and the OpenAPI document are free of the passwords',
    async () => {
      const ids = Object.values(jobs);
      expect(ids.length).toBeGreaterThanOrEqual(5);
      // The webhook has tried to deliver the outcomes (and failed: its receiver is a closed port).
      let attempted = 0;
      for (let i = 0; i < 50 && attempted < ids.length; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        const d = (
          await api.request('GET', `/api/v1/webhooks/${webhookId}/deliveries`, {
            key: tenant.keys.viewer,
            tenant: tenant.id,
          })
        ).json();
        attempted = d.deliveries.filter(
          (x: { attempts: number; last_error: string | null }) => x.attempts > 0 && x.last_error,
        ).length;
      }
      expect(attempted).toBeGreaterThanOrEqual(ids.length);
      let reads = 0;
      for (const op of OPERATIONS.filter((o) => o.method === 'GET')) {
        const key = op.role === 'admin' ? api.adminKey : tenant.keys.engineer;
        const header = op.tenantScoped ? tenant.id : null;
        const queries =
          op.id === 'get_migration_logs' || op.id === 'list_job_batches'
            ? ['?limit=500', '?status=failed&limit=500']
            : op.id === 'list_audit_events'
              ? ['?limit=500', `?tenant_id=${tenant.id}&limit=500`]
              : [''];
        const params = [...op.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]!);
        const unknown = params.filter((p) => p !== 'job_id' && p !== 'webhook_id');
        expect(
          unknown,
          `${op.id}: the read walk cannot fill path parameter(s) ${unknown.join(', ')} — plant such a resource and add it here`,
        ).toEqual([]);
        for (const jobId of params.includes('job_id') ? ids : [null]) {
          for (const q of queries) {
            const url = `${op.path.replace('{job_id}', jobId ?? '').replace('{webhook_id}', webhookId)}${q}`;
            const r = await call('GET', url, { key, tenant: header });
            expect(r.statusCode, `${op.id} ${url}: ${r.body.slice(0, 300)}`).toBe(200);
            reads++;
          }
        }
      }
      expect(reads).toBeGreaterThan(30);
      // The failed record of the first job is in its logs, with PostgreSQL's message.
      const failed = await call('GET', `/api/v1/jobs/${jobs.objectToUrl}/logs?status=failed`, {
        key: tenant.keys.viewer,
        tenant: tenant.id,
      });
      expect(failed.json().logs).toEqual([
        expect.objectContaining({
          record_id: '77',
          error_code: 'DATA_ERROR',
          error_message: expect.any(String),
        }),
      ]);

      // Export files in every format, for every job.
      let files = 0;
      for (const jobId of ids) {
        for (const format of ['csv', 'json', 'jsonl']) {
          const link = await call('GET', `/api/v1/logs/export/${jobId}?format=${format}`, {
            key: tenant.keys.engineer,
            tenant: tenant.id,
          });
          expect(link.statusCode).toBe(200);
          const file = await get(new URL(link.json().export_url).pathname);
          expect(file.statusCode).toBe(200);
          files++;
        }
      }
      expect(files).toBe(ids.length * 3);
      const platform = await call('GET', '/api/v1/stats/tenants', { key: api.adminKey });
      expect(platform.statusCode).toBe(200);
      for (const url of ['/openapi.json', '/docs', '/health'])
        expect((await get(url)).statusCode).toBe(200);

      for (const { what, text } of seen) expectClean(text, `response ${what}`);
      expect(seen.length).toBeGreaterThan(60);
    },
  );

  it.skipIf(!up)(
    'the process log (trace level, every line: requests and job events) holds no password',
    () => {
      expect(logLines.length).toBeGreaterThan(100);
      // The capture is real: the log has the requests this test made.
      expect(
        logLines.some((l) => l.includes('/api/v1/jobs') && l.includes('incoming request')),
      ).toBe(true);
      // …and the worker's job events: the jobs that failed on the password are in it.
      for (const name of ['rootWithPassword2', 'userWithPassword2'])
        expect(
          logLines.some((l) => l.includes(`"job_id":"${jobs[name]}"`)),
          `log lines of job ${name}`,
        ).toBe(true);
      for (const line of logLines) expectClean(line, 'server log line');
    },
  );

  it.skipIf(!up)(
    'the metadata store holds the configs encrypted: the password is in no row of any table (nor, for SQLite, anywhere in the file)',
    async () => {
      const { rows, raw } = await dumpStore(api.proc.services.config);
      expect(Object.keys(rows)).toEqual(
        expect.arrayContaining(['jobs', 'batches', 'record_logs', 'audit_events', 'api_keys']),
      );
      expect(rows.jobs!.length).toBeGreaterThanOrEqual(5);
      for (const row of rows.jobs!) {
        const job = JSON.parse(row) as Record<string, string>;
        expect(job.source_config).toMatch(/^v1:[0-9a-f]{8}:/);
        expect(job.target_config).toMatch(/^v1:[0-9a-f]{8}:/);
      }
      // (The webhook URL is kept as given — it is not a database credential — so only the passwords are looked for here.)
      for (const [table, lines] of Object.entries(rows))
        for (const line of lines) expectClean(line, `store table ${table}`, FORBIDDEN);
      if (kind === 'sqlite') {
        expect(raw.length).toBeGreaterThan(10_000);
        expectClean(raw, 'the SQLite store file', FORBIDDEN);
      }
      // And the store can still open them: the encrypted config round-trips to the planted password.
      const job = await api.proc.services.store.getJobWithSecrets(jobs.objectToUrl!);
      expect(job?.source).toMatchObject({ type: 'mysql', user, password: PASSWORD });
    },
  );
});
