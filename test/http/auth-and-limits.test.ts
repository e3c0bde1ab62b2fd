import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSampleDatabase } from '../../src/connectors/sqlite/sqlite-sample.js';
import type { Role } from '../../src/domain/access.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { PG_STORE_URL, createPgSchema, tempDir, uniqueName } from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';
import { dumpStore } from '../helpers/store-dump.js';
import { STORE_KINDS } from '../helpers/stores.js';

/**
 * DESIGN.md §3 and §6 against the running API: API keys (random, shown once, hashed), JWTs from
 * the token exchange (role-bearing, dead once their key is revoked), the three roles, per-tenant
 * rate limits, the audit trail, and the one error shape (404, 400, 413, 429, 500) with request ids.
 */

const pgUp = await hasService('postgres');
const KEY_FORMAT = /^fk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Res = Awaited<ReturnType<TestApi['request']>>;

/** An audit event as the API returns it. */
interface AuditEventView {
  event_id: number;
  at: string;
  tenant_id: string | null;
  actor: string | null;
  role: string | null;
  action: string;
  method: string;
  path: string;
  target: string | null;
  status: number;
  result: 'success' | 'failure';
  request_id: string | null;
}

function expectError(
  r: Pick<Res, 'statusCode' | 'headers' | 'json' | 'body'>,
  status: number,
  code: string,
): void {
  expect(r.statusCode, r.body).toBe(status);
  const body = r.json();
  expect(body).toEqual({
    error: {
      code,
      message: expect.any(String),
      ...(body.error?.details ? { details: expect.any(Object) } : {}),
    },
    request_id: expect.any(String),
  });
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(r.headers['x-request-id']).toBe(body.request_id);
}

