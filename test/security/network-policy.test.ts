import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess, type ApiProcess } from '../../src/app/api-process.js';
import { loadConfig } from '../../src/config/config.js';
import { createConnectionGuard } from '../../src/security/connection-guard.js';
import { Worker } from '../../src/worker/worker.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { createPgSchema, TEST_DATA_DIRS, tempDir, uniqueName } from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';
import { eventually, expectError } from './support.js';

/**
 * The network policy (FREIGHT_DENY_NETWORKS / FREIGHT_ALLOW_NETWORKS) decides on the addresses a
 * host resolves to, whatever way the address is spelled: jobs' sources and targets (object and
 * URL form) and webhook URLs are refused with 400 POLICY_VIOLATION naming the rule; the worker
 * checks again right before it connects, and every webhook delivery is checked again.
 */

const pgUp = await hasService('postgres');

/** Spellings of the local host: names, short and numeric IPv4 forms, IPv6 and IPv4-in-IPv6, "this host". */
const LOOPBACK_HOSTS = [
  '127.0.0.1',
  '127.0.0.2',
  'localhost',
  'LOCALHOST',
  '::1',
  '0:0:0:0:0:0:0:1',
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '::127.0.0.1',
  '127.1',
  '0x7f000001',
  '0x7f.0.0.1',
  '2130706433',
  '0177.0.0.1',
  '017700000001',
  '0.0.0.0',
  '0',
  '0.1.2.3',
  '::',
  '::ffff:0.0.0.0',
];

/** Cloud metadata and link-local addresses, refused by the default policy. */
const METADATA_HOSTS = [
  '169.254.169.254',
  '169.254.170.2',
  '100.100.100.200',
  'fd00:ec2::254',
  '::ffff:169.254.169.254',
  '::ffff:a9fe:a9fe',
  '0xa9fea9fe',
  '169.254.1.1',
  'fe80::1',
];

const bracket = (host: string) => (host.includes(':') ? `[${host}]` : host);

/** One host in every position a job takes a host: source (mysql, mariadb, postgresql) and target, object and URL form. */
function jobBodies(
  host: string,
  port: number,
  sqliteTarget: string,
): Array<{ what: string; side: 'source_config' | 'target_config'; body: Record<string, unknown> }> {
  const sqliteSource = sqliteTarget.replace(/\.db$/, '-source.db');
  return [
    {
      what: 'mysql source (object)',
      side: 'source_config',
      body: {
        source_config: { type: 'mysql', host, port, database: 'd', user: 'u', password: 'pw' },
        target_config: sqliteTarget,
      },
    },
    {
      what: 'mariadb source (URL)',
      side: 'source_config',
      body: {
        source_config: `mariadb://u:pw@${bracket(host)}:${port}/d`,
        target_config: sqliteTarget,
      },
    },
    {
      what: 'postgresql source (object)',
      side: 'source_config',
      body: {
        source_config: { type: 'postgresql', host, port, database: 'd', user: 'u' },
        target_config: sqliteTarget,
      },
    },
    {
      what: 'postgresql source (URL)',
      side: 'source_config',
      body: {
        source_config: `postgresql://u@${bracket(host)}:${port}/d?schema=s`,
        target_config: sqliteTarget,
      },
    },
    {
      what: 'postgresql target (object)',
      side: 'target_config',
      body: {
        source_config: sqliteSource,
        target_config: { type: 'postgres', host, port, database: 'd', user: 'u' },
      },
    },
    {
      what: 'postgresql target (URL)',
      side: 'target_config',
      body: {
        source_config: sqliteSource,
        target_config: `postgres://u@${bracket(host)}:${port}/d`,
      },
    },
  ];
}

