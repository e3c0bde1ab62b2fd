import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { OPERATIONS } from '../../src/operations/index.js';
import { openStore } from '../../src/store/open-store.js';
import {
  createMysqlDatabase,
  createPgSchema,
  PG_STORE_URL,
  tempDir,
  uniqueName,
  REDIS_URL,
} from '../helpers/databases.js';
import { connectHttp } from '../helpers/mcp.js';
import { expectNoSecret, forbiddenForms } from '../helpers/secrets.js';
import { hasService } from '../helpers/services.js';
import { dumpStore } from '../helpers/store-dump.js';
import { FreightProcess, freePort } from './processes.js';
import { eventually } from './support.js';

/**
 * Planted passwords in distributed mode (test/http/secrets.test.ts does the embedded mode): the
 * PostgreSQL store, BullMQ on Redis, `freight serve --no-worker` and two `freight worker`
 * processes. Jobs carry distinctive passwords — ones that work (PostgreSQL trusts any; a MariaDB
 * user made with it) and ones that fail (a wrong MariaDB password, an unreachable target) — and
 * then every channel is read and searched: REST reads, MCP tool results over /mcp, the SSE event
 * streams, log exports in every format, both processes' stdout/stderr, /metrics of each process,
 * the audit trail, webhook payloads received by a local receiver, the raw store, and every Redis
 * key and value under the queue's prefix plus the event channel's messages.
 */

const up =
  (await hasService('postgres')) && (await hasService('mysql')) && (await hasService('redis'));

const PASSWORD = 'Dist-Pl4nted-S3cr3t-zq3';
/** URL-special characters, planted percent-encoded in URL-form configs. */
const PASSWORD2 = 'Dist/Pl4nted:S3cr3t@%zq2';
const HOOK_TOKEN = 'Dist-H00k-T0ken-zq1';
const FORBIDDEN = forbiddenForms([PASSWORD, PASSWORD2], ['Pl4nted', 'S3cr3t']);
const SECRET_KEY = 'test-secret-key-distributed-sec-0123456789';