const decodeJwt = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe.each(STORE_KINDS)('keys, tokens, roles, audit and errors on the %s store', (kind) => {
  const skip = !pgUp;
  const files = tempDir();
  const sample = files.file('shop.db');
  let api: TestApi;
  let target: Awaited<ReturnType<typeof createPgSchema>>;
  let T: Awaited<ReturnType<TestApi['tenant']>>;
  let other: Awaited<ReturnType<TestApi['tenant']>>;
  const keyIds = {} as Record<Role | 'bootstrap', string>;
  /** Request ids of calls the audit trail must show, by what they were. */
  const calls: Record<string, Res> = {};
  const jobs = { completed: '', failed: '', cancelled: '' };

  const as = (role: Role) => ({ key: T.keys[role], tenant: T.id });
  const jobBody = (extra: Record<string, unknown> = {}) => ({
    source_config: `sqlite:${sample}`,
    target_config: `postgresql://postgres@127.0.0.1:5432/test?schema=${target.name}`,
    tables: ['customers', 'products'],
    ...extra,
  });

  beforeAll(async () => {
    if (skip) return;
    api = await startTestApi(kind);
    target = await createPgSchema('fauth');
    createSampleDatabase(sample, 0.02);
    T = await api.tenant();
    other = await api.tenant();
    const keys = (await api.request('GET', `/api/v1/admin/keys?tenant_id=${T.id}`)).json()
      .keys as Array<{ key_id: string; role: Role }>;
    for (const k of keys) keyIds[k.role] = k.key_id;
    keyIds.bootstrap = api.adminKey.slice(3, 15);
  });
  afterAll(async () => {
    if (skip) return;
    await api?.close();
    await target?.drop();
    files.remove();
  });

  it.skipIf(skip)(
    'API keys are random, shown once at creation, never listed, and stored as SHA-256 only',
    async () => {
      const made: Array<{ key: string; key_id: string }> = [];
      for (const role of ['viewer', 'engineer'] as const) {
        const r = await api.request('POST', '/api/v1/admin/keys', {
          body: { tenant_id: T.id, role, name: `${role} for the key test` },
        });
        expect(r.statusCode, r.body).toBe(201);
        const body = r.json();
        expect(body.key).toMatch(KEY_FORMAT);
        expect(body.key).toContain(body.key_id);
        expect(body).toMatchObject({
          tenant_id: T.id,
          role,
          revoked_at: null,
          created_by: keyIds.bootstrap,
        });
        expect(Object.keys(body)).not.toContain('secret_hash');
        made.push(body);
      }
      expect(made[0]!.key).not.toBe(made[1]!.key);
      expect(made[0]!.key.slice(16)).not.toBe(made[1]!.key.slice(16));

      const listed = await api.request('GET', `/api/v1/admin/keys?tenant_id=${T.id}`);
      expect(listed.statusCode).toBe(200);
      const ids = listed.json().keys.map((k: { key_id: string }) => k.key_id);
      for (const m of made) {
        expect(ids).toContain(m.key_id);
        expect(listed.body).not.toContain(m.key.slice(16));
      }
      for (const k of listed.json().keys)
        expect(Object.keys(k).sort()).toEqual([
          'created_at',
          'created_by',
          'expires_at',
          'key_id',
          'last_used_at',
          'name',
          'revoked_at',
          'role',
          'tenant_id',
        ]);
      const all = await api.request('GET', '/api/v1/admin/keys');
      for (const m of made) expect(all.body).not.toContain(m.key.slice(16));

      // Usable at once; last use recorded.
      expect(
        (await api.request('GET', '/api/v1/jobs', { key: made[0]!.key, tenant: T.id })).statusCode,
      ).toBe(200);

      // At rest: the SHA-256 of the secret, never the key or the secret.
      const { rows, raw } = await dumpStore(api.proc.services.config);
      const stored = rows.api_keys!.map((l) => JSON.parse(l) as Record<string, string>);
      for (const m of made) {
        const secret = m.key.slice(16);
        const row = stored.find((s) => s.id === m.key_id)!;
        expect(row.secret_hash).toBe(createHash('sha256').update(secret).digest('hex'));
        for (const text of [...Object.values(rows).flat(), raw]) {
          expect(text.includes(secret)).toBe(false);
          expect(text.includes(m.key)).toBe(false);
        }
      }
      for (const key of Object.values(T.keys)) expect(raw.includes(key.slice(16))).toBe(false);

      // A key past its expiry, and a key of another tenant with this tenant's header, do not get in.
      const expired = await api.request('POST', '/api/v1/admin/keys', {
        body: {
          tenant_id: T.id,
          role: 'viewer',
          expires_at: new Date(Date.now() - 1000).toISOString(),
        },
      });
      expect(expired.statusCode).toBe(201);
      expectError(
        await api.request('GET', '/api/v1/jobs', { key: expired.json().key, tenant: T.id }),
        401,
        'UNAUTHENTICATED',
      );
      expectError(
        await api.request('GET', '/api/v1/jobs', { key: other.keys.viewer, tenant: T.id }),
        403,
        'FORBIDDEN',
      );
      // Keys for a tenant that does not exist cannot be made.
      expectError(
        await api.request('POST', '/api/v1/admin/keys', {
          body: { tenant_id: 'no-such-tenant', role: 'viewer' },
        }),
        404,
        'NOT_FOUND',
      );
    },
  );

  it.skipIf(skip)(
    'the token exchange turns a key (in the body, or as the Bearer credential) into a JWT that carries tenant and role and dies with its key',
    async () => {
      const key = (
        await api.request('POST', '/api/v1/admin/keys', {
          body: { tenant_id: T.id, role: 'engineer' },
        })
      ).json();
      // Body form, no Authorization header at all.
      const byBody = await api.request('POST', '/api/v1/auth/token', {
        key: null,
        body: { api_key: key.key },
      });
      expect(byBody.statusCode, byBody.body).toBe(200);
      expect(byBody.json()).toMatchObject({
        token_type: 'Bearer',
        tenant_id: T.id,
        role: 'engineer',
        access_token: expect.any(String),
      });
      // Bearer form, with an empty body, and with no body at all.
      const byBearer = await api.request('POST', '/api/v1/auth/token', { key: key.key, body: {} });
      expect(byBearer.statusCode, byBearer.body).toBe(200);
      const noBody = await api.app.inject({
        method: 'POST',
        url: '/api/v1/auth/token',
        headers: { authorization: `Bearer ${key.key}` },
      });
      expect(noBody.statusCode, noBody.body).toBe(200);

      const token = byBody.json().access_token as string;
      const claims = decodeJwt(token);
      expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toMatchObject({
        alg: 'HS256',
      });
      expect(claims).toMatchObject({
        iss: 'freight',
        aud: 'freight-api',
        sub: key.key_id,
        tenant: T.id,
        role: 'engineer',
      });
      expect((claims.exp as number) - (claims.iat as number)).toBe(24 * 3600);
      expect(Math.abs(byBody.json().expires_in - 24 * 3600)).toBeLessThan(5);
      expect(Date.parse(byBody.json().expires_at)).toBe((claims.exp as number) * 1000);

      // The token works on tenant routes with the key's role.
      expect(
        (await api.request('GET', '/api/v1/jobs', { key: token, tenant: T.id })).statusCode,
      ).toBe(200);
      const created = await api.request('POST', '/api/v1/jobs', {
        key: token,
        tenant: T.id,
        body: jobBody({ started_by: 'jwt' }),
      });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.json().started_by).toBe('jwt');
      // Let it finish: the next test's jobs write the same target tables.
      await api.waitForJob(T.id, T.keys.viewer, created.json().job_id);
      expectError(
        await api.request('GET', '/api/v1/jobs', { key: token, tenant: other.id }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await api.request('GET', '/api/v1/admin/tenants', { key: token }),
        403,
        'FORBIDDEN',
      );

      // A viewer's token is a viewer.
      const viewerToken = (
        await api.request('POST', '/api/v1/auth/token', {
          key: null,
          body: { api_key: T.keys.viewer },
        })
      ).json().access_token as string;
      expect(decodeJwt(viewerToken).role).toBe('viewer');
      expect(
        (
          await api.request('GET', `/api/v1/jobs/${created.json().job_id}`, {
            key: viewerToken,
            tenant: T.id,
          })
        ).statusCode,
      ).toBe(200);
      expectError(
        await api.request('POST', '/api/v1/jobs', {
          key: viewerToken,
          tenant: T.id,
          body: jobBody(),
        }),
        403,
        'FORBIDDEN',
      );

      // A token buys no other token, whichever way it is presented.
      expectError(
        await api.request('POST', '/api/v1/auth/token', { key: token, body: {} }),
        401,
        'UNAUTHENTICATED',
      );
      expectError(
        await api.request('POST', '/api/v1/auth/token', { key: null, body: { api_key: token } }),
        401,
        'UNAUTHENTICATED',
      );
      expectError(
        await api.request('POST', '/api/v1/auth/token', { key: token, body: { api_key: token } }),
        401,
        'UNAUTHENTICATED',
      );
      // Nor does a wrong key, or nothing.
      expectError(
        await api.request('POST', '/api/v1/auth/token', {
          key: null,
          body: { api_key: `${key.key.slice(0, 16)}${'x'.repeat(43)}` },
        }),
        401,
        'UNAUTHENTICATED',
      );
      expectError(
        await api.request('POST', '/api/v1/auth/token', { key: null, body: {} }),
        401,
        'UNAUTHENTICATED',
      );

      // Revoking the key kills the key and every token issued for it, at once.
      const bearerToken = byBearer.json().access_token as string;
      expect((await api.request('DELETE', `/api/v1/admin/keys/${key.key_id}`)).statusCode).toBe(
        200,
      );
      for (const credential of [token, bearerToken, key.key])
        expectError(
          await api.request('GET', '/api/v1/jobs', { key: credential, tenant: T.id }),
          401,
          'UNAUTHENTICATED',
        );
      expectError(
        await api.request('POST', '/api/v1/auth/token', { key: null, body: { api_key: key.key } }),
        401,
        'UNAUTHENTICATED',
      );
      // The viewer's token is untouched by another key's revocation.
      expect(
        (await api.request('GET', '/api/v1/jobs', { key: viewerToken, tenant: T.id })).statusCode,
      ).toBe(200);
    },
  );

  it.skipIf(skip)(
    'roles: viewer reads, engineer also creates, retries, cancels and exports, admin does everything for any existing tenant',
    async () => {
      // Jobs in the states the checks need: completed, failed (unreachable source), cancelled (at once).
      const c = await api.request('POST', '/api/v1/jobs', { ...as('engineer'), body: jobBody() });
      calls.createOk = c;
      jobs.completed = c.json().job_id;
      const f = await api.request('POST', '/api/v1/jobs', {
        ...as('engineer'),
        body: {
          source_config: { type: 'mysql', host: '127.0.0.1', port: 1, database: 'x', user: 'root' },
          target_config: jobBody().target_config,
          max_retries: 0,
        },
      });
      jobs.failed = f.json().job_id;
      const completed = await api.waitForJob(T.id, T.keys.viewer, jobs.completed);
      expect(completed.status, JSON.stringify(completed.error)).toBe('completed');
      expect((await api.waitForJob(T.id, T.keys.viewer, jobs.failed)).status).toBe('failed');

      const viewerReads = [
        '/api/v1/jobs',
        `/api/v1/jobs/${jobs.completed}`,
        `/api/v1/jobs/${jobs.completed}/progress`,
        `/api/v1/jobs/${jobs.completed}/batches`,
        `/api/v1/jobs/${jobs.completed}/logs`,
        '/api/v1/stats/jobs',
        '/api/v1/workers/status',
      ];
      for (const url of viewerReads)
        for (const role of ['viewer', 'engineer', 'admin'] as const)
          expect((await api.request('GET', url, as(role))).statusCode, `${role} GET ${url}`).toBe(
            200,
          );

      // Viewer: nothing that changes anything, no export.
      calls.createForbidden = await api.request('POST', '/api/v1/jobs', {
        ...as('viewer'),
        body: jobBody(),
      });
      expectError(calls.createForbidden, 403, 'FORBIDDEN');
      calls.retryForbidden = await api.request('POST', `/api/v1/jobs/${jobs.failed}/retry`, {
        ...as('viewer'),
        body: {},
      });
      expectError(calls.retryForbidden, 403, 'FORBIDDEN');
      calls.cancelForbidden = await api.request(
        'DELETE',
        `/api/v1/jobs/${jobs.completed}`,
        as('viewer'),
      );
      expectError(calls.cancelForbidden, 403, 'FORBIDDEN');
      calls.exportForbidden = await api.request(
        'GET',
        `/api/v1/logs/export/${jobs.completed}`,
        as('viewer'),
      );
      expectError(calls.exportForbidden, 403, 'FORBIDDEN');

      // Engineer: creates, retries, cancels, exports — but no admin operation.
      calls.retryOk = await api.request('POST', `/api/v1/jobs/${jobs.failed}/retry`, {
        ...as('engineer'),
        body: {},
      });
      expect(calls.retryOk.statusCode, calls.retryOk.body).toBe(202);
      calls.retryConflict = await api.request('POST', `/api/v1/jobs/${jobs.completed}/retry`, {
        ...as('engineer'),
        body: {},
      });
      expectError(calls.retryConflict, 409, 'CONFLICT');
      calls.cancelConflict = await api.request(
        'DELETE',
        `/api/v1/jobs/${jobs.completed}`,
        as('engineer'),
      );
      expectError(calls.cancelConflict, 409, 'CONFLICT');
      const toCancel = await api.request('POST', '/api/v1/jobs', {
        ...as('engineer'),
        body: jobBody({ tables: ['customers'], batch_size: 10, concurrency: 1 }),
      });
      jobs.cancelled = toCancel.json().job_id;
      calls.cancelOk = await api.request(
        'DELETE',
        `/api/v1/jobs/${jobs.cancelled}`,
        as('engineer'),
      );
      expect(calls.cancelOk.statusCode, calls.cancelOk.body).toBe(202);
      expect((await api.waitForJob(T.id, T.keys.viewer, jobs.cancelled)).status).toBe('cancelled');
      calls.exportOk = await api.request(
        'GET',
        `/api/v1/logs/export/${jobs.completed}?format=jsonl`,
        as('engineer'),
      );
      expect(calls.exportOk.statusCode).toBe(200);
      const adminOps: Array<[string, string, unknown?]> = [
        ['GET', '/api/v1/admin/tenants'],
        ['POST', '/api/v1/admin/tenants', { tenant_id: 'never-made' }],
        ['GET', '/api/v1/admin/keys'],
        ['POST', '/api/v1/admin/keys', { tenant_id: T.id, role: 'admin' }],
        ['DELETE', `/api/v1/admin/keys/${keyIds.viewer}`],
        ['GET', '/api/v1/admin/audit'],
        ['GET', '/api/v1/stats/tenants'],
      ];
      for (const role of ['viewer', 'engineer'] as const) {
        for (const [method, url, body] of adminOps) {
          const r = await api.request(method, url, {
            key: T.keys[role],
            ...(body ? { body } : {}),
          });
          expectError(r, 403, 'FORBIDDEN');
          if (method === 'DELETE') calls.revokeForbidden = r;
        }
      }
      // Nothing the refused calls asked for happened.
      expect((await api.request('GET', '/api/v1/jobs', as('viewer'))).statusCode).toBe(200);
      expect(
        (await api.request('GET', '/api/v1/admin/tenants'))
          .json()
          .tenants.map((t: { tenant_id: string }) => t.tenant_id),
      ).not.toContain('never-made');

      // Admin (this tenant's admin key): every admin operation, and any existing tenant.
      for (const [method, url, body] of adminOps.filter(([m]) => m === 'GET'))
        expect(
          (await api.request(method, url, { key: T.keys.admin, ...(body ? { body } : {}) }))
            .statusCode,
          url,
        ).toBe(200);
      const forOther = await api.request('GET', '/api/v1/jobs', {
        key: T.keys.admin,
        tenant: other.id,
      });
      expect(forOther.statusCode).toBe(200);
      expect(
        forOther.json().jobs.every((j: { tenant_id: string }) => j.tenant_id === other.id),
      ).toBe(true);
      const otherJob = await api.request('POST', '/api/v1/jobs', {
        key: T.keys.admin,
        tenant: other.id,
        body: jobBody({ tables: ['products'] }),
      });
      expect(otherJob.statusCode, otherJob.body).toBe(201);
      expect(otherJob.json().tenant_id).toBe(other.id);
      expect(
        (
          await api.request('GET', `/api/v1/jobs/${otherJob.json().job_id}`, {
            key: other.keys.viewer,
            tenant: other.id,
          })
        ).statusCode,
      ).toBe(200);
      expectError(
        await api.request('GET', '/api/v1/jobs', { key: T.keys.admin, tenant: 'no-such-tenant' }),
        404,
        'NOT_FOUND',
      );
      expectError(
        await api.request('GET', '/api/v1/jobs', { key: T.keys.admin, tenant: 'Not A Tenant!' }),
        400,
        'VALIDATION_FAILED',
      );
      await api.waitForJob(other.id, other.keys.viewer, otherJob.json().job_id);
    },
  );

  it.skipIf(skip)(
    'the audit trail records creations, cancels, retries, exports and key changes — failures included — with actor, tenant, action, status and result; admins only',
    async () => {
      // Key creation and revocation (and a failed revocation).
      calls.keyCreate = await api.request('POST', '/api/v1/admin/keys', {
        body: { tenant_id: T.id, role: 'viewer', name: 'audited' },
      });
      calls.keyRevoke = await api.request(
        'DELETE',
        `/api/v1/admin/keys/${calls.keyCreate.json().key_id}`,
      );
      calls.keyRevokeMissing = await api.request('DELETE', '/api/v1/admin/keys/nosuchkey00');
      expectError(calls.keyRevokeMissing, 404, 'NOT_FOUND');
      calls.unauthenticated = await api.request('POST', '/api/v1/jobs', {
        key: 'fk_000000000000_' + 'Z'.repeat(43),
        tenant: T.id,
        body: jobBody(),
      });
      expectError(calls.unauthenticated, 401, 'UNAUTHENTICATED');

      for (const role of ['viewer', 'engineer'] as const)
        expectError(
          await api.request('GET', '/api/v1/admin/audit', { key: T.keys[role] }),
          403,
          'FORBIDDEN',
        );
      const audit = await api.request('GET', '/api/v1/admin/audit?limit=500');
      expect(audit.statusCode).toBe(200);
      const events = audit.json().events as AuditEventView[];
      const eventOf = (name: string) => {
        const r = calls[name]!;
        const e = events.find((x) => x.request_id === r.headers['x-request-id']);
        expect(e, `audit event for ${name} (${r.statusCode})`).toBeDefined();
        expect(e!.status).toBe(r.statusCode);
        expect(e!.result).toBe(r.statusCode < 400 ? 'success' : 'failure');
        expect(Date.parse(e!.at)).toBeGreaterThan(Date.now() - 120_000);
        return e!;
      };
      expect(eventOf('createOk')).toMatchObject({
        action: 'create_migration_job',
        actor: keyIds.engineer,
        role: 'engineer',
        tenant_id: T.id,
        target: jobs.completed,
        method: 'POST',
        path: '/api/v1/jobs',
      });
      expect(eventOf('createForbidden')).toMatchObject({
        action: 'create_migration_job',
        actor: keyIds.viewer,
        role: 'viewer',
        tenant_id: T.id,
        status: 403,
      });
      expect(eventOf('retryOk')).toMatchObject({
        action: 'retry_migration_job',
        actor: keyIds.engineer,
        tenant_id: T.id,
        target: jobs.failed,
        status: 202,
      });
      expect(eventOf('retryConflict')).toMatchObject({
        action: 'retry_migration_job',
        actor: keyIds.engineer,
        target: jobs.completed,
        status: 409,
        result: 'failure',
      });
      expect(eventOf('retryForbidden')).toMatchObject({
        action: 'retry_migration_job',
        actor: keyIds.viewer,
        target: jobs.failed,
        status: 403,
      });
      expect(eventOf('cancelOk')).toMatchObject({
        action: 'cancel_migration_job',
        actor: keyIds.engineer,
        tenant_id: T.id,
        target: jobs.cancelled,
        method: 'DELETE',
        status: 202,
      });
      expect(eventOf('cancelConflict')).toMatchObject({
        action: 'cancel_migration_job',
        target: jobs.completed,
        status: 409,
      });
      expect(eventOf('cancelForbidden')).toMatchObject({
        action: 'cancel_migration_job',
        actor: keyIds.viewer,
        status: 403,
      });
      expect(eventOf('exportOk')).toMatchObject({
        action: 'export_migration_logs',
        actor: keyIds.engineer,
        tenant_id: T.id,
        target: jobs.completed,
        status: 200,
      });
      expect(eventOf('exportForbidden')).toMatchObject({
        action: 'export_migration_logs',
        actor: keyIds.viewer,
        status: 403,
      });
      expect(eventOf('keyCreate')).toMatchObject({
        action: 'create_api_key',
        actor: keyIds.bootstrap,
        role: 'admin',
        target: calls.keyCreate!.json().key_id,
        status: 201,
      });
      expect(eventOf('keyRevoke')).toMatchObject({
        action: 'revoke_api_key',
        actor: keyIds.bootstrap,
        target: calls.keyCreate!.json().key_id,
        status: 200,
      });
      expect(eventOf('keyRevokeMissing')).toMatchObject({
        action: 'revoke_api_key',
        target: 'nosuchkey00',
        status: 404,
        result: 'failure',
      });
      expect(eventOf('revokeForbidden')).toMatchObject({
        action: 'revoke_api_key',
        actor: keyIds.engineer,
        status: 403,
        result: 'failure',
      });
      expect(eventOf('unauthenticated')).toMatchObject({
        action: 'create_migration_job',
        actor: null,
        status: 401,
        result: 'failure',
      });
      // Reads are not audited.
      expect(
        events.some((e) => e.action === 'list_migration_jobs' || e.action === 'get_migration_job'),
      ).toBe(false);
      // Newest first; filters by tenant and action; pages with a cursor.
      expect(events.map((e) => e.event_id)).toEqual(
        [...events.map((e) => e.event_id)].sort((x, y) => y - x),
      );
      const mine = (
        await api.request('GET', `/api/v1/admin/audit?tenant_id=${T.id}&limit=500`)
      ).json().events as AuditEventView[];
      expect(mine.length).toBeGreaterThan(5);
      expect(mine.every((e) => e.tenant_id === T.id)).toBe(true);
      const cancels = (
        await api.request('GET', '/api/v1/admin/audit?action=cancel_migration_job')
      ).json().events as AuditEventView[];
      expect(cancels.length).toBeGreaterThanOrEqual(3);
      expect(cancels.every((e) => e.action === 'cancel_migration_job')).toBe(true);
      const page1 = (await api.request('GET', '/api/v1/admin/audit?limit=2')).json();
      const page2 = (
        await api.request('GET', `/api/v1/admin/audit?limit=2&cursor=${page1.next_cursor}`)
      ).json();
      expect(page2.events[0].event_id).toBeLessThan(page1.events[1].event_id);
    },
  );

  it.skipIf(skip)(
    'errors have one shape: unknown route 404, malformed JSON 400, wrong media type, oversized body 413; every response has a request id, and a sane incoming X-Request-ID is echoed',
    async () => {
      const unknown = await api.request('GET', '/api/v1/nope?x=1', as('viewer'));
      expectError(unknown, 404, 'NOT_FOUND');
      expect(unknown.json().error.message).toBe('no route GET /api/v1/nope');
      expectError(await api.request('PUT', '/api/v1/jobs', as('engineer')), 404, 'NOT_FOUND');
      expectError(await api.request('GET', '/nothing-here', { key: null }), 404, 'NOT_FOUND');

      const malformed = await api.request('POST', '/api/v1/jobs', {
        ...as('engineer'),
        body: '{"source_config": "sqlite:/x", ',
      });
      expectError(malformed, 400, 'BAD_REQUEST');
      const empty = await api.app.inject({
        method: 'POST',
        url: '/api/v1/jobs',
        headers: {
          authorization: `Bearer ${T.keys.engineer}`,
          'x-tenant-id': T.id,
          'content-type': 'application/json',
        },
        payload: '',
      });
      expect(empty.statusCode).toBe(400);
      expect(empty.json().error.code).toMatch(/BAD_REQUEST|VALIDATION_FAILED/);
      const textPlain = await api.app.inject({
        method: 'POST',
        url: '/api/v1/jobs',
        headers: {
          authorization: `Bearer ${T.keys.engineer}`,
          'x-tenant-id': T.id,
          'content-type': 'text/plain',
        },
        payload: 'hello',
      });
      expect([400, 415]).toContain(textPlain.statusCode);
      expect(textPlain.json()).toEqual({
        error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
        request_id: textPlain.headers['x-request-id'],
      });
      expect(textPlain.json().error.message).toMatch(/^body: /);

      const huge = JSON.stringify({ ...jobBody(), started_by: 'x'.repeat(1024 * 1024 + 10) });
      const big = await api.app.inject({
        method: 'POST',
        url: '/api/v1/jobs',
        headers: {
          authorization: `Bearer ${T.keys.engineer}`,
          'x-tenant-id': T.id,
          'content-type': 'application/json',
        },
        payload: huge,
      });
      expectError(big as unknown as Res, 413, 'PAYLOAD_TOO_LARGE');
      // Without a credential the request is refused before its body is even read.
      const anonymous = await api.app.inject({
        method: 'POST',
        url: '/api/v1/jobs',
        headers: { 'x-tenant-id': T.id, 'content-type': 'application/json' },
        payload: huge,
      });
      expectError(anonymous as unknown as Res, 401, 'UNAUTHENTICATED');
      // Just under the limit is parsed (and then fails validation for the field that is too long).
      const under = JSON.stringify({ ...jobBody(), started_by: 'x'.repeat(1024 * 1024 - 400) });
      const ok = await api.app.inject({
        method: 'POST',
        url: '/api/v1/jobs',
        headers: {
          authorization: `Bearer ${T.keys.engineer}`,
          'x-tenant-id': T.id,
          'content-type': 'application/json',
        },
        payload: under,
      });
      expectError(ok as unknown as Res, 400, 'VALIDATION_FAILED');
      expect(ok.json().error.details.field).toBe('started_by');

      // Request ids: on every response — success, error, docs, downloads — and echoed when sane.
      const link = await api.request(
        'GET',
        `/api/v1/logs/export/${jobs.completed}`,
        as('engineer'),
      );
      for (const url of [
        '/health',
        '/openapi.json',
        '/docs',
        '/api/v1/jobs',
        new URL(link.json().export_url).pathname,
        '/api/v1/exports/bogus-token-1234',
      ]) {
        const r = await api.app.inject({ method: 'GET', url });
        expect(r.headers['x-request-id'], url).toMatch(UUID);
      }
      const traced = await api.request('GET', `/api/v1/jobs/${jobs.completed}`, {
        ...as('viewer'),
        headers: { 'x-request-id': 'trace-0001.abc_DEF' },
      });
      expect(traced.headers['x-request-id']).toBe('trace-0001.abc_DEF');
      const tracedError = await api.request('GET', '/api/v1/jobs/not-a-uuid', {
        ...as('viewer'),
        headers: { 'x-request-id': 'trace-0002-error' },
      });
      expect(tracedError.statusCode).toBe(400);
      expect(tracedError.json().request_id).toBe('trace-0002-error');
      expect(tracedError.headers['x-request-id']).toBe('trace-0002-error');
      for (const insane of [
        'short',
        'has spaces in it',
        'x'.repeat(65),
        'semi;colon;injected',
        '<script>alert(1)</script>',
      ]) {
        const r = await api.request('GET', '/api/v1/jobs', {
          ...as('viewer'),
          headers: { 'x-request-id': insane },
        });
        expect(r.headers['x-request-id']).toMatch(UUID);
      }
    },
  );

  it.skipIf(skip)(
    'a 500 says only "internal error" and the request id — the cause goes to the server log',
    async () => {
      const lines: string[] = [];
      const broken = await startTestApi(kind, {
        log: {
          level: 'info',
          stream: new Writable({
            write(chunk: Buffer, _e, done) {
              lines.push(...chunk.toString().split('\n').filter(Boolean));
              done();
            },
          }),
        },
      });
      try {
        const t = await broken.tenant();
        expect(
          (await broken.request('GET', '/api/v1/jobs', { key: t.keys.viewer, tenant: t.id }))
            .statusCode,
        ).toBe(200);
        // Break the store under the running server: the jobs table goes away.
        const store = broken.proc.services.config.store;
        if (store.kind === 'sqlite') {
          const db = new Database(store.path);
          db.exec('ALTER TABLE jobs RENAME TO jobs_moved_away');
          db.close();
        } else {
          const client = new pg.Client({ connectionString: PG_STORE_URL });
          await client.connect();
          await client.query(`ALTER TABLE "${store.schema}".jobs RENAME TO jobs_moved_away`);
          await client.end();
        }
        for (const [method, url, body] of [
          ['GET', '/api/v1/jobs'],
          ['GET', '/api/v1/jobs/00000000-0000-4000-8000-000000000000'],
          ['POST', '/api/v1/jobs', jobBody()],
          ['GET', '/api/v1/stats/jobs'],
        ] as Array<[string, string, unknown?]>) {
          const r = await broken.request(method, url, {
            key: t.keys.engineer,
            tenant: t.id,
            ...(body ? { body } : {}),
          });
          expectError(r, 500, 'INTERNAL');
          const id = r.json().request_id;
          expect(r.json().error.message).toBe(
            `internal error; quote request id ${id} when reporting it`,
          );
          for (const internal of [
            'jobs',
            'SQLITE',
            'sqlite',
            'relation',
            'select',
            'SELECT',
            'stack',
            ' at ',
            '.ts',
            '.js',
            'kysely',
            store.kind === 'postgresql' ? store.schema : 'freight.db',
          ]) {
            expect(r.body.includes(internal), `500 body reveals "${internal}": ${r.body}`).toBe(
              false,
            );
          }
          // The log has the cause, under the same request id.
          const logged = lines
            .map((l) => JSON.parse(l) as { request_id?: string; level: number; err?: unknown })
            .find((l) => l.request_id === id && l.level >= 50);
          expect(logged, `error log line for ${id}`).toBeDefined();
          expect(JSON.stringify(logged!.err)).toMatch(/jobs/);
        }
      } finally {
        await broken.close();
      }
    },
  );
});

