import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSampleDatabase } from '../../src/connectors/sqlite/sqlite-sample.js';
import { BIN, REPO, freight } from '../helpers/cli.js';
import {
  PG_STORE_URL,
  TEST_DATA_DIRS,
  createPgSchema,
  tempDir,
  uniqueName,
} from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';
import { STORE_KINDS } from '../helpers/stores.js';

/**
 * `freight serve` as an operator runs it: a child process listening on a real port, driven with
 * fetch over real HTTP; the one-time admin key on first start; FREIGHT_BOOTSTRAP_ADMIN_KEY; and
 * `freight tenants create` / `freight keys create` writing to the same store as the running server.
 * Needs the built CLI (`npm run build`; `npm test` builds first).
 */

const pgUp = await hasService('postgres');
const KEY_FORMAT = /^fk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;
const PLANTED = 'Srv-Pl4nted-zq7';

interface Server {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stdout: () => string;
  stderr: () => string;
  stop: (
    signal?: NodeJS.Signals,
  ) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `freight serve` on a free port (PORT=0) and waits for the address it reports. */
function startServer(env: Record<string, string>): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--concurrency', '2'], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        PORT: '0',
        HOST: '127.0.0.1',
        ...env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
      child.on('exit', (code, signal) => res({ code, signal })),
    );
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`freight serve did not start in 20 s:\n${err}`));
    }, 20_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /API on (http:\/\/[^\s(]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({
          child,
          url: m[1]!,
          stdout: () => out,
          stderr: () => err,
          stop: async (signal = 'SIGTERM') => {
            child.kill(signal);
            const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
            const r = await exited;
            clearTimeout(t);
            return r;
          },
        });
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`freight serve exited (${code}) before listening:\n${err}`));
    });
  });
}

async function call(
  base: string,
  method: string,
  path: string,
  o: { key?: string; tenant?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(o.key ? { authorization: `Bearer ${o.key}` } : {}),
      ...(o.tenant ? { 'x-tenant-id': o.tenant } : {}),
      ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...o.headers,
    },
    ...(o.body !== undefined
      ? { body: typeof o.body === 'string' ? o.body : JSON.stringify(o.body) }
      : {}),
  });
  const text = await res.text();
  // Parsed JSON, as loose as JSON.parse gives it: tests read the fields they check.
  let json: ReturnType<typeof JSON.parse> = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (HTML, CSV)
  }
  return { status: res.status, headers: res.headers, text, json };
}

const lastLine = (s: string) => s.trim().split('\n').at(-1)!.trim();