describe.skipIf(!pgUp)('denied hosts', () => {
  const files = tempDir();
  let loopbackDenied: TestApi;
  let defaults: TestApi;
  let tenantL: Awaited<ReturnType<TestApi['tenant']>>;
  let tenantD: Awaited<ReturnType<TestApi['tenant']>>;

  beforeAll(async () => {
    loopbackDenied = await startTestApi('sqlite', {
      env: { FREIGHT_DENY_NETWORKS: 'loopback,link-local,metadata' },
    });
    defaults = await startTestApi('sqlite');
    tenantL = await loopbackDenied.tenant();
    tenantD = await defaults.tenant();
  });
  afterAll(async () => {
    await loopbackDenied?.close();
    await defaults?.close();
    files.remove();
  });

  async function expectRefused(
    api: TestApi,
    tenant: { id: string; keys: Record<string, string> },
    host: string,
    port: number,
    rule: RegExp,
  ) {
    let n = 0;
    for (const { what, side, body } of jobBodies(host, port, `sqlite:${files.file('never.db')}`)) {
      for (const validate of [false, true]) {
        const ctx = `${host} as ${what}${validate ? ' (validate=true)' : ''}`;
        const r = await api.request('POST', '/api/v1/jobs', {
          key: tenant.keys.engineer,
          tenant: tenant.id,
          body: { ...body, validate },
        });
        const error = expectError(r, 400, 'POLICY_VIOLATION', ctx);
        expect(error.details, ctx).toEqual({
          field: `${side}.host`,
          rule: expect.stringMatching(rule),
        });
        expect(error.message, ctx).toMatch(/is not allowed on this server/);
        expect(error.message, ctx).not.toContain('pw');
        n++;
      }
    }
    return n;
  }

  it('FREIGHT_DENY_NETWORKS=loopback: every spelling of the local host, as source and target, object and URL form, is refused before any connection; no job is created', async () => {
    let refused = 0;
    for (const host of LOOPBACK_HOSTS) {
      for (const port of [5432, 3306])
        refused += await expectRefused(
          loopbackDenied,
          tenantL,
          host,
          port,
          /FREIGHT_DENY_NETWORKS/,
        );
    }
    expect(refused).toBe(LOOPBACK_HOSTS.length * 2 * 12);
    expect(
      (
        await loopbackDenied.request('GET', '/api/v1/jobs', {
          key: tenantL.keys.viewer,
          tenant: tenantL.id,
        })
      ).json().total,
    ).toBe(0);
  });

  it('the default policy refuses cloud metadata and link-local addresses (and still allows the local databases)', async () => {
    for (const host of METADATA_HOSTS)
      await expectRefused(defaults, tenantD, host, 80, /FREIGHT_DENY_NETWORKS/);
    expect(
      (
        await defaults.request('GET', '/api/v1/jobs', {
          key: tenantD.keys.viewer,
          tenant: tenantD.id,
        })
      ).json().total,
    ).toBe(0);
    // The loopback databases are not denied by default: validate=true connects to them.
    const ok = await defaults.request('POST', '/api/v1/jobs', {
      key: tenantD.keys.engineer,
      tenant: tenantD.id,
      body: {
        source_config: 'postgresql://postgres@127.0.0.1:5432/test',
        target_config: `sqlite:${files.file('default-ok.db')}`,
        tables: ['no_such_table_zz'],
        validate: true,
      },
    });
    expect(ok.statusCode, ok.body).toBe(400);
    expect(ok.json().error.code).toBe('TABLE_NOT_FOUND'); // it got as far as asking the database
  });

  it('webhook URLs to denied hosts are refused at creation, in every spelling', async () => {
    const loopbackUrls = [
      'http://127.0.0.1:8000/hook',
      'http://localhost:8000/hook',
      'http://LOCALHOST./hook',
      'http://[::1]:8000/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://[::ffff:7f00:1]/hook',
      'http://127.1/hook',
      'http://0x7f000001/hook',
      'http://2130706433/hook',
      'http://0177.0.0.1/hook',
      'http://0.0.0.0:8000/hook',
      'http://[::]:8000/hook',
      'https://127.0.0.1/hook',
    ];
    for (const url of loopbackUrls) {
      const r = await loopbackDenied.request('POST', '/api/v1/webhooks', {
        key: tenantL.keys.engineer,
        tenant: tenantL.id,
        body: { url },
      });
      if (r.statusCode === 400 && r.json().error.code === 'CONNECTION_FAILED') continue; // "LOCALHOST." may not resolve here: refused either way
      const error = expectError(r, 400, 'POLICY_VIOLATION', url);
      expect(error.details).toEqual({
        field: 'url',
        rule: expect.stringMatching(/FREIGHT_DENY_NETWORKS/),
      });
    }
    for (const url of [
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://[fd00:ec2::254]/latest',
      'http://100.100.100.200/latest/meta-data',
      'http://[::ffff:169.254.169.254]/',
    ]) {
      const r = await defaults.request('POST', '/api/v1/webhooks', {
        key: tenantD.keys.engineer,
        tenant: tenantD.id,
        body: { url },
      });
      expectError(r, 400, 'POLICY_VIOLATION', url);
    }
    for (const [api, t] of [
      [loopbackDenied, tenantL],
      [defaults, tenantD],
    ] as const) {
      expect(
        (await api.request('GET', '/api/v1/webhooks', { key: t.keys.viewer, tenant: t.id })).json()
          .webhooks,
      ).toEqual([]);
    }
  });
});

