import { randomBytes, randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '../../src/auth/tokens.js';
import { createSampleDatabase } from '../../src/connectors/sqlite/sqlite-sample.js';
import { roleAllows, type Role } from '../../src/domain/access.js';
import { ERRORS } from '../../src/domain/errors.js';
import { OPERATIONS } from '../../src/operations/index.js';
import type { Operation } from '../../src/operations/operation.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { createPgSchema, tempDir, uniqueName } from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';
import { STORE_KINDS } from '../helpers/stores.js';

/**
 * Tenant isolation (DESIGN.md §3, §6): every route, walked with a second tenant's credentials and
 * the first tenant's ids, answers 403/404 — the 404 indistinguishable from a job that does not
 * exist — and no response ever carries anything of the first tenant's.
 */

const pgUp = await hasService('postgres');
const SECRET = 'test-secret-key-0123456789abcdef'; // the harness's FREIGHT_SECRET_KEY

type Res = Awaited<ReturnType<TestApi['request']>>;

describe.each(STORE_KINDS)('tenant isolation on the %s store', (kind) => {
  const skip = !pgUp;
  const files = tempDir();
  let api: TestApi;
  let pgA: Awaited<ReturnType<typeof createPgSchema>>;
  let pgB: Awaited<ReturnType<typeof createPgSchema>>;
  let A: Awaited<ReturnType<TestApi['tenant']>>;
  let B: Awaited<ReturnType<TestApi['tenant']>>;

  // Tenant A's identifiers: none of these may ever reach tenant B.
  const a = {
    jobId: '',
    longJobId: '',
    sourceDescription: '',
    targetDescription: '',
    batchIds: [] as number[],
    failedBatchIds: [] as number[],
    recordIds: [] as string[],
    keyIds: [] as string[],
    spareKeyId: '',
    spareKey: '',
    exportToken: '',
    webhookId: '',
  };
  // Tenant B's own job and export, for the routes that need one.
  const b = {
    jobId: '',
    exportToken: '',
    keyIds: {} as Record<Role, string>,
    jwt: {} as Record<'viewer' | 'engineer', string>,
  };
  let markers: string[] = [];

  /**
   * Every body and header B receives goes through here. An id B itself sent (A's job id in the
   * path, A's tenant id in X-Tenant-ID) may be echoed back in the error; nothing else of A's may appear.
   */
  function expectNoLeak(
    res: { body: string; headers: Record<string, unknown> },
    context: string,
    sent: readonly unknown[] = [],
  ): void {
    const request = sent.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n');
    let text = `${res.body}\n${JSON.stringify(res.headers)}`;
    for (const echoed of markers.filter((m) => request.includes(m)))
      text = text.replaceAll(echoed, '<sent by the caller>');
    for (const marker of markers)
      expect(text.includes(marker), `${context} leaked ${marker}: ${res.body.slice(0, 400)}`).toBe(
        false,
      );
  }

  /** An error answer with one id (a job id, a batch id) blanked out: two answers differing only by it compare equal. */
  const shape = (r: Res, id: string) => {
    const body = r.json();
    const blank = (text: string) =>
      text.replace(new RegExp(`(?<![0-9a-f-])${id}(?![0-9a-f-])`, 'g'), '<id>');
    return {
      status: r.statusCode,
      code: body.error?.code,
      message: blank(String(body.error?.message)),
      details: blank(JSON.stringify(body.error?.details ?? null)),
      keys: Object.keys(body).sort(),
      contentType: r.headers['content-type'],
    };
  };

  beforeAll(async () => {
    if (skip) return;
    api = await startTestApi(kind, { concurrency: 4 });
    pgA = await createPgSchema('isoa');
    pgB = await createPgSchema('isob');
    A = await api.tenant(uniqueName('iso-a').replaceAll('_', '-'));
    B = await api.tenant(uniqueName('iso-b').replaceAll('_', '-'));

    // A's webhook: its outcome notifications (to a closed port) are A's alone.
    const hook = await api.request('POST', '/api/v1/webhooks', {
      key: A.keys.engineer,
      tenant: A.id,
      body: {
        url: 'http://127.0.0.1:9/zqa-hook-receiver/zqa-hook-path',
        kind: 'generic',
        events: ['failed', 'completed_with_errors'],
        description: 'zqa hook description',
      },
    });
    expect(hook.statusCode, hook.body).toBe(201);
    a.webhookId = hook.json().webhook_id;

    // A's source: distinctive table names and record ids, two records PostgreSQL rejects (NUL bytes).
    const aFile = files.file('zqa-ledger-source.db');
    const db = new Database(aFile);
    db.exec(`CREATE TABLE zqa_ledger (code TEXT PRIMARY KEY, amount INTEGER NOT NULL, memo TEXT);
             CREATE TABLE zqa_vault (id INTEGER PRIMARY KEY, note TEXT NOT NULL);
             CREATE TABLE zqa_longhaul (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);`);
    const insLedger = db.prepare('INSERT INTO zqa_ledger VALUES (?, ?, ?)');
    const insVault = db.prepare('INSERT INTO zqa_vault VALUES (?, ?)');
    const insLong = db.prepare('INSERT INTO zqa_longhaul VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= 300; i++)
        insLedger.run(
          `zqa-rec-${String(i).padStart(4, '0')}`,
          i * 10,
          i === 137 || i === 290 ? `bad\u0000memo ${i}` : `memo ${i}`,
        );
      for (let i = 1; i <= 120; i++) insVault.run(i, `vault note ${i}`);
      for (let i = 1; i <= 200_000; i++) insLong.run(i, `payload ${i}`);
    })();
    db.close();

    const created = await api.request('POST', '/api/v1/jobs', {
      key: A.keys.engineer,
      tenant: A.id,
      body: {
        source_config: `sqlite:${aFile}`,
        target_config: `postgresql://postgres@127.0.0.1:5432/test?schema=${pgA.name}`,
        tables: ['zqa_ledger', 'zqa_vault'],
        batch_size: 50,
        max_retries: 0,
        audit_level: 'records',
        started_by: 'zqa-started-by-alice',
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    a.jobId = created.json().job_id;
    const done = await api.waitForJob(A.id, A.keys.viewer, a.jobId);
    expect(done.status, JSON.stringify(done.error)).toBe('completed_with_errors');
    a.sourceDescription = done.source;
    a.targetDescription = done.target;
    const batches = (
      await api.request('GET', `/api/v1/jobs/${a.jobId}/batches?limit=500`, {
        key: A.keys.viewer,
        tenant: A.id,
      })
    ).json();
    a.batchIds = batches.batches.map((x: { batch_id: number }) => x.batch_id);
    a.failedBatchIds = batches.batches
      .filter((x: { status: string }) => x.status === 'failed')
      .map((x: { batch_id: number }) => x.batch_id);
    expect(a.failedBatchIds.length).toBeGreaterThan(0);
    const failedLogs = (
      await api.request('GET', `/api/v1/jobs/${a.jobId}/logs?status=failed`, {
        key: A.keys.viewer,
        tenant: A.id,
      })
    ).json();
    a.recordIds = failedLogs.logs.map((l: { record_id: string }) => l.record_id);
    expect(a.recordIds.sort()).toEqual(['zqa-rec-0137', 'zqa-rec-0290']);
    // The outcome is queued for A's webhook (the notifier writes it just after the job finishes).
    let delivered: string[] = [];
    for (let i = 0; i < 50 && !delivered.includes(a.jobId); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      delivered = (
        await api.request('GET', `/api/v1/webhooks/${a.webhookId}/deliveries`, {
          key: A.keys.viewer,
          tenant: A.id,
        })
      )
        .json()
        .deliveries.map((d: { job_id: string }) => d.job_id);
    }
    expect(delivered).toContain(a.jobId);
    const link = await api.request('GET', `/api/v1/logs/export/${a.jobId}?format=csv`, {
      key: A.keys.engineer,
      tenant: A.id,
    });
    a.exportToken = new URL(link.json().export_url).pathname.split('/').pop()!;

    // A's long job keeps a worker busy while B walks the routes.
    const long = await api.request('POST', '/api/v1/jobs', {
      key: A.keys.engineer,
      tenant: A.id,
      body: {
        source_config: `sqlite:${aFile}`,
        target_config: `postgresql://postgres@127.0.0.1:5432/test?schema=${pgA.name}`,
        tables: ['zqa_longhaul'],
        batch_size: 20,
        concurrency: 1,
      },
    });
    expect(long.statusCode, long.body).toBe(201);
    a.longJobId = long.json().job_id;

    const spare = await api.request('POST', '/api/v1/admin/keys', {
      body: { tenant_id: A.id, role: 'viewer', name: 'zqa spare key' },
    });
    a.spareKeyId = spare.json().key_id;
    a.spareKey = spare.json().key;
    const aKeys = (await api.request('GET', `/api/v1/admin/keys?tenant_id=${A.id}`)).json();
    a.keyIds = aKeys.keys.map((k: { key_id: string }) => k.key_id);
    const bKeys = (await api.request('GET', `/api/v1/admin/keys?tenant_id=${B.id}`)).json();
    for (const k of bKeys.keys as Array<{ key_id: string; role: Role }>)
      b.keyIds[k.role] = k.key_id;

    // B's own finished job and export.
    const bFile = files.file('b-shop.db');
    createSampleDatabase(bFile, 0.02);
    const bJob = await api.request('POST', '/api/v1/jobs', {
      key: B.keys.engineer,
      tenant: B.id,
      body: {
        source_config: `sqlite:${bFile}`,
        target_config: `postgresql://postgres@127.0.0.1:5432/test?schema=${pgB.name}`,
        tables: ['customers', 'orders'],
      },
    });
    b.jobId = bJob.json().job_id;
    expect((await api.waitForJob(B.id, B.keys.viewer, b.jobId)).status).toBe('completed');
    b.exportToken = new URL(
      (
        await api.request('GET', `/api/v1/logs/export/${b.jobId}?format=json`, {
          key: B.keys.engineer,
          tenant: B.id,
        })
      ).json().export_url,
    ).pathname
      .split('/')
      .pop()!;
    for (const role of ['viewer', 'engineer'] as const) {
      const t = await api.request('POST', '/api/v1/auth/token', { key: B.keys[role], body: {} });
      expect(t.statusCode, t.body).toBe(200);
      b.jwt[role] = t.json().access_token;
    }

    markers = [
      A.id,
      a.jobId,
      a.longJobId,
      'zqa_ledger',
      'zqa_vault',
      'zqa_longhaul',
      'zqa-rec-',
      ...a.recordIds,
      a.sourceDescription,
      a.targetDescription,
      pgA.name,
      'zqa-ledger-source',
      'zqa-started-by-alice',
      'zqa spare key',
      a.webhookId,
      'zqa-hook',
      'zqa hook description',
      ...a.keyIds,
      a.exportToken,
      ...Object.values(A.keys),
    ];
  });

  afterAll(async () => {
    if (skip) return;
    await api?.close();
    await pgA?.drop();
    await pgB?.drop();
    files.remove();
  });

  /** Path parameters the walk knows how to fill: A's resources, and ids of the same form that exist nowhere. */
  type Ids = Record<'job_id' | 'key_id' | 'webhook_id', string>;
  const aIds = (): Ids => ({ job_id: a.jobId, key_id: a.spareKeyId, webhook_id: a.webhookId });
  const missingIds = (): Ids => ({
    job_id: randomUUID(),
    key_id: randomBytes(6).toString('hex'),
    webhook_id: `wh_${randomBytes(8).toString('hex')}`,
  });
  const pathParams = (path: string) => [...path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]!);
  /** The resource a tenant-scoped operation addresses by id (its 404 is the one to compare), if any. */
  const resourceParam = (op: Operation) =>
    op.tenantScoped ? (pathParams(op.path)[0] as keyof Ids | undefined) : undefined;
  const notFoundCode = (param: keyof Ids) => (param === 'job_id' ? 'JOB_NOT_FOUND' : 'NOT_FOUND');

  /** One request per operation, built from the operation's definition; A's ids in every id slot. */
  let walkCounter = 0;
  function requestFor(op: Operation, ids: Ids): { url: string; body?: unknown } {
    const path = op.path.replace(/\{([a-z_]+)\}/g, (_m, name: string) => {
      if (name in ids) return ids[name as keyof Ids];
      throw new Error(
        `isolation walk: no value for path parameter ${name} of ${op.id} — give tenant A such a resource in beforeAll and add it to Ids`,
      );
    });
    const query: Record<string, string> = {
      list_api_keys: `?tenant_id=${A.id}`,
      list_audit_events: `?tenant_id=${A.id}`,
      export_migration_logs: '?format=json',
      get_migration_logs: '?limit=500',
      list_job_batches: '?limit=500',
    };
    const bodies: Record<string, () => unknown> = {
      create_migration_job: () => ({
        source_config: `sqlite:${files.file('b-shop.db')}`,
        target_config: `sqlite:${files.file(`b-walk-${++walkCounter}.db`)}`,
        tables: ['customers'],
        started_by: 'b-walk',
      }),
      retry_migration_job: () => ({ batch_ids: a.failedBatchIds }),
      create_tenant: () => ({ tenant_id: uniqueName('iso-new').replaceAll('_', '-') }),
      create_api_key: () => ({ tenant_id: A.id, role: 'admin' }),
      create_webhook: () => ({ url: 'http://127.0.0.1:9/b-walk-hook', description: 'b walk' }),
    };
    let body: unknown;
    if (op.body) {
      body = bodies[op.id]?.() ?? {};
      if (!op.body.safeParse(body).success)
        throw new Error(`isolation walk: ${op.id} needs a body fixture in requestFor()`);
    }
    return { url: `${path}${query[op.id] ?? ''}`, ...(op.body ? { body } : {}) };
  }

  it.skipIf(skip)(
    'walks every operation with B’s viewer/engineer keys and JWTs and A’s ids: 400/403/404 as documented, 404 identical to a missing job, nothing of A’s in any answer',
    async () => {
      expect(OPERATIONS.length).toBeGreaterThanOrEqual(20);
      const creds: Array<{ name: string; key: string; role: 'viewer' | 'engineer' }> = [
        { name: 'B viewer key', key: B.keys.viewer, role: 'viewer' },
        { name: 'B engineer key', key: B.keys.engineer, role: 'engineer' },
        { name: 'B viewer JWT', key: b.jwt.viewer, role: 'viewer' },
        { name: 'B engineer JWT', key: b.jwt.engineer, role: 'engineer' },
      ];
      let calls = 0;
      for (const op of OPERATIONS) {
        for (const cred of creds) {
          for (const header of [A.id, B.id, null] as const) {
            const ctx = `${op.id} as ${cred.name} with X-Tenant-ID ${header ?? '(none)'}`;
            const req = requestFor(op, aIds());
            const r = await api.request(op.method, req.url, {
              key: cred.key,
              tenant: header,
              ...(req.body !== undefined ? { body: req.body } : {}),
            });
            calls++;
            const resource = resourceParam(op);
            expectNoLeak(r, ctx, [req.url, header, req.body]);
            expect(r.headers['x-request-id'], ctx).toBeTruthy();
            let expected: { status: number; code?: string };
            if (op.id === 'create_access_token' && cred.name.includes('JWT'))
              expected = { status: 401, code: 'UNAUTHENTICATED' }; // a token buys no token
            else if (op.role === null) expected = { status: op.successStatus };
            else if (!op.tenantScoped)
              expected = roleAllows(cred.role, op.role)
                ? { status: op.successStatus }
                : { status: 403, code: 'FORBIDDEN' };
            else if (header === null) expected = { status: 400, code: 'TENANT_REQUIRED' };
            else if (header === A.id) expected = { status: 403, code: 'FORBIDDEN' };
            else if (!roleAllows(cred.role, op.role)) expected = { status: 403, code: 'FORBIDDEN' };
            else if (resource) expected = { status: 404, code: notFoundCode(resource) };
            else expected = { status: op.successStatus };
            expect(r.statusCode, `${ctx}: ${r.body.slice(0, 300)}`).toBe(expected.status);
            if (expected.code) {
              expect(r.json(), ctx).toEqual({
                error: expect.objectContaining({
                  code: expected.code,
                  message: expect.any(String),
                }),
                request_id: r.headers['x-request-id'],
              });
            }
            if (op.id === 'create_access_token' && r.statusCode === 200)
              expect(r.json().tenant_id, ctx).toBe(B.id);

            // The same call with an id that exists nowhere answers exactly alike (bar the id).
            if (resource && r.statusCode >= 400) {
              const missing = missingIds();
              const req2 = requestFor(op, missing);
              const r2 = await api.request(op.method, req2.url, {
                key: cred.key,
                tenant: header,
                ...(req2.body !== undefined ? { body: req2.body } : {}),
              });
              calls++;
              expect(
                shape(r2, missing[resource]),
                `${ctx}: A's ${resource} vs a missing one`,
              ).toEqual(shape(r, aIds()[resource]));
            }
          }
        }
      }
      expect(calls).toBeGreaterThan(OPERATIONS.length * creds.length * 3);

      // Nothing B tried changed A: A's jobs are as they were, A's spare key still works.
      const aJob = await api.request('GET', `/api/v1/jobs/${a.jobId}`, {
        key: A.keys.viewer,
        tenant: A.id,
      });
      expect(aJob.json().status).toBe('completed_with_errors');
      expect(aJob.json().failed_batches.map((x: { batch_id: number }) => x.batch_id)).toEqual(
        a.failedBatchIds,
      );
      expect(
        (await api.request('GET', '/api/v1/jobs', { key: a.spareKey, tenant: A.id })).statusCode,
      ).toBe(200);
      const aHooks = (
        await api.request('GET', '/api/v1/webhooks', { key: A.keys.viewer, tenant: A.id })
      ).json();
      expect(aHooks.webhooks.map((h: { webhook_id: string }) => h.webhook_id)).toEqual([
        a.webhookId,
      ]);
      const longNow = (
        await api.request('GET', `/api/v1/jobs/${a.longJobId}`, {
          key: A.keys.viewer,
          tenant: A.id,
        })
      ).json();
      expect(['pending', 'planning', 'running', 'completed']).toContain(longNow.status);
      const aAudit = (
        await api.request('GET', `/api/v1/admin/audit?tenant_id=${A.id}&limit=500`)
      ).json();
      expect(
        aAudit.events.filter(
          (e: { actor: string | null; result: string }) =>
            e.result === 'success' && Object.values(b.keyIds).includes(e.actor ?? ''),
        ),
      ).toEqual([]);
    },
  );

  it.skipIf(skip)(
    'routes outside OPERATIONS (found in the OpenAPI document) keep A’s jobs from B the same way',
    async () => {
      const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
        paths: Record<
          string,
          Record<string, { operationId: string; parameters?: Array<{ in: string; name: string }> }>
        >;
      };
      const known = new Set(OPERATIONS.map((o) => o.id));
      let walked = 0;
      for (const [path, item] of Object.entries(doc.paths)) {
        for (const [method, route] of Object.entries(item)) {
          if (known.has(route.operationId) || path === '/api/v1/exports/{token}') continue; // operations: walked above; exports: below
          const names = pathParams(path);
          const unknown = names.filter((n) => !(n in aIds()));
          expect(
            unknown,
            `isolation walk: route ${method.toUpperCase()} ${path} has parameters the walk cannot fill — add them to Ids`,
          ).toEqual([]);
          if (names.length === 0) continue;
          const fill = (ids: Ids) =>
            path.replace(/\{([a-z_]+)\}/g, (_m, n: string) => ids[n as keyof Ids]);
          const tenantHeader = (route.parameters ?? []).some(
            (p) => p.in === 'header' && p.name.toLowerCase() === 'x-tenant-id',
          );
          for (const key of [B.keys.viewer, B.keys.engineer, b.jwt.viewer, B.keys.admin]) {
            const ctx = `${route.operationId} (${method.toUpperCase()} ${path})`;
            const url = fill(aIds());
            if (key !== B.keys.admin) {
              const asA = await api.request(method, url, { key, tenant: A.id });
              expectNoLeak(asA, `${ctx} with X-Tenant-ID A`, [url, A.id]);
              expect(asA.statusCode, `${ctx} with X-Tenant-ID A: ${asA.body}`).toBe(403);
            }
            const asB = await api.request(method, url, { key, tenant: B.id });
            expectNoLeak(asB, `${ctx} with X-Tenant-ID B`, [url]);
            expect([403, 404], `${ctx}: ${asB.body}`).toContain(asB.statusCode);
            const missing = missingIds();
            const none = await api.request(method, fill(missing), { key, tenant: B.id });
            expect(
              shape(none, missing[names[0] as keyof Ids]),
              `${ctx}: A's resource vs a missing one`,
            ).toEqual(shape(asB, aIds()[names[0] as keyof Ids]));
            if (tenantHeader)
              expect(
                (await api.request(method, url, { key, tenant: null })).statusCode,
                `${ctx} without X-Tenant-ID`,
              ).toBe(400);
            expect(
              (await api.request(method, url, { key: null, tenant: B.id })).statusCode,
              `${ctx} without a credential`,
            ).toBe(401);
            walked++;
          }
        }
      }
      // Printed so a reader of the run sees what was covered beyond OPERATIONS.
      console.info(`isolation walk: ${walked / 4} route(s) outside OPERATIONS with a resource id`);
    },
  );

  it.skipIf(skip)(
    'B’s admin key is scoped by X-Tenant-ID: with its own tenant, A’s job is a plain 404 and nothing of A’s shows',
    async () => {
      for (const op of OPERATIONS.filter((o) => o.tenantScoped && o.role !== null)) {
        const ctx = `${op.id} as B admin with X-Tenant-ID B`;
        const req = requestFor(op, aIds());
        const r = await api.request(op.method, req.url, {
          key: B.keys.admin,
          tenant: B.id,
          ...(req.body !== undefined ? { body: req.body } : {}),
        });
        const resource = resourceParam(op);
        // Admins see every tenant's running batches in the worker status (documented); nothing else of A's.
        if (op.id !== 'get_worker_status') expectNoLeak(r, ctx, [req.url, req.body]);
        expect(r.statusCode, `${ctx}: ${r.body.slice(0, 300)}`).toBe(
          resource ? 404 : op.successStatus,
        );
        if (resource) expect(r.json().error.code).toBe(notFoundCode(resource));
      }
      // Admins may act for any existing tenant (DESIGN.md §6) — but not for one that does not exist.
      const ghost = await api.request('GET', '/api/v1/jobs', {
        key: B.keys.admin,
        tenant: 'no-such-tenant-zz',
      });
      expect(ghost.statusCode).toBe(404);
      expect(ghost.json().error.code).toBe('NOT_FOUND');
    },
  );

  it.skipIf(skip)(
    'A’s batch ids, log cursors and job ids used inside B’s own requests reach nothing of A’s',
    async () => {
      const asB = { key: B.keys.engineer, tenant: B.id };
      // Retrying B's job with A's batch ids: the same 404 as batch ids that exist nowhere.
      const withA = await api.request('POST', `/api/v1/jobs/${b.jobId}/retry`, {
        ...asB,
        body: { batch_ids: [a.failedBatchIds[0]] },
      });
      const withNone = await api.request('POST', `/api/v1/jobs/${b.jobId}/retry`, {
        ...asB,
        body: { batch_ids: [987_654_321] },
      });
      expect(withA.statusCode).toBe(404);
      expect(withA.json().error.code).toBe('NOT_FOUND');
      expect(shape(withA, String(a.failedBatchIds[0]))).toEqual(shape(withNone, '987654321'));
      expectNoLeak(withA, 'retry B job with A batch ids', [a.failedBatchIds]);

      const bBatches = (
        await api.request('GET', `/api/v1/jobs/${b.jobId}/batches?limit=500`, asB)
      ).json();
      const bBatchIds = bBatches.batches.map((x: { batch_id: number }) => x.batch_id);
      expect(bBatchIds.length).toBeGreaterThan(0);
      for (const id of a.batchIds) expect(bBatchIds).not.toContain(id);

      // A log cursor past A's lines pages through B's own lines only.
      const bLogs = await api.request(
        'GET',
        `/api/v1/jobs/${b.jobId}/logs?limit=500&cursor=999999999`,
        asB,
      );
      expect(bLogs.statusCode).toBe(200);
      expectNoLeak(bLogs, 'B logs with a large cursor');
      expect(bLogs.json().logs.length).toBeGreaterThan(0);

      // Lists and statistics count B's jobs only.
      const list = await api.request('GET', '/api/v1/jobs?limit=100', asB);
      expect(list.json().jobs.every((j: { tenant_id: string }) => j.tenant_id === B.id)).toBe(true);
      const stats = (await api.request('GET', '/api/v1/stats/jobs', asB)).json();
      expect(stats.tenant_id).toBe(B.id);
      expect(stats.total_jobs).toBe(list.json().total);
      expect(stats.jobs_by_status.completed_with_errors ?? 0).toBe(0);
    },
  );

  it.skipIf(skip)(
    'export links: A’s signed grant cannot be re-pointed, re-signed or guessed from B’s side, and B’s own export holds nothing of A’s',
    async () => {
      const download = (token: string) =>
        api.app.inject({
          method: 'GET',
          url: `/api/v1/exports/${token}`,
          headers: { authorization: `Bearer ${B.keys.engineer}`, 'x-tenant-id': B.id },
        });
      const [bBody, bMac] = b.exportToken.split('.') as [string, string];
      const [aBody, aMac] = a.exportToken.split('.') as [string, string];
      const grant = JSON.parse(Buffer.from(bBody, 'base64url').toString());
      const tampered = [
        `${Buffer.from(JSON.stringify({ ...grant, jobId: a.jobId })).toString('base64url')}.${bMac}`,
        `${Buffer.from(JSON.stringify({ ...grant, jobId: a.jobId, tenantId: A.id })).toString('base64url')}.${bMac}`,
        `${bBody}.${aMac}`,
        `${aBody}.${bMac}`,
        `${aBody}.${aMac.slice(0, -2)}xx`,
        `${aBody}`,
        'x'.repeat(60),
      ];
      const refusals = [];
      for (const token of tampered) {
        const r = await download(token);
        expect(r.statusCode, token).toBe(404);
        expect(r.json().error).toMatchObject({
          code: 'NOT_FOUND',
          message: 'this export link is not valid',
        });
        expect(r.headers['x-request-id']).toBeTruthy();
        expectNoLeak(r as unknown as Res, `tampered export ${token}`, [token]);
        refusals.push(r.json().error.message);
      }
      expect(new Set(refusals).size).toBe(1);

      // Even a grant signed by the server itself cannot cross tenants: the download re-checks the job's tenant.
      const crossed = api.proc.services.exports.sign({
        jobId: a.jobId,
        tenantId: B.id,
        format: 'csv',
      });
      const r = await download(crossed.token);
      expect(r.statusCode).toBe(404);
      expectNoLeak(r as unknown as Res, 'cross-tenant grant');

      // B's legitimate links, in every format, hold B's lines only.
      for (const format of ['csv', 'json', 'jsonl']) {
        const link = await api.request('GET', `/api/v1/logs/export/${b.jobId}?format=${format}`, {
          key: B.keys.engineer,
          tenant: B.id,
        });
        expect(link.statusCode).toBe(200);
        const file = await download(new URL(link.json().export_url).pathname.split('/').pop()!);
        expect(file.statusCode).toBe(200);
        expect(file.body.length).toBeGreaterThan(50);
        expectNoLeak(
          { body: file.body, headers: file.headers as Record<string, unknown> },
          `B export ${format}`,
        );
      }
      // A's own link still works (sanity: the refusals above are not a broken route).
      const own = await api.app.inject({ method: 'GET', url: `/api/v1/exports/${a.exportToken}` });
      expect(own.statusCode).toBe(200);
      expect(own.body).toContain('zqa-rec-0137');
    },
  );

  // Worker heartbeats publish the running batches every 5 s, so this waits for one while A's long job runs.
  it.skipIf(skip)(
    'the worker status shows B no batch of A’s running job, while A sees them',
    async () => {
      let seenByA = false;
      const deadline = Date.now() + 20_000;
      while (!seenByA && Date.now() < deadline) {
        const asA = (
          await api.request('GET', '/api/v1/workers/status', { key: A.keys.viewer, tenant: A.id })
        ).json();
        seenByA = asA.workers.some((w: { batches: Array<{ job_id: string }> }) =>
          w.batches.some((x) => x.job_id === a.longJobId),
        );
        for (const key of [B.keys.viewer, B.keys.engineer, b.jwt.viewer]) {
          const asB = await api.request('GET', '/api/v1/workers/status', { key, tenant: B.id });
          expect(asB.statusCode).toBe(200);
          expectNoLeak(asB, 'worker status as B');
        }
        if (!seenByA) {
          const job = (
            await api.request('GET', `/api/v1/jobs/${a.longJobId}`, {
              key: A.keys.viewer,
              tenant: A.id,
            })
          ).json();
          if (!['pending', 'planning', 'running'].includes(job.status)) break;
          await new Promise((res) => setTimeout(res, 20));
        }
      }
      expect(seenByA, 'A saw its own running batch in the worker status').toBe(true);
      // B cannot cancel it; A can.
      const bCancel = await api.request('DELETE', `/api/v1/jobs/${a.longJobId}`, {
        key: B.keys.engineer,
        tenant: B.id,
      });
      expect(bCancel.statusCode).toBe(404);
      expectNoLeak(bCancel, 'B cancels A long job', [a.longJobId]);
      const aCancel = await api.request('DELETE', `/api/v1/jobs/${a.longJobId}`, {
        key: A.keys.engineer,
        tenant: A.id,
      });
      expect([202, 409]).toContain(aCancel.statusCode);
    },
  );

  it.skipIf(skip)(
    'credentials: no credential → 401, missing X-Tenant-ID → 400, revoked key → 401, expired, forged, tampered and alg:none JWTs → 401, on every route that needs them',
    async () => {
      // A key of B's, revoked.
      const made = await api.request('POST', '/api/v1/admin/keys', {
        body: { tenant_id: B.id, role: 'engineer' },
      });
      const revokedKey = made.json().key as string;
      const jwtOfRevoked = (
        await api.request('POST', '/api/v1/auth/token', { key: revokedKey, body: {} })
      ).json().access_token as string;
      expect(
        (await api.request('DELETE', `/api/v1/admin/keys/${made.json().key_id}`)).statusCode,
      ).toBe(200);

      const claims = { keyId: b.keyIds.viewer, tenantId: B.id, role: 'viewer' as const };
      const expired = (await new TokenService(SECRET, -1, true).issue(claims)).token;
      const forged = (
        await new TokenService('another-secret-key-0123456789abcdef', 24, true).issue(claims)
      ).token;
      const forgedAdmin = (
        await new TokenService('another-secret-key-0123456789abcdef', 24, true).issue({
          ...claims,
          role: 'admin',
        })
      ).token;
      const [h, p, s] = b.jwt.viewer.split('.') as [string, string, string];
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
      const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, role: 'admin', tenant: A.id })).toString('base64url')}.${s}`;
      const algNone = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ ...payload, role: 'admin' })).toString('base64url')}.`;
      const rawKey = `${B.keys.viewer.slice(0, 16)}${'A'.repeat(43)}`; // B's viewer key id, a wrong secret
      const bad: Array<[string, string | null, string | null]> = [
        ['no credential', null, null],
        [
          'a non-Bearer scheme',
          null,
          `Basic ${Buffer.from(`x:${B.keys.viewer}`).toString('base64')}`,
        ],
        ['a revoked key', revokedKey, null],
        ['a JWT of a revoked key', jwtOfRevoked, null],
        ['an expired JWT', expired, null],
        ['a JWT signed with another secret', forged, null],
        ['a forged admin JWT', forgedAdmin, null],
        ['a JWT with a tampered payload', tampered, null],
        ['an alg:none JWT', algNone, null],
        ['a key with a wrong secret', rawKey, null],
        ['an unknown key', `fk_${'0'.repeat(12)}_${'B'.repeat(43)}`, null],
      ];
      for (const op of OPERATIONS.filter(
        (o) => o.role !== null && o.id !== 'create_access_token',
      )) {
        for (const [what, key, authorization] of bad) {
          for (const header of [B.id, A.id]) {
            const req = requestFor(op, aIds());
            const r = await api.request(op.method, req.url, {
              key,
              tenant: header,
              ...(authorization ? { headers: { authorization } } : {}),
              ...(req.body !== undefined ? { body: req.body } : {}),
            });
            const ctx = `${op.id} with ${what}`;
            expect(r.statusCode, `${ctx}: ${r.body}`).toBe(401);
            expect(r.json()).toEqual({
              error: { code: 'UNAUTHENTICATED', message: expect.any(String) },
              request_id: expect.any(String),
            });
            expectNoLeak(r, ctx, [req.url, header, req.body, key, authorization]);
          }
        }
      }
      // The token exchange refuses the same credentials.
      for (const [what, key] of bad) {
        const r = await api.request('POST', '/api/v1/auth/token', { key, body: {} });
        expect(r.statusCode, `token exchange with ${what}`).toBe(401);
      }
      expect(
        await api
          .request('GET', '/api/v1/jobs', { key: expired, tenant: B.id })
          .then((r) => r.json().error.message),
      ).toMatch(/expired/);
      // Missing X-Tenant-ID on every tenant route, whatever the role.
      for (const op of OPERATIONS.filter((o) => o.tenantScoped)) {
        for (const key of [B.keys.viewer, B.keys.engineer, B.keys.admin, api.adminKey]) {
          const req = requestFor(op, aIds());
          const r = await api.request(op.method, req.url, {
            key,
            tenant: null,
            ...(req.body !== undefined ? { body: req.body } : {}),
          });
          expect(r.statusCode, op.id).toBe(400);
          expect(r.json().error.code).toBe('TENANT_REQUIRED');
        }
      }
      expect(ERRORS.TENANT_REQUIRED.status).toBe(400);
    },
  );
});