describe.each(STORE_KINDS)('freight serve and the admin CLI on the %s store', (kind) => {
  const skip = !pgUp;
  const home = tempDir();
  const schema = uniqueName('fserve');
  const env: Record<string, string> = {
    FREIGHT_HOME: home.dir,
    FREIGHT_DATA_DIRS: TEST_DATA_DIRS,
    LOG_LEVEL: 'info',
    ...(kind === 'postgresql'
      ? {
          DATABASE_URL: PG_STORE_URL,
          FREIGHT_DB_SCHEMA: schema,
          FREIGHT_SECRET_KEY: 'serve-test-secret-0123456789abcdef',
        }
      : {}),
  };
  const sample = home.file('shop.db');
  let target: Awaited<ReturnType<typeof createPgSchema>>;
  let server: Server | null = null;
  let adminKey = '';

  beforeAll(async () => {
    if (skip) return;
    target = await createPgSchema('fserve_t');
    createSampleDatabase(sample, 0.02);
  });
  afterAll(async () => {
    if (skip) return;
    if (server) await server.stop('SIGKILL');
    await target?.drop();
    if (kind === 'postgresql') {
      const client = new pg.Client({ connectionString: PG_STORE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
    home.remove();
  });

  it.skipIf(skip)(
    'the first start prints a one-time admin key to stderr; it works over real HTTP; a restart prints none; SIGTERM exits 0',
    async () => {
      server = await startServer(env);
      const m = /First start:[\s\S]*?\n\s+(fk_\S+)\n/.exec(server.stderr());
      expect(m, server.stderr()).not.toBeNull();
      adminKey = m![1]!;
      expect(adminKey).toMatch(KEY_FORMAT);
      expect(server.stdout()).not.toContain(adminKey);
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

      const health = await call(server.url, 'GET', '/health');
      expect(health.status).toBe(200);
      expect(health.json).toMatchObject({
        status: 'ok',
        checks: { store: { ok: true }, queue: { ok: true } },
      });
      expect(health.headers.get('x-request-id')).toBeTruthy();
      expect(health.headers.get('x-content-type-options')).toBe('nosniff');
      const tenants = await call(server.url, 'GET', '/api/v1/admin/tenants', { key: adminKey });
      expect(tenants.status).toBe(200);
      expect(tenants.json.tenants.map((t: { tenant_id: string }) => t.tenant_id)).toEqual([
        'platform',
      ]);
      expect((await call(server.url, 'GET', '/api/v1/admin/tenants')).status).toBe(401);
      const docs = await call(server.url, 'GET', '/docs');
      expect(docs.status).toBe(200);
      expect(docs.headers.get('content-type')).toContain('text/html');
      expect((await call(server.url, 'GET', '/openapi.json')).json.openapi).toMatch(/^3\.1/);

      const stopped = await server.stop('SIGTERM');
      server = null;
      expect(stopped).toEqual({ code: 0, signal: null });

      // Same store: no new key, the first one still works.
      server = await startServer(env);
      expect(server.stderr()).not.toContain('First start');
      expect(server.stderr()).not.toMatch(/fk_[0-9a-f]{12}_/);
      expect(
        (await call(server.url, 'GET', '/api/v1/admin/keys', { key: adminKey })).json.keys,
      ).toHaveLength(1);
    },
  );

  it.skipIf(skip)(
    '`freight tenants create` and `freight keys create` print the id and the key last on stdout; the key works at once against the running server, which runs a job to completion',
    async () => {
      expect(server).not.toBeNull();
      const base = server!.url;
      const tenant = `acme-${kind}`;
      const t = await freight(['tenants', 'create', tenant], env);
      expect(t.code, t.stderr).toBe(0);
      expect(lastLine(t.stdout)).toBe(tenant);
      const k = await freight(['keys', 'create', '--tenant', tenant, '--role', 'engineer'], env);
      expect(k.code, k.stderr).toBe(0);
      const key = lastLine(k.stdout);
      expect(key).toMatch(KEY_FORMAT);
      expect(k.stderr).toContain('shown once');
      expect(k.stderr).not.toContain(key);
      const bad = await freight(['keys', 'create', '--tenant', tenant, '--role', 'superuser'], env);
      expect(bad.code).not.toBe(0);
      const missing = await freight(
        ['keys', 'create', '--tenant', 'no-such-tenant', '--role', 'viewer'],
        env,
      );
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('NOT_FOUND');

      // The server sees the CLI's tenant and key (one store).
      const listed = await call(base, 'GET', '/api/v1/admin/tenants', { key: adminKey });
      expect(listed.json.tenants.map((x: { tenant_id: string }) => x.tenant_id)).toContain(tenant);
      expect((await call(base, 'GET', '/api/v1/jobs', { key, tenant })).status).toBe(200);
      expect((await call(base, 'GET', '/api/v1/admin/tenants', { key })).status).toBe(403);
      expect((await call(base, 'GET', '/api/v1/jobs', { key, tenant: 'platform' })).status).toBe(
        403,
      );

      // A job over real HTTP: SQLite sample → PostgreSQL (the target URL carries a password PostgreSQL ignores).
      const created = await call(base, 'POST', '/api/v1/jobs', {
        key,
        tenant,
        body: {
          source_config: `sqlite:${sample}`,
          target_config: `postgresql://postgres:${PLANTED}@127.0.0.1:5432/test?schema=${target.name}`,
          batch_size: 400,
          started_by: 'serve-test',
        },
      });
      expect(created.status, created.text).toBe(201);
      const jobId = created.json.job_id as string;
      const deadline = Date.now() + 40_000;
      let job: ReturnType<typeof JSON.parse>;
      for (;;) {
        job = (await call(base, 'GET', `/api/v1/jobs/${jobId}`, { key, tenant })).json;
        if (
          ['completed', 'completed_with_errors', 'failed', 'cancelled'].includes(job.status) ||
          Date.now() > deadline
        )
          break;
        await new Promise((r) => setTimeout(r, 150));
      }
      expect(job.status, JSON.stringify(job.error)).toBe('completed');
      expect(job.tables).toHaveLength(5);
      const orders = await target.query(`SELECT count(*)::int AS n FROM "${target.name}".orders`);
      expect(orders.rows[0].n).toBe(
        job.tables.find((x: { table: string }) => x.table === 'orders').rows_written,
      );

      // The export link points at this server and downloads over HTTP without headers.
      const link = await call(base, 'GET', `/api/v1/logs/export/${jobId}?format=csv`, {
        key,
        tenant,
      });
      expect(link.status).toBe(200);
      expect(link.json.export_url.startsWith(`${base}/api/v1/exports/`)).toBe(true);
      const file = await fetch(link.json.export_url);
      expect(file.status).toBe(200);
      expect(file.headers.get('content-type')).toContain('text/csv');
      expect((await file.text()).split('\r\n')[0]).toMatch(/^log_id,created_at,table/);

      // Real HTTP errors: malformed JSON, an oversized body, an unknown route; the request id is echoed.
      const malformed = await call(base, 'POST', '/api/v1/jobs', {
        key,
        tenant,
        body: '{"source_config": ',
      });
      expect(malformed.status).toBe(400);
      expect(malformed.json.error.code).toBe('BAD_REQUEST');
      const huge = await call(base, 'POST', '/api/v1/jobs', {
        key,
        tenant,
        body: JSON.stringify({ started_by: 'x'.repeat(1_100_000) }),
      });
      expect(huge.status).toBe(413);
      expect(huge.json).toMatchObject({
        error: { code: 'PAYLOAD_TOO_LARGE' },
        request_id: expect.any(String),
      });
      const unknown = await call(base, 'GET', '/api/v1/nothing', {
        key,
        tenant,
        headers: { 'x-request-id': 'serve-test-0001' },
      });
      expect(unknown.status).toBe(404);
      expect(unknown.json).toEqual({
        error: { code: 'NOT_FOUND', message: 'no route GET /api/v1/nothing' },
        request_id: 'serve-test-0001',
      });
      expect(unknown.headers.get('x-request-id')).toBe('serve-test-0001');

      // Revoking with the CLI takes effect on the running server at once.
      const keyId = key.slice(3, 15);
      const list = await freight(['keys', 'list', '--tenant', tenant], env);
      expect(list.stdout).toContain(keyId);
      expect(list.stdout).not.toContain(key.slice(16));
      const revoked = await freight(['keys', 'revoke', keyId], env);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect((await call(base, 'GET', '/api/v1/jobs', { key, tenant })).status).toBe(401);

      // The server's log (JSON lines, on stdout or stderr) has the requests, and no key or password;
      // the rest of its output has only the one-time admin key banner of the first start.
      const output = `${server!.stdout()}\n${server!.stderr()}`.split('\n');
      const logLines = output.filter((l) => l.startsWith('{'));
      expect(logLines.some((l) => l.includes('"url":"/api/v1/jobs"'))).toBe(true);
      for (const secret of [adminKey, key, key.slice(16), PLANTED]) {
        expect(
          logLines.some((l) => l.includes(secret)),
          `server log contains ${secret.slice(0, 8)}…`,
        ).toBe(false);
      }
      for (const secret of [key, key.slice(16), PLANTED])
        expect(
          output.some((l) => l.includes(secret)),
          `server output contains ${secret.slice(0, 8)}…`,
        ).toBe(false);

      const stopped = await server!.stop('SIGTERM');
      server = null;
      expect(stopped).toEqual({ code: 0, signal: null });
    },
  );

  it.skipIf(skip)(
    'FREIGHT_BOOTSTRAP_ADMIN_KEY is the admin key of a fresh store, and is never printed',
    async () => {
      const fresh = tempDir();
      const freshSchema = uniqueName('fserve_b');
      const preset = `operator-chosen-admin-key-${uniqueName('k')}`;
      const s = await startServer({
        ...env,
        FREIGHT_HOME: fresh.dir,
        FREIGHT_BOOTSTRAP_ADMIN_KEY: preset,
        ...(kind === 'postgresql' ? { FREIGHT_DB_SCHEMA: freshSchema } : {}),
      });
      try {
        expect(s.stderr()).not.toContain('First start');
        expect(s.stderr()).not.toContain(preset);
        expect(s.stdout()).not.toContain(preset);
        const r = await call(s.url, 'GET', '/api/v1/admin/tenants', { key: preset });
        expect(r.status, r.text).toBe(200);
        expect(r.json.tenants.map((t: { tenant_id: string }) => t.tenant_id)).toEqual(['platform']);
        // It is an admin: it can make a tenant and a key, and the key it makes works.
        expect(
          (
            await call(s.url, 'POST', '/api/v1/admin/tenants', {
              key: preset,
              body: { tenant_id: 'globex' },
            })
          ).status,
        ).toBe(201);
        const made = await call(s.url, 'POST', '/api/v1/admin/keys', {
          key: preset,
          body: { tenant_id: 'globex', role: 'viewer' },
        });
        expect(made.status).toBe(201);
        expect(
          (await call(s.url, 'GET', '/api/v1/jobs', { key: made.json.key, tenant: 'globex' }))
            .status,
        ).toBe(200);
        // The old store's key means nothing here.
        expect((await call(s.url, 'GET', '/api/v1/admin/tenants', { key: adminKey })).status).toBe(
          401,
        );
      } finally {
        expect(await s.stop('SIGTERM')).toEqual({ code: 0, signal: null });
        fresh.remove();
        if (kind === 'postgresql') {
          const client = new pg.Client({ connectionString: PG_STORE_URL });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS "${freshSchema}" CASCADE`);
          await client.end();
        }
      }
    },
  );
});