describe.skipIf(!pgUp)('FREIGHT_ALLOW_NETWORKS', () => {
  let pg: Awaited<ReturnType<typeof createPgSchema>>;
  const files = tempDir();
  const started: TestApi[] = [];
  const start = async (env: Record<string, string>) => {
    const api = await startTestApi('sqlite', { env });
    started.push(api);
    return { api, t: await api.tenant() };
  };
  const create = (
    ctx: { api: TestApi; t: Awaited<ReturnType<TestApi['tenant']>> },
    host: string,
    extra: Record<string, unknown> = {},
  ) =>
    ctx.api.request('POST', '/api/v1/jobs', {
      key: ctx.t.keys.engineer,
      tenant: ctx.t.id,
      body: {
        source_config: {
          type: 'postgresql',
          host,
          port: 5432,
          database: 'test',
          user: 'postgres',
          schema: pg.name,
        },
        target_config: `sqlite:${files.file(`${uniqueName('allow')}.db`)}`,
        ...extra,
      },
    });

  beforeAll(async () => {
    pg = await createPgSchema('fsecallow');
    await pg.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
    await pg.query(`INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g`);
  });
  afterAll(async () => {
    for (const api of started) await api.close();
    await pg?.drop();
    files.remove();
  });

  it('a CIDR allow-list: addresses inside it are served (the job runs), everything else is refused naming FREIGHT_ALLOW_NETWORKS', async () => {
    const ctx = await start({
      FREIGHT_DENY_NETWORKS: 'none',
      FREIGHT_ALLOW_NETWORKS: '127.0.0.0/8',
    });
    const ok = await create(ctx, '127.0.0.1');
    expect(ok.statusCode, ok.body).toBe(201);
    const job = await ctx.api.waitForJob(ctx.t.id, ctx.t.keys.viewer, ok.json().job_id);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.progress.rows_written).toBe(50);
    for (const host of [
      '10.1.2.3',
      '192.168.1.1',
      '8.8.8.8',
      '::1',
      '169.254.169.254',
      '2001:db8::1',
    ]) {
      const error = expectError(await create(ctx, host), 400, 'POLICY_VIOLATION', host);
      expect(error.details).toEqual({
        field: 'source_config.host',
        rule: 'the address is not in an allowed network (FREIGHT_ALLOW_NETWORKS)',
      });
    }
    // The IPv6 spelling of an allowed IPv4 address is that address.
    expect((await create(ctx, '::ffff:127.0.0.1')).statusCode).toBe(201);
    const hook = (url: string) =>
      ctx.api.request('POST', '/api/v1/webhooks', {
        key: ctx.t.keys.engineer,
        tenant: ctx.t.id,
        body: { url },
      });
    expect((await hook('http://127.0.0.1:9/allowed')).statusCode).toBe(201);
    expectError(
      await hook('http://10.0.0.1/refused'),
      400,
      'POLICY_VIOLATION',
      'webhook outside the allow-list',
    );
  });

  it('a host-name allow-list admits that name (any case) and not the address it resolves to; deny wins over allow', async () => {
    const byName = await start({
      FREIGHT_DENY_NETWORKS: 'none',
      FREIGHT_ALLOW_NETWORKS: 'localhost',
    });
    for (const host of ['localhost', 'LocalHost']) {
      const r = await create(byName, host, { tables: ['items'], validate: true });
      expect(r.statusCode, `${host}: ${r.body}`).toBe(201);
    }
    for (const host of ['127.0.0.1', '::1', 'localhost.localdomain.invalid']) {
      const r = await create(byName, host);
      expect(r.statusCode, `${host}: ${r.body}`).toBe(400);
      expect(['POLICY_VIOLATION', 'CONNECTION_FAILED'], host).toContain(r.json().error.code);
    }
    const denyWins = await start({
      FREIGHT_DENY_NETWORKS: 'loopback',
      FREIGHT_ALLOW_NETWORKS: '127.0.0.0/8,localhost',
    });
    for (const host of ['127.0.0.1', 'localhost']) {
      const error = expectError(await create(denyWins, host), 400, 'POLICY_VIOLATION', host);
      expect(error.details?.rule).toMatch(/FREIGHT_DENY_NETWORKS/);
    }
  });

  it('a malformed rule stops the server at start-up, naming the variable', async () => {
    await expect(
      startTestApi('sqlite', { env: { FREIGHT_DENY_NETWORKS: 'loopback,not-a-network' } }),
    ).rejects.toThrow(/FREIGHT_DENY_NETWORKS: "not-a-network" is not a CIDR/);
    await expect(
      startTestApi('sqlite', { env: { FREIGHT_ALLOW_NETWORKS: '10.0.0.0/8,300.1.1.1' } }),
    ).rejects.toThrow(/FREIGHT_ALLOW_NETWORKS/);
  });
});

