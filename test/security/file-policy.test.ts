import {
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess } from '../../src/app/api-process.js';
import { loadConfig } from '../../src/config/config.js';
import { Worker } from '../../src/worker/worker.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { freight } from '../helpers/cli.js';
import { tempDir, uniqueName } from '../helpers/databases.js';
import { connectHttp } from '../helpers/mcp.js';
import { eventually, expectError } from './support.js';

/**
 * File connectors on a server (sqlite:, csv:) only reach files under FREIGHT_DATA_DIRS — here one
 * directory per tenant — after "..", percent-escapes and symbolic links are resolved; everything
 * else is a 400 POLICY_VIOLATION naming the rule (or VALIDATION_FAILED for a malformed path), no
 * job is created and the file outside is never opened. The worker checks again right before it
 * opens the file. The command line is not confined: it runs as the user.
 */

const OUTSIDE_MARK = 'zz-outside-secret-row';

function sqliteFile(file: string, table: string, rows: string[]): void {
  const db = new Database(file);
  db.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`);
  const insert = db.prepare(`INSERT INTO ${table} (v) VALUES (?)`);
  for (const r of rows) insert.run(r);
  db.close();
}

/** Access times, to prove a file was not read: set to 2000-01-01, any read moves them (relatime). */
const OLD = new Date('2000-01-01T00:00:00Z');
const atimeOf = (file: string) => statSync(file).atimeMs;

describe('file connectors are confined to the tenant’s data directory', () => {
  const root = tempDir('freight-sec-files-');
  const data = (tenant: string, ...rest: string[]) => path.join(root.dir, 'data', tenant, ...rest);
  const outside = (...rest: string[]) => path.join(root.dir, 'outside', ...rest);
  let api: TestApi;
  let A: Awaited<ReturnType<TestApi['tenant']>>;
  let B: Awaited<ReturnType<TestApi['tenant']>>;
  let atimeWorks = false;
  const outsideFiles: string[] = [];

  beforeAll(async () => {
    api = await startTestApi('sqlite', {
      env: { FREIGHT_DATA_DIRS: path.join(root.dir, 'data', '{tenant}') },
    });
    A = await api.tenant(uniqueName('fa').replaceAll('_', '-'));
    B = await api.tenant(uniqueName('fb').replaceAll('_', '-'));
    for (const dir of [data(A.id), data(B.id), outside('dir')]) mkdirSync(dir, { recursive: true });

    // Outside every data directory: a database, a CSV file and a directory of them.
    sqliteFile(outside('secret.db'), 'zz_outside', [OUTSIDE_MARK]);
    writeFileSync(outside('secret.csv'), `zz_outside_col\n${OUTSIDE_MARK}\n`);
    writeFileSync(outside('dir', 'x.csv'), `zz_outside_col\n${OUTSIDE_MARK}\n`);
    // Tenant A's own database, which B must not reach.
    sqliteFile(data(A.id, 'a.db'), 'a_private', [OUTSIDE_MARK]);
    // Tenant B's own files, and links planted in B's directory that lead out of it.
    sqliteFile(data(B.id, 'b.db'), 'b_items', ['one', 'two', 'three']);
    sqliteFile(data(B.id, '..dotted.db'), 'b_dotted', [
      'a file whose name starts with two dots is still inside',
    ]);
    symlinkSync(data(B.id, 'b.db'), data(B.id, 'inner-link.db'));
    symlinkSync(outside('secret.db'), data(B.id, 'link.db'));
    symlinkSync(outside(), data(B.id, 'linkdir'));
    symlinkSync(data(A.id), data(B.id, 'to-a'));
    symlinkSync(outside('created-through-a-link.db'), data(B.id, 'dangling.db'));
    mkdirSync(data(B.id, 'csvdir'));
    writeFileSync(data(B.id, 'csvdir', 'fine.csv'), 'k,v\n1,a\n');
    symlinkSync(outside('secret.csv'), data(B.id, 'csvdir', 'evil.csv'));
    mkdirSync(data(B.id, 'csvclean'));
    writeFileSync(data(B.id, 'csvclean', 'fine.csv'), 'k,v\n1,a\n2,b\n');

    for (const file of [
      outside('secret.db'),
      outside('secret.csv'),
      outside('dir', 'x.csv'),
      data(A.id, 'a.db'),
    ]) {
      utimesSync(file, OLD, new Date());
      outsideFiles.push(file);
    }
    // Does this file system record reads at all (not mounted noatime)? A control file says.
    const control = outside('control.txt');
    writeFileSync(control, 'control');
    utimesSync(control, OLD, new Date());
    readFileSync(control);
    atimeWorks = atimeOf(control) > OLD.getTime();
    if (!atimeWorks)
      console.warn(
        '⚠ this file system does not record access times: "never opened" is checked by content only',
      );
  });

  afterAll(async () => {
    await api?.close();
    root.remove();
  });

  const asB = () => ({ key: B.keys.engineer, tenant: B.id });
  const inB = (name: string) => `sqlite:${data(B.id, name)}`;

  /** Each attack: the config (URL or object form), and the error code it must get. */
  const attacks = (): Array<{
    what: string;
    config: unknown;
    code?: 'POLICY_VIOLATION' | 'VALIDATION_FAILED';
    sourceOnly?: boolean;
  }> => [
    { what: '.. traversal (relative)', config: 'sqlite:../../outside/secret.db' },
    {
      what: '.. traversal from inside the data directory',
      config: `sqlite:${data(B.id)}/../../outside/secret.db`,
    },
    {
      what: '.. traversal (object form)',
      config: { type: 'sqlite', path: '../../outside/secret.db' },
    },
    { what: 'an absolute path outside', config: `sqlite:${outside('secret.db')}` },
    { what: 'an absolute system file', config: 'sqlite:/etc/passwd' },
    {
      what: 'an absolute system file (object form)',
      config: { type: 'sqlite', path: '/etc/passwd' },
    },
    { what: 'a symlinked file leading outside', config: inB('link.db') },
    { what: 'a symlinked directory leading outside', config: inB('linkdir/secret.db') },
    {
      what: 'a symlinked directory leading outside (object form)',
      config: { type: 'sqlite', path: data(B.id, 'linkdir', 'secret.db') },
    },
    { what: 'tenant A’s file, by a relative path', config: `sqlite:../${A.id}/a.db` },
    { what: 'tenant A’s file, by an absolute path', config: `sqlite:${data(A.id, 'a.db')}` },
    { what: 'tenant A’s file, through a link in B’s directory', config: inB('to-a/a.db') },
    { what: 'percent-encoded .. in the URL form', config: 'sqlite:..%2F..%2Foutside%2Fsecret.db' },
    {
      what: 'percent-encoded /etc/passwd',
      config: 'sqlite:..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd',
    },
    { what: 'percent-encoded dots', config: 'sqlite:%2E%2E/%2e%2e/outside/secret.db' },
    { what: 'sqlite:// with an absolute path', config: `sqlite://${outside('secret.db')}` },
    {
      what: 'a NUL byte (object form)',
      config: { type: 'sqlite', path: `b.db\u0000/../../../outside/secret.db` },
      code: 'VALIDATION_FAILED',
    },
    {
      what: 'a percent-encoded NUL byte',
      config: 'sqlite:b.db%00../../outside/secret.db',
      code: 'VALIDATION_FAILED',
    },
    { what: 'a malformed percent-escape', config: 'sqlite:%E0%A4%A', code: 'VALIDATION_FAILED' },
    { what: 'a csv: file outside', config: `csv:${outside('secret.csv')}`, sourceOnly: true },
    { what: 'a csv: directory outside', config: `csv:${outside('dir')}`, sourceOnly: true },
    {
      what: 'a csv: directory by traversal',
      config: { type: 'csv', path: '../../outside/dir' },
      sourceOnly: true,
    },
    {
      what: 'a csv: directory through a symlinked directory',
      config: `csv:${data(B.id, 'linkdir', 'dir')}`,
      sourceOnly: true,
    },
    {
      what: 'a csv: directory inside holding a link that leads outside',
      config: `csv:${data(B.id, 'csvdir')}`,
      sourceOnly: true,
    },
  ];

  it('refuses every escape, as source and as target, in URL and object form: 400 in the error shape naming the rule, and no job', async () => {
    let refused = 0;
    for (const attack of attacks()) {
      for (const side of attack.sourceOnly
        ? (['source_config'] as const)
        : (['source_config', 'target_config'] as const)) {
        for (const validate of [false, true]) {
          const body = {
            source_config: side === 'source_config' ? attack.config : inB('b.db'),
            target_config: side === 'target_config' ? attack.config : inB(`out-${refused}.db`),
            validate,
          };
          const r = await api.request('POST', '/api/v1/jobs', { ...asB(), body });
          const ctx = `${attack.what} as ${side}${validate ? ' (validate=true)' : ''}`;
          const error = expectError(r, 400, attack.code ?? 'POLICY_VIOLATION', ctx);
          expect(error.details?.field, ctx).toMatch(new RegExp(`^${side}\\.path`));
          if ((attack.code ?? 'POLICY_VIOLATION') === 'POLICY_VIOLATION') {
            expect(error.details?.rule, ctx).toBe('path outside FREIGHT_DATA_DIRS');
            expect(error.message, ctx).toMatch(
              /FREIGHT_DATA_DIRS, per tenant, after resolving "\.\." and symbolic links/,
            );
          }
          expect(r.body, ctx).not.toContain(OUTSIDE_MARK);
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(80);
    // No job was created, no target file was written anywhere, nothing appeared outside.
    expect(
      (await api.request('GET', '/api/v1/jobs', { key: B.keys.viewer, tenant: B.id })).json().total,
    ).toBe(0);
    expect(readdirSync(data(B.id)).filter((f) => f.startsWith('out-'))).toEqual([]);
    expect(readdirSync(outside()).sort()).toEqual([
      'control.txt',
      'dir',
      'secret.csv',
      'secret.db',
    ]);
    expect(existsSync(outside('created-through-a-link.db'))).toBe(false);
  });

  it('a dangling link inside that points outside cannot be used to create a file there (target)', async () => {
    const r = await api.request('POST', '/api/v1/jobs', {
      ...asB(),
      body: { source_config: inB('b.db'), target_config: inB('dangling.db') },
    });
    expectError(r, 400, 'POLICY_VIOLATION', 'dangling link as target');
    expect(existsSync(outside('created-through-a-link.db'))).toBe(false);
  });

  it('the same refusal through MCP (create_migration_job over /mcp)', async () => {
    const base = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const client = await connectHttp(`${base}/mcp`, { key: B.keys.engineer, tenant: B.id });
    try {
      const result = (await client.callTool({
        name: 'create_migration_job',
        arguments: {
          source_config: 'sqlite:../../outside/secret.db',
          target_config: inB('mcp-out.db'),
        },
      })) as {
        isError?: boolean;
        content: Array<{ text?: string }>;
      };
      expect(result.isError).toBe(true);
      expect(result.content[0]!.text).toMatch(/POLICY_VIOLATION/);
      expect(result.content[0]!.text).toMatch(/FREIGHT_DATA_DIRS/);
      expect(JSON.stringify(result)).not.toContain(OUTSIDE_MARK);
    } finally {
      await client.close();
    }
  });

  it('files outside were never opened (access times unchanged) and their content reached no one', async () => {
    for (const file of outsideFiles) {
      if (atimeWorks) expect(atimeOf(file), `${file} was read`).toBe(OLD.getTime());
    }
    const everything = await api.request('GET', '/api/v1/admin/audit?limit=500');
    expect(everything.body).not.toContain(OUTSIDE_MARK);
  });

  it('files inside are served: the tenant’s own file, a link that stays inside, a name starting with "..", a clean csv: directory', async () => {
    const ok: Array<[string, unknown, unknown]> = [
      ['own file (absolute)', inB('b.db'), inB('copy-1.db')],
      [
        'own file (relative, object form)',
        { type: 'sqlite', path: 'b.db' },
        { type: 'sqlite', path: 'copy-2.db' },
      ],
      ['a link that stays inside', inB('inner-link.db'), inB('copy-3.db')],
      ['a name starting with ..', inB('..dotted.db'), inB('copy-4.db')],
      ['a csv: directory without links', `csv:${data(B.id, 'csvclean')}`, inB('copy-5.db')],
    ];
    for (const [what, source, target] of ok) {
      const r = await api.request('POST', '/api/v1/jobs', {
        ...asB(),
        body: { source_config: source, target_config: target },
      });
      expect(r.statusCode, `${what}: ${r.body}`).toBe(201);
      const job = await api.waitForJob(B.id, B.keys.viewer, r.json().job_id);
      expect(job.status, `${what}: ${JSON.stringify(job.error)}`).toBe('completed');
    }
    const copy = new Database(data(B.id, 'copy-3.db'), { readonly: true });
    expect(copy.prepare('SELECT v FROM b_items ORDER BY id').all()).toEqual([
      { v: 'one' },
      { v: 'two' },
      { v: 'three' },
    ]);
    copy.close();
    // Tenant A reaches its own file by the same relative name B was refused for.
    const mine = await api.request('POST', '/api/v1/jobs', {
      key: A.keys.engineer,
      tenant: A.id,
      body: { source_config: 'sqlite:a.db', target_config: 'sqlite:a-copy.db' },
    });
    expect(mine.statusCode, mine.body).toBe(201);
    expect((await api.waitForJob(A.id, A.keys.viewer, mine.json().job_id)).status).toBe(
      'completed',
    );
  });

  it('freight migrate (the command line, not confined) still reads a file outside any data directory', async () => {
    const home = tempDir();
    try {
      const r = await freight(
        [
          'migrate',
          `sqlite:${outside('secret.db')}`,
          `sqlite:${home.file('cli-copy.db')}`,
          '--json',
        ],
        {
          FREIGHT_HOME: home.dir,
          FREIGHT_DATA_DIRS: path.join(root.dir, 'data', '{tenant}'),
          FREIGHT_DENY_NETWORKS: 'loopback',
        },
      );
      expect(r.code, r.stderr).toBe(0);
      const copied = new Database(home.file('cli-copy.db'), { readonly: true });
      expect(copied.prepare('SELECT v FROM zz_outside').all()).toEqual([{ v: OUTSIDE_MARK }]);
      copied.close();
    } finally {
      home.remove();
    }
  });
});

describe('the server’s own files are never a job’s source or target, even inside a data directory', () => {
  it('the SQLite metadata store (and its companions) and the secret key are refused, directly, through links and inside a csv: directory', async () => {
    // The harness's data directory is the whole temporary directory, which holds FREIGHT_HOME: the
    // store and the key are inside it.
    const api = await startTestApi('sqlite');
    const links = tempDir();
    try {
      const { home, store } = api.proc.services.config;
      expect(store.kind).toBe('sqlite');
      const storePath = store.kind === 'sqlite' ? store.path : '';
      const keyFile = path.join(home, 'secret.key');
      writeFileSync(keyFile, 'zz-not-the-real-key-but-protected-all-the-same\n');
      symlinkSync(storePath, links.file('innocent.db'));
      mkdirSync(links.file('csvdir'));
      writeFileSync(links.file('csvdir/fine.csv'), 'k\n1\n');
      symlinkSync(keyFile, links.file('csvdir/key.csv'));
      const t = await api.tenant();
      const attempts: Array<[string, unknown, unknown]> = [
        ['the store as source', `sqlite:${storePath}`, `sqlite:${links.file('stolen.db')}`],
        [
          'the store as target',
          `sqlite:${links.file('innocent-source.db')}`,
          `sqlite:${storePath}`,
        ],
        ['the store’s WAL', `sqlite:${storePath}-wal`, `sqlite:${links.file('stolen.db')}`],
        [
          'the store through a link',
          `sqlite:${links.file('innocent.db')}`,
          `sqlite:${links.file('stolen.db')}`,
        ],
        ['the secret key as csv', `csv:${keyFile}`, `sqlite:${links.file('stolen.db')}`],
        [
          'the secret key as sqlite (object form)',
          { type: 'sqlite', path: keyFile },
          `sqlite:${links.file('stolen.db')}`,
        ],
        [
          'the secret key linked into a csv: directory',
          `csv:${links.file('csvdir')}`,
          `sqlite:${links.file('stolen.db')}`,
        ],
      ];
      for (const [what, source, target] of attempts) {
        const r = await api.request('POST', '/api/v1/jobs', {
          key: t.keys.engineer,
          tenant: t.id,
          body: { source_config: source, target_config: target },
        });
        const error = expectError(r, 400, 'POLICY_VIOLATION', what);
        expect(error.details?.rule, what).toBe("the server's own files");
      }
      expect(
        (await api.request('GET', '/api/v1/jobs', { key: t.keys.viewer, tenant: t.id })).json()
          .total,
      ).toBe(0);
      expect(existsSync(links.file('stolen.db'))).toBe(false);
    } finally {
      await api.close();
      links.remove();
    }
  });
});

describe('the worker checks the path again right before it opens the file', () => {
  it('a link that pointed inside when the job was created and outside when the worker runs: the job fails with the policy reason, the file outside is never opened', async () => {
    const root = tempDir('freight-sec-recheck-');
    const home = tempDir();
    const dataDir = path.join(root.dir, 'data');
    mkdirSync(path.join(root.dir, 'outside'), { recursive: true });
    mkdirSync(dataDir);
    const outsideDb = path.join(root.dir, 'outside', 'secret.db');
    sqliteFile(outsideDb, 'zz_outside', [OUTSIDE_MARK]);
    sqliteFile(path.join(dataDir, 'inside.db'), 'zz_outside', ['inside row']);
    const link = path.join(dataDir, 'moving-link.db');
    symlinkSync(path.join(dataDir, 'inside.db'), link);
    const config = loadConfig({
      FREIGHT_HOME: home.dir,
      FREIGHT_DATA_DIRS: dataDir,
      FREIGHT_SECRET_KEY: 'test-secret-key-0123456789abcdef',
    });
    // The API without its worker: the job waits in the queue.
    const proc = await startApiProcess(config, { worker: false, server: { logger: false } });
    let worker: Worker | null = null;
    try {
      const admin = {
        authorization: `Bearer ${proc.bootstrapKey!.key}`,
        'x-tenant-id': 'platform',
        'content-type': 'application/json',
      };
      const created = await proc.app.inject({
        method: 'POST',
        url: '/api/v1/jobs',
        headers: admin,
        payload: {
          source_config: `sqlite:${link}`,
          target_config: `sqlite:${path.join(dataDir, 'target.db')}`,
          max_retries: 0,
        },
      });
      expect(created.statusCode, created.body).toBe(201);
      const jobId = created.json().job_id as string;

      // Between creation and the worker, the link is re-pointed outside.
      unlinkSync(link);
      symlinkSync(outsideDb, link);
      utimesSync(outsideDb, OLD, new Date());

      worker = new Worker({
        ledger: proc.services.store,
        queue: proc.services.queue,
        connectors: proc.services.connectors,
        guard: proc.services.guard,
        concurrency: 2,
      });
      worker.start();
      const job = await eventually(async () => {
        const r = await proc.app.inject({
          method: 'GET',
          url: `/api/v1/jobs/${jobId}`,
          headers: admin,
        });
        return ['failed', 'completed', 'completed_with_errors'].includes(r.json().status)
          ? r.json()
          : null;
      }, 'the job to finish');
      expect(job.status).toBe('failed');
      expect(job.error).toMatchObject({
        code: 'POLICY_VIOLATION',
        message: expect.stringMatching(
          /source_config\.path: the path is outside the data directories/,
        ),
      });
      expect(job.progress.rows_read).toBe(0);
      expect(JSON.stringify(job)).not.toContain(OUTSIDE_MARK);
      // Nothing was copied, and the database outside was not opened.
      expect(
        existsSync(path.join(dataDir, 'target.db'))
          ? new Database(path.join(dataDir, 'target.db'))
              .prepare(`SELECT name FROM sqlite_master WHERE name = 'zz_outside'`)
              .all()
          : [],
      ).toEqual([]);
      const control = path.join(root.dir, 'outside', 'control');
      writeFileSync(control, 'x');
      utimesSync(control, OLD, new Date());
      readFileSync(control);
      if (statSync(control).atimeMs > OLD.getTime())
        expect(statSync(outsideDb).atimeMs).toBe(OLD.getTime());
    } finally {
      await worker?.stop({ hard: true });
      await proc.close({ hard: true });
      root.remove();
      home.remove();
    }
  });
});