describe.skipIf(!up)(
  'planted passwords in distributed mode (PostgreSQL store, Redis queue, separate API and worker processes)',
  () => {
    const schema = uniqueName('fsecdist');
    const queueName = uniqueName('fsecdist-q');
    const adminKey = `test-admin-key-${uniqueName('sec')}`;
    const home = tempDir('freight-sec-dist-');
    const mysqlUser = uniqueName('fzd');
    let api: FreightProcess;
    const workers: FreightProcess[] = [];
    let base = '';
    let metricsPorts: number[] = [];
    let mysql: Awaited<ReturnType<typeof createMysqlDatabase>>;
    let target: Awaited<ReturnType<typeof createPgSchema>>;
    let tenant = { id: '', engineer: '', viewer: '' };
    let receiver: Server;
    const hooksReceived: Array<{ url: string; headers: string; body: string }> = [];
    let subscriber: Redis;
    const published: string[] = [];
    const jobs: Record<string, string> = {};
    const streams: Record<string, Promise<string>> = {};
    /** Everything read from any channel: where, and the text. */
    const seen: Array<{ where: string; text: string }> = [];

    async function http(
      method: string,
      url: string,
      o: { key?: string; tenant?: string; body?: unknown } = {},
    ) {
      const headers: Record<string, string> = { authorization: `Bearer ${o.key ?? adminKey}` };
      if (o.tenant) headers['x-tenant-id'] = o.tenant;
      if (o.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${base}${url}`, {
        method,
        headers,
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
      });
      const text = await res.text();
      seen.push({
        where: `${method} ${url} → ${res.status}`,
        text: `${JSON.stringify(Object.fromEntries(res.headers))}\n${text}`,
      });
      return {
        status: res.status,
        text,
        json: (() => {
          try {
            return JSON.parse(text);
          } catch {
            return null;
          }
        })(),
      };
    }
    const asEngineer = () => ({ key: tenant.engineer, tenant: tenant.id });

    beforeAll(async () => {
      if (!up) return;
      mysql = await createMysqlDatabase('fsecdist');
      target = await createPgSchema('fsecdistt');
      for (const host of ['%', 'localhost', '127.0.0.1']) {
        await mysql.query('CREATE USER ?@? IDENTIFIED BY ?', [mysqlUser, host, PASSWORD]);
        await mysql.query(`GRANT SELECT, SHOW VIEW ON \`${mysql.name}\`.* TO ?@?`, [
          mysqlUser,
          host,
        ]);
      }
      await mysql.query('CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)');
      await mysql.query(`INSERT INTO notes SELECT seq, CONCAT('note ', seq) FROM seq_1_to_300`);
      await mysql.query(`UPDATE notes SET body = CONCAT('bad', CHAR(0), 'byte') WHERE id = 77`);
      await mysql.query('CREATE TABLE tags (k VARCHAR(20) PRIMARY KEY, v INT)');
      await mysql.query("INSERT INTO tags VALUES ('alpha', 1), ('beta', 2)");

      receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          hooksReceived.push({ url: req.url ?? '', headers: JSON.stringify(req.headers), body });
          res.writeHead(200).end('ok');
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));

      subscriber = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
      await subscriber.psubscribe(`*${queueName}*`);
      subscriber.on('pmessage', (_pattern, channel, message: string) =>
        published.push(`${channel} ${message}`),
      );

      metricsPorts = [await freePort(), await freePort(), await freePort()];
      const env = (metricsPort: number): Record<string, string> => ({
        DATABASE_URL: PG_STORE_URL,
        FREIGHT_DB_SCHEMA: schema,
        REDIS_URL,
        FREIGHT_QUEUE_NAME: queueName,
        FREIGHT_SECRET_KEY: SECRET_KEY,
        FREIGHT_BOOTSTRAP_ADMIN_KEY: adminKey,
        FREIGHT_HOME: home.dir,
        FREIGHT_DATA_DIRS: home.dir,
        FREIGHT_LOG_LEVEL: 'trace',
        FREIGHT_RATE_LIMIT: '1000000',
        FREIGHT_LEASE_MS: '5000',
        ENABLE_METRICS: 'true',
        METRICS_PORT: String(metricsPort),
        PORT: '0',
        HOST: '127.0.0.1',
      });
      api = new FreightProcess('api', ['serve', '--no-worker'], env(metricsPorts[0]!));
      base = (await api.waitFor(/API on (http:\/\/[^\s]+?)(?= |\))/, 'the API to listen'))[1]!;
      for (const port of metricsPorts.slice(1)) {
        const worker = new FreightProcess(
          `worker-${workers.length + 1}`,
          ['worker', '--concurrency', '4'],
          env(port),
        );
        await worker.waitFor(/worker \S+ running/, 'the worker to start');
        workers.push(worker);
      }

      const id = uniqueName('dist').replaceAll('_', '-');
      expect(
        (await http('POST', '/api/v1/admin/tenants', { body: { tenant_id: id } })).status,
      ).toBe(201);
      tenant = {
        id,
        engineer: (
          await http('POST', '/api/v1/admin/keys', { body: { tenant_id: id, role: 'engineer' } })
        ).json.key,
        viewer: (
          await http('POST', '/api/v1/admin/keys', { body: { tenant_id: id, role: 'viewer' } })
        ).json.key,
      };
      const port = (receiver.address() as AddressInfo).port;
      for (const kind of ['generic', 'slack']) {
        const hook = await http('POST', '/api/v1/webhooks', {
          ...asEngineer(),
          body: { url: `http://127.0.0.1:${port}/services/${kind}/${HOOK_TOKEN}`, kind },
        });
        expect(hook.status, hook.text).toBe(201);
        seen.pop(); // the creation answer carries the signing secret, shown once by design
      }
    }, 90_000);

    afterAll(async () => {
      if (!up) return;
      await Promise.all([api, ...workers].filter(Boolean).map((p) => p.stop()));
      await subscriber?.quit().catch(() => subscriber.disconnect());
      await new Promise((resolve) => receiver?.close(resolve));
      const cleaner = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
      for (const pattern of [`bull:${queueName}:*`, `*${queueName}*`]) {
        let cursor = '0';
        do {
          const [next, keys] = await cleaner.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          if (keys.length) await cleaner.del(...keys);
        } while (cursor !== '0');
      }
      cleaner.disconnect();
      const client = new pg.Client({ connectionString: PG_STORE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
      for (const host of ['%', 'localhost', '127.0.0.1'])
        await mysql?.query('DROP USER IF EXISTS ?@?', [mysqlUser, host]).catch(() => {});
      await mysql?.drop();
      await target?.drop();
      home.remove();
    });

    /** Reads a job's SSE stream to its end (the stream closes after the terminal state). */
    async function readStream(jobId: string): Promise<string> {
      const res = await fetch(`${base}/api/v1/jobs/${jobId}/events`, {
        headers: { authorization: `Bearer ${tenant.viewer}`, 'x-tenant-id': tenant.id },
        signal: AbortSignal.timeout(60_000),
      });
      expect(res.status).toBe(200);
      return res.text();
    }

    it('runs jobs carrying the passwords on the workers: the right ones copy, the wrong ones fail saying why', async () => {
      const pgUrl = (password: string, port = 5432) =>
        `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/test?schema=${target.name}`;
      const mysqlObject = (password: string, user = mysqlUser) => ({
        type: 'mariadb',
        host: '127.0.0.1',
        port: 3306,
        database: mysql.name,
        user,
        password,
      });
      const bodies: Record<string, unknown> = {
        objectToUrl: {
          source_config: mysqlObject(PASSWORD),
          target_config: pgUrl(PASSWORD),
          tables: ['notes'],
          batch_size: 40,
          audit_level: 'records',
        },
        urlToObject: {
          source_config: `mysql://${mysqlUser}:${encodeURIComponent(PASSWORD)}@127.0.0.1:3306/${mysql.name}`,
          target_config: {
            type: 'postgresql',
            host: '127.0.0.1',
            port: 5432,
            database: 'test',
            user: 'postgres',
            password: PASSWORD2,
            schema: target.name,
          },
          tables: ['tags'],
        },
        wrongMariadbPassword: {
          source_config: `mariadb://root:${encodeURIComponent(PASSWORD2)}@127.0.0.1:3306/${mysql.name}`,
          target_config: pgUrl(PASSWORD2),
          max_retries: 0,
        },
        wrongUserPassword: {
          source_config: mysqlObject(PASSWORD2),
          target_config: pgUrl(PASSWORD),
          max_retries: 0,
        },
        unreachableTarget: {
          source_config: mysqlObject(PASSWORD),
          target_config: pgUrl(PASSWORD, 1),
          tables: ['tags'],
          max_retries: 1,
        },
      };
      for (const [name, body] of Object.entries(bodies)) {
        const r = await http('POST', '/api/v1/jobs', { ...asEngineer(), body });
        expect(r.status, `${name}: ${r.text}`).toBe(201);
        jobs[name] = r.json.job_id;
        // Watch it live, as a dashboard would.
        streams[name] = readStream(r.json.job_id);
      }
      const done: Record<string, any> = {};
      for (const [name, id] of Object.entries(jobs)) {
        done[name] = await eventually(
          async () => {
            const j = (
              await http('GET', `/api/v1/jobs/${id}`, { key: tenant.viewer, tenant: tenant.id })
            ).json;
            return ['completed', 'completed_with_errors', 'failed', 'cancelled'].includes(j.status)
              ? j
              : null;
          },
          `job ${name} to finish`,
          60_000,
          200,
        );
      }
      expect(done.objectToUrl.status).toBe('completed_with_errors');
      expect(done.urlToObject.status).toBe('completed');
      for (const name of ['wrongMariadbPassword', 'wrongUserPassword'])
        expect(done[name].error, name).toMatchObject({
          code: 'AUTH_FAILED',
          message: expect.stringMatching(/access denied/i),
        });
      expect(done.unreachableTarget.error).toMatchObject({
        code: 'CONNECTION_FAILED',
        message: expect.stringContaining('127.0.0.1:1'),
      });
      expect(
        (await target.query(`SELECT count(*)::int AS n FROM "${target.name}".notes`)).rows[0].n,
      ).toBe(299);
      // Both workers took part (the batches of the 300-row table are spread over them, or at least the jobs are).
      const batches = (
        await http('GET', `/api/v1/jobs/${jobs.objectToUrl}/batches?limit=500`, {
          key: tenant.viewer,
          tenant: tenant.id,
        })
      ).json.batches as Array<{ worker_id: string | null }>;
      expect(new Set(batches.map((b) => b.worker_id)).size).toBeGreaterThanOrEqual(1);
      // A failed job retried exercises the password again.
      expect(
        (
          await http('POST', `/api/v1/jobs/${jobs.wrongUserPassword}/retry`, {
            ...asEngineer(),
            body: {},
          })
        ).status,
      ).toBe(202);
      await eventually(
        async () =>
          (
            await http('GET', `/api/v1/jobs/${jobs.wrongUserPassword}`, {
              key: tenant.viewer,
              tenant: tenant.id,
            })
          ).json.status === 'failed',
        'the retried job to fail again',
        30_000,
        200,
      );
    }, 90_000);

    it('REST reads, exports, the audit trail and the SSE streams hold no password', async () => {
      const ids = Object.values(jobs);
      expect(ids).toHaveLength(5);
      let reads = 0;
      for (const op of OPERATIONS.filter((o) => o.method === 'GET')) {
        const key = op.role === 'admin' ? adminKey : tenant.engineer;
        const params = [...op.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]!);
        expect(
          params.filter((p) => p !== 'job_id' && p !== 'webhook_id'),
          `${op.id}: a path parameter this walk cannot fill`,
        ).toEqual([]);
        const webhooks = (await http('GET', '/api/v1/webhooks', { ...asEngineer() })).json
          .webhooks as Array<{ webhook_id: string }>;
        for (const jobId of params.includes('job_id') ? ids : [null]) {
          for (const hookId of params.includes('webhook_id')
            ? webhooks.map((w) => w.webhook_id)
            : [null]) {
            for (const q of op.id === 'list_audit_events'
              ? [`?tenant_id=${tenant.id}&limit=500`, '?limit=500']
              : ['?limit=500', '']) {
              const url = `${op.path.replace('{job_id}', jobId ?? '').replace('{webhook_id}', hookId ?? '')}${q}`;
              const r = await http('GET', url, {
                key,
                tenant: op.tenantScoped ? tenant.id : undefined,
              });
              if (q === '' || r.status === 200) {
                expect(r.status, `${op.id} ${url}: ${r.text.slice(0, 300)}`).toBe(200);
                reads++;
              }
            }
          }
        }
      }
      expect(reads).toBeGreaterThan(40);
      const audit = (await http('GET', `/api/v1/admin/audit?tenant_id=${tenant.id}&limit=500`)).json
        .events as Array<{ action: string }>;
      expect(audit.filter((e) => e.action === 'create_migration_job')).toHaveLength(5);

      for (const jobId of ids) {
        for (const format of ['csv', 'json', 'jsonl']) {
          const link = await http('GET', `/api/v1/logs/export/${jobId}?format=${format}`, {
            ...asEngineer(),
          });
          expect(link.status).toBe(200);
          const file = await fetch(link.json.export_url);
          expect(file.status).toBe(200);
          seen.push({ where: `export ${format} of ${jobId}`, text: await file.text() });
        }
      }
      const failedLog = await http('GET', `/api/v1/jobs/${jobs.objectToUrl}/logs?status=failed`, {
        key: tenant.viewer,
        tenant: tenant.id,
      });
      expect(failedLog.json.logs).toEqual([
        expect.objectContaining({ record_id: '77', error_code: 'DATA_ERROR' }),
      ]);

      for (const [name, stream] of Object.entries(streams)) {
        const text = await stream;
        // A job that ended before its stream opened shows as one snapshot (`progress`) and `end`.
        expect(text, name).toMatch(/event: (status|progress)/);
        expect(text, name).toMatch(/event: end/);
        expect(text, name).toContain(jobs[name]!);
        seen.push({ where: `SSE stream of ${name}`, text });
      }
      // The live streams carried the failures' reasons (through the workers' events on Redis).
      expect(seen.find((s) => s.where === 'SSE stream of wrongMariadbPassword')!.text).toMatch(
        /AUTH_FAILED/,
      );
      for (const { where, text } of seen) expectNoSecret(text, where, [...FORBIDDEN, HOOK_TOKEN]);
    }, 60_000);

    it('MCP tool results over /mcp hold no password', async () => {
      const client = await connectHttp(`${base}/mcp`, { key: tenant.engineer, tenant: tenant.id });
      try {
        const tools = (await client.listTools()).tools;
        let calls = 0;
        for (const tool of tools) {
          const readOnly =
            tool.annotations?.readOnlyHint === true || tool.name === 'export_migration_logs';
          if (!readOnly) continue;
          const props = Object.keys(
            (tool.inputSchema as { properties?: Record<string, unknown> }).properties ?? {},
          );
          const hooks = props.includes('webhook_id')
            ? (
                (await http('GET', '/api/v1/webhooks', { ...asEngineer() })).json
                  .webhooks as Array<{ webhook_id: string }>
              ).map((w) => w.webhook_id)
            : [null];
          for (const jobId of props.includes('job_id') ? Object.values(jobs) : [null]) {
            for (const hookId of hooks) {
              const args = {
                ...(jobId ? { job_id: jobId } : {}),
                ...(hookId ? { webhook_id: hookId } : {}),
              };
              const result = await client.callTool({ name: tool.name, arguments: args });
              expect(
                result.isError ?? false,
                `${tool.name} ${JSON.stringify(args)}: ${JSON.stringify(result).slice(0, 300)}`,
              ).toBe(false);
              seen.push({
                where: `MCP ${tool.name} ${JSON.stringify(args)}`,
                text: JSON.stringify(result),
              });
              expectNoSecret(JSON.stringify(result), `MCP ${tool.name}`, [
                ...FORBIDDEN,
                HOOK_TOKEN,
              ]);
              calls++;
            }
          }
        }
        expect(calls).toBeGreaterThan(25);
        const one = await client.callTool({
          name: 'get_migration_job',
          arguments: { job_id: jobs.wrongMariadbPassword },
        });
        expect(JSON.stringify(one)).toMatch(/AUTH_FAILED/);
      } finally {
        await client.close();
      }
    }, 60_000);

    it('webhook payloads (generic and Slack) hold no password, and the URL token is only in the request line', async () => {
      const terminal = Object.values(jobs);
      await eventually(
        () => terminal.every((id) => hooksReceived.filter((h) => h.body.includes(id)).length >= 2),
        'both webhooks to hear about every job',
        30_000,
        100,
      );
      for (const hook of hooksReceived) {
        expect(hook.url).toContain(HOOK_TOKEN);
        expectNoSecret(
          `${hook.headers}\n${hook.body}`,
          `webhook delivery to ${hook.url.replace(HOOK_TOKEN, '<token>')}`,
          [...FORBIDDEN, HOOK_TOKEN],
        );
      }
      expect(hooksReceived.some((h) => /AUTH_FAILED/.test(h.body))).toBe(true);
    }, 60_000);

    it('/metrics of the API and of each worker hold no password', async () => {
      for (const port of metricsPorts) {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(text).toMatch(/freight_/);
        expectNoSecret(text, `/metrics on :${port}`, [...FORBIDDEN, HOOK_TOKEN]);
      }
      const fromWorkers = await Promise.all(
        metricsPorts
          .slice(1)
          .map(async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()),
      );
      expect(
        fromWorkers.some((t) => /freight_batches_total\{[^}]*tenant="/.test(t)),
        'a worker counted batches',
      ).toBe(true);
    });

    it('the store holds the configs encrypted: no password in any row of any table', async () => {
      const { rows } = await dumpStore({
        store: { kind: 'postgresql', url: PG_STORE_URL, schema },
      } as Config);
      expect(rows.jobs!.length).toBe(5);
      for (const row of rows.jobs!) {
        const job = JSON.parse(row) as Record<string, string>;
        expect(job.source_config).toMatch(/^v1:[0-9a-f]{8}:/);
        expect(job.target_config).toMatch(/^v1:[0-9a-f]{8}:/);
      }
      expect(Object.keys(rows)).toEqual(
        expect.arrayContaining([
          'jobs',
          'batches',
          'record_logs',
          'audit_events',
          'webhook_deliveries',
        ]),
      );
      for (const [table, lines] of Object.entries(rows))
        for (const line of lines) expectNoSecret(line, `store table ${table}`, FORBIDDEN);
      // The plants are real: with the key, the store gives the passwords back.
      const store = await openStore({
        store: { kind: 'postgresql', url: PG_STORE_URL, schema },
        home: home.dir,
        secretKey: SECRET_KEY,
      });
      try {
        expect((await store.getJobWithSecrets(jobs.objectToUrl!))?.source).toMatchObject({
          password: PASSWORD,
        });
        expect((await store.getJobWithSecrets(jobs.wrongMariadbPassword!))?.source).toMatchObject({
          password: PASSWORD2,
        });
      } finally {
        await store.close();
      }
    });

    it('every Redis key and value under the queue’s prefix, and every event published on Redis, hold no password', async () => {
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
      try {
        const keys: string[] = [];
        for (const pattern of [`bull:${queueName}:*`, `*${queueName}*`]) {
          let cursor = '0';
          do {
            const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
            cursor = next;
            keys.push(...found);
          } while (cursor !== '0');
        }
        const unique = [...new Set(keys)];
        expect(unique.length).toBeGreaterThan(3);
        let values = 0;
        for (const key of unique) {
          const type = await redis.type(key);
          let dump: unknown;
          if (type === 'string') dump = await redis.get(key);
          else if (type === 'hash') dump = await redis.hgetall(key);
          else if (type === 'list') dump = await redis.lrange(key, 0, -1);
          else if (type === 'set') dump = await redis.smembers(key);
          else if (type === 'zset') dump = await redis.zrange(key, 0, -1, 'WITHSCORES');
          else if (type === 'stream') dump = await redis.xrange(key, '-', '+');
          else continue;
          values++;
          expectNoSecret(`${key}\n${JSON.stringify(dump)}`, `Redis ${type} ${key}`, [
            ...FORBIDDEN,
            HOOK_TOKEN,
          ]);
        }
        expect(values).toBeGreaterThan(3);
        // BullMQ's job hashes are among them: the tasks carry ids, not configs.
        expect(unique.some((k) => /^bull:.+:\d+$/.test(k))).toBe(true);
      } finally {
        redis.disconnect();
      }
      expect(published.length).toBeGreaterThan(20);
      expect(published.some((m) => m.includes(jobs.wrongMariadbPassword!))).toBe(true);
      for (const message of published)
        expectNoSecret(message, 'a message published on Redis', [...FORBIDDEN, HOOK_TOKEN]);
    });

    it('the API’s and the workers’ stdout/stderr (trace level) hold no password', async () => {
      const apiOut = api.output();
      expect(apiOut).toMatch(/incoming request/);
      expect(apiOut).toContain('/api/v1/jobs');
      const workersOut = workers.map((w) => w.output()).join('\n');
      // The workers logged the failures (job ids, reasons), so their logs were really written.
      expect(workersOut).toContain(jobs.wrongMariadbPassword!);
      expect(workersOut).toMatch(/job failed/);
      for (const [name, out] of [
        ['the API', apiOut],
        ...workers.map((w) => [w.name, w.output()] as const),
      ] as const) {
        for (const line of out.split('\n'))
          expectNoSecret(line, `${name}'s output`, [...FORBIDDEN, HOOK_TOKEN]);
      }
      console.info(
        `planted secrets, distributed: ${seen.length} answers (REST, exports, SSE, MCP), ${hooksReceived.length} webhook deliveries, ${published.length} Redis messages, ` +
          `API output ${Math.round(apiOut.length / 1024)} KB, worker output ${Math.round(workersOut.length / 1024)} KB — all clean`,
      );
    });
  },
);