describe.skipIf(!pgUp)('checks again at connection time', () => {
  it('the worker refuses a job created before the host was denied (its own policy, right before connecting); the same job runs under a policy that allows it', async () => {
    const pg = await createPgSchema('fsecrecheck');
    await pg.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
    await pg.query(`INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20) g`);
    const home = tempDir();
    const config = loadConfig({
      FREIGHT_HOME: home.dir,
      FREIGHT_DATA_DIRS: TEST_DATA_DIRS,
      FREIGHT_SECRET_KEY: 'test-secret-key-0123456789abcdef',
      FREIGHT_DENY_NETWORKS: 'none',
    });
    const proc = await startApiProcess(config, { worker: false, server: { logger: false } });
    let worker: Worker | null = null;
    try {
      const admin = {
        authorization: `Bearer ${proc.bootstrapKey!.key}`,
        'x-tenant-id': 'platform',
      };
      const created = await proc.app.inject({
        method: 'POST',
        url: '/api/v1/jobs',
        headers: admin,
        payload: {
          source_config: `postgresql://postgres@localhost:5432/test?schema=${pg.name}`,
          target_config: `sqlite:${home.file('target.db')}`,
          max_retries: 0,
        },
      });
      expect(created.statusCode, created.body).toBe(201);
      const jobId = created.json().job_id as string;
      const status = async () =>
        (
          await proc.app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}`, headers: admin })
        ).json();

      // A worker whose policy denies loopback (another process's configuration, or a new DNS answer).
      const strict = createConnectionGuard({
        dataDirs: config.dataDirs,
        network: { deny: ['loopback'], allow: [] },
      });
      worker = new Worker({
        ledger: proc.services.store,
        queue: proc.services.queue,
        connectors: proc.services.connectors,
        guard: strict,
        concurrency: 2,
      });
      worker.start();
      const failed = await eventually(
        async () => ((await status()).status === 'failed' ? status() : null),
        'the job to fail',
      );
      expect(failed.error).toMatchObject({
        code: 'POLICY_VIOLATION',
        message: expect.stringMatching(
          /source_config\.host: connecting to localhost \(127\.0\.0\.1\) is not allowed on this server: the address is in a denied network/,
        ),
      });
      expect(failed.progress.rows_read).toBe(0);
      await worker.stop();

      // The same job, retried under the server's own policy, runs.
      worker = new Worker({
        ledger: proc.services.store,
        queue: proc.services.queue,
        connectors: proc.services.connectors,
        guard: proc.services.guard,
        concurrency: 2,
      });
      worker.start();
      const retried = await proc.app.inject({
        method: 'POST',
        url: `/api/v1/jobs/${jobId}/retry`,
        headers: admin,
      });
      expect(retried.statusCode, retried.body).toBe(202);
      const done = await eventually(async () => {
        const s = await status();
        return ['completed', 'failed'].includes(s.status) ? s : null;
      }, 'the retried job to finish');
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
      expect(done.progress.rows_written).toBe(20);
    } finally {
      await worker?.stop({ hard: true });
      await proc.close({ hard: true });
      await pg.drop();
      home.remove();
    }
  });

  it('a webhook admitted under one policy is not delivered once its host is denied: the delivery fails for good naming the rule, and the receiver hears nothing', async () => {
    const received: Array<{ url: string; body: string }> = [];
    const receiver: Server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push({ url: req.url ?? '', body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    const home = tempDir();
    const env = {
      FREIGHT_HOME: home.dir,
      FREIGHT_DATA_DIRS: home.dir,
      FREIGHT_SECRET_KEY: 'test-secret-key-0123456789abcdef',
    };
    let proc: ApiProcess | null = null;
    try {
      // Phase 1: loopback allowed. The webhook is created, and an outcome is delivered.
      proc = await startApiProcess(loadConfig({ ...env, FREIGHT_DENY_NETWORKS: 'none' }), {
        worker: true,
        concurrency: 2,
        server: { logger: false },
      });
      const admin = {
        authorization: `Bearer ${proc.bootstrapKey!.key}`,
        'x-tenant-id': 'platform',
      };
      const p1 = proc;
      const inject = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
        p1.app.inject({
          method,
          url,
          headers: admin,
          ...(payload ? { payload: payload as object } : {}),
        });
      const hook = await inject('POST', '/api/v1/webhooks', {
        url: `http://127.0.0.1:${port}/zz-delivery-hook`,
        kind: 'generic',
        events: ['failed'],
      });
      expect(hook.statusCode, hook.body).toBe(201);
      const webhookId = hook.json().webhook_id as string;
      const failingJob = async (call: typeof inject) => {
        const r = await call('POST', '/api/v1/jobs', {
          source_config: `sqlite:${home.file('missing-source.db')}`,
          target_config: `sqlite:${home.file('t.db')}`,
          max_retries: 0,
        });
        expect(r.statusCode, r.body).toBe(201);
        return r.json().job_id as string;
      };
      const first = await failingJob(inject);
      await eventually(
        () => received.some((x) => x.body.includes(first)),
        'the first outcome to be delivered',
      );
      await proc.close({ hard: true });
      proc = null;

      // Phase 2: the same installation restarted with loopback denied.
      proc = await startApiProcess(loadConfig({ ...env, FREIGHT_DENY_NETWORKS: 'loopback' }), {
        worker: true,
        concurrency: 2,
        server: { logger: false },
      });
      const p2 = proc;
      const inject2 = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
        p2.app.inject({
          method,
          url,
          headers: admin,
          ...(payload ? { payload: payload as object } : {}),
        });
      const second = await failingJob(inject2);
      const delivery = await eventually(async () => {
        const list = (await inject2('GET', `/api/v1/webhooks/${webhookId}/deliveries`)).json()
          .deliveries as Array<{
          job_id: string;
          status: string;
          last_error: string | null;
          attempts: number;
        }>;
        const d = list.find((x) => x.job_id === second);
        return d && d.status !== 'pending' ? d : null;
      }, 'the second delivery to be settled');
      expect(delivery).toMatchObject({
        status: 'failed',
        attempts: 1,
        last_error: expect.stringMatching(
          /127\.0\.0\.1 is not allowed on this server: the address is in a denied network \(FREIGHT_DENY_NETWORKS\)/,
        ),
      });
      expect(received.map((x) => x.body).filter((b) => b.includes(second))).toEqual([]);
      expect(received).toHaveLength(1);
    } finally {
      await proc?.close({ hard: true });
      await new Promise((resolve) => receiver.close(resolve));
      home.remove();
    }
  });
});