describe.each(STORE_KINDS)('rate limits per tenant on the %s store', (kind) => {
  const skip = !pgUp;
  let api: TestApi;
  const tenants: Record<string, { id: string; keys: Record<Role, string> }> = {};

  beforeAll(async () => {
    if (skip) return;
    api = await startTestApi(kind, {
      rateLimit: { max: 5, windowMs: 60_000 },
      env: { TOKEN_EXPIRY_HOURS: '0.0006' },
    });
    // Tenants and keys straight through the key service: the admin's own requests are limited too.
    for (const name of ['t1', 't2', 't3']) {
      const id = uniqueName(`rl-${name}`).replaceAll('_', '-');
      await api.proc.services.keys.createTenant(id);
      const keys = {} as Record<Role, string>;
      for (const role of ['viewer', 'engineer', 'admin'] as const)
        keys[role] = (await api.proc.services.keys.createKey({ tenantId: id, role })).key;
      tenants[name] = { id, keys };
    }
  });
  afterAll(async () => {
    if (skip) return;
    await api?.close();
  });

  it.skipIf(skip)(
    'the 6th request of a tenant in the window is 429 with Retry-After and the error shape, for any key of that tenant; other tenants are not limited',
    async () => {
      const t1 = tenants.t1!;
      const t2 = tenants.t2!;
      for (let i = 1; i <= 5; i++) {
        const r = await api.request('GET', '/api/v1/jobs', {
          key: i % 2 ? t1.keys.viewer : t1.keys.engineer,
          tenant: t1.id,
        });
        expect(r.statusCode, `request ${i}`).toBe(200);
        expect(r.headers['x-ratelimit-limit']).toBe('5');
        expect(r.headers['x-ratelimit-remaining']).toBe(String(5 - i));
      }
      const limited = await api.request('GET', '/api/v1/jobs', {
        key: t1.keys.viewer,
        tenant: t1.id,
      });
      expectError(limited, 429, 'RATE_LIMITED');
      const retryAfter = Number(limited.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      // Any credential of the tenant, any route: the tenant's budget is spent.
      expectError(
        await api.request('GET', '/api/v1/stats/jobs', { key: t1.keys.engineer, tenant: t1.id }),
        429,
        'RATE_LIMITED',
      );
      expectError(
        await api.request('POST', '/api/v1/auth/token', { key: t1.keys.viewer, body: {} }),
        429,
        'RATE_LIMITED',
      );
      // Another tenant has its own budget.
      for (let i = 1; i <= 5; i++)
        expect(
          (await api.request('GET', '/api/v1/jobs', { key: t2.keys.viewer, tenant: t2.id }))
            .statusCode,
          `t2 request ${i}`,
        ).toBe(200);
      expectError(
        await api.request('GET', '/api/v1/jobs', { key: t2.keys.viewer, tenant: t2.id }),
        429,
        'RATE_LIMITED',
      );
      // An admin acting for a tenant spends that tenant's budget, not its own.
      expectError(
        await api.request('GET', '/api/v1/jobs', { key: t2.keys.admin, tenant: t1.id }),
        429,
        'RATE_LIMITED',
      );
      // Health and the document are not tenant traffic.
      expect((await api.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    },
  );

  it.skipIf(skip)('tokens expire after TOKEN_EXPIRY_HOURS', async () => {
    const t3 = tenants.t3!;
    const r = await api.request('POST', '/api/v1/auth/token', {
      key: null,
      body: { api_key: t3.keys.viewer },
    });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().expires_in).toBeLessThanOrEqual(3);
    const token = r.json().access_token as string;
    expect(
      (await api.request('GET', '/api/v1/jobs', { key: token, tenant: t3.id })).statusCode,
    ).toBe(200);
    await new Promise((res) => setTimeout(res, (r.json().expires_in + 1.2) * 1000));
    const expired = await api.request('GET', '/api/v1/jobs', { key: token, tenant: t3.id });
    expectError(expired, 401, 'UNAUTHENTICATED');
    expect(expired.json().error.message).toMatch(/expired/);
  });
});
