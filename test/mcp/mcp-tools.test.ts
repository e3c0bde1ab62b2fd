import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSampleDatabase } from '../../src/connectors/sqlite/sqlite-sample.js';
import { authenticate } from '../../src/http/access.js';
import { createMcpServer } from '../../src/mcp/create-server.js';
import { inProcessInvoker } from '../../src/mcp/in-process.js';
import { OPERATIONS } from '../../src/operations/index.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { createMysqlDatabase, createPgSchema, tempDir } from '../helpers/databases.js';
import {
  ADMIN_TOOLS,
  ALL_TOOLS,
  ENGINEER_TOOLS,
  JOB_TOOLS,
  LOG_TOOLS,
  OPS_TOOLS,
  ToolChecker,
  VIEWER_TOOLS,
  connectHttp,
  connectInMemory,
  findKey,
  listTools,
  waitForJobTool,
  type Json,
} from '../helpers/mcp.js';
import { hasService } from '../helpers/services.js';

/**
 * Every MCP tool through the SDK's own client (v2) against a real API process — its /mcp endpoint
 * on a listening port, a worker running real migrations (SQLite sample → PostgreSQL, MariaDB with a
 * bad row) — success and failure paths, roles, tenancy, authentication, DNS-rebinding protection,
 * read-only mode, toolsets and the audit trail.
 */

const pgUp = await hasService('postgres');
const mysqlUp = await hasService('mysql');

const READ_ONLY_TOOLS = [
  'list_migration_jobs',
  'get_migration_job',
  'get_job_progress',
  'list_job_batches',
  'get_migration_logs',
  'export_migration_logs',
  'get_job_statistics',
  'get_worker_status',
  'health_check',
  'get_tenant_statistics',
  'list_tenants',
  'list_api_keys',
  'list_audit_events',
];
const HINTS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;
const sorted = (names: Iterable<string>) => [...names].sort();
const keyId = (key: string) => key.slice(3, 15);
const RANK = { viewer: 0, engineer: 1, admin: 2 } as const;

/**
 * The tools an option set must offer, stated from the operation definitions: every operation with
 * a toolset (in the chosen toolsets), only read-only ones in read-only mode, only those the role
 * may call. The issue's own tool lists are checked against these separately, so a tool added
 * later is covered without editing this file, and a core tool going missing still fails.
 */
function expectedTools(
  o: { toolsets?: readonly string[]; readOnly?: boolean; role?: keyof typeof RANK } = {},
): string[] {
  return sorted(
    OPERATIONS.filter(
      (op) =>
        op.toolset !== null &&
        (!o.toolsets || o.toolsets.includes(op.toolset)) &&
        (!o.readOnly || op.annotations.readOnlyHint) &&
        (!o.role || op.role === null || RANK[op.role] <= RANK[o.role]),
    ).map((op) => op.id),
  );
}

/** One raw JSON-RPC POST to /mcp with chosen headers (Host included), over real HTTP. */
function rawPost(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'raw', version: '1' },
    },
  });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe.skipIf(!pgUp)('MCP tools over Streamable HTTP, on the sqlite store', () => {
  let api: TestApi;
  let base: string;
  let mcpUrl: string;
  let target: Awaited<ReturnType<typeof createPgSchema>>;
  let bigTarget: Awaited<ReturnType<typeof createPgSchema>>;
  let tenant: Awaited<ReturnType<TestApi['tenant']>>;
  let other: Awaited<ReturnType<TestApi['tenant']>>;
  const files = tempDir();
  const sample = files.file('shop.db');
  const big = files.file('big.db');
  const seen = { succeeded: new Set<string>(), failed: new Set<string>() };
  const clients: Client[] = [];
  let engineer: ToolChecker;
  let viewer: ToolChecker;
  let admin: ToolChecker;
  let jobId = '';
  let cancelledJobId = '';

  const checker = async (
    key: string | null,
    tenantId: string | null,
    era?: 'legacy' | 'modern',
  ) => {
    const client = await connectHttp(mcpUrl, { key, tenant: tenantId, ...(era ? { era } : {}) });
    clients.push(client);
    return new ToolChecker(client, seen).init();
  };

  beforeAll(async () => {
    api = await startTestApi('sqlite');
    base = await api.app.listen({ port: 0, host: '127.0.0.1' });
    mcpUrl = `${base}/mcp`;
    target = await createPgSchema('fmcp');
    bigTarget = await createPgSchema('fmcp_big');
    tenant = await api.tenant();
    other = await api.tenant();
    createSampleDatabase(sample, 0.02);
    createSampleDatabase(big, 0.2);
    engineer = await checker(tenant.keys.engineer, tenant.id);
    viewer = await checker(tenant.keys.viewer, tenant.id);
    // The platform admin: admin tools are platform-wide and need no X-Tenant-ID.
    admin = await checker(api.adminKey, null);
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await api?.close();
    await target?.drop();
    await bigTarget?.drop();
    files.remove();
  });

  it('lists exactly the tools each role may call; annotations, titles and descriptions come from the operations; output schemas are objects without $ref', async () => {
    const adminTools = await listTools(admin.client);
    const adminNames = sorted(adminTools.map((t) => t.name));
    const engineerNames = sorted((await listTools(engineer.client)).map((t) => t.name));
    const viewerNames = sorted((await listTools(viewer.client)).map((t) => t.name));
    // Exactly the operations that have a toolset, for each role…
    expect(adminNames).toEqual(expectedTools());
    expect(engineerNames).toEqual(expectedTools({ role: 'engineer' }));
    expect(viewerNames).toEqual(expectedTools({ role: 'viewer' }));
    // …which include the tools, without the admin ones below admin and the changes below engineer.
    expect(adminNames).toEqual(expect.arrayContaining(ALL_TOOLS));
    expect(engineerNames).toEqual(expect.arrayContaining(ENGINEER_TOOLS));
    expect(viewerNames).toEqual(expect.arrayContaining(VIEWER_TOOLS));
    for (const name of ADMIN_TOOLS) {
      expect(engineerNames, name).not.toContain(name);
      expect(viewerNames, name).not.toContain(name);
    }
    for (const name of [
      'create_migration_job',
      'retry_migration_job',
      'cancel_migration_job',
      'export_migration_logs',
    ])
      expect(viewerNames, name).not.toContain(name);
    for (const name of ['create_access_token', 'whoami'])
      expect(adminNames, name).not.toContain(name);
    // A tenant's own admin key sees everything too.
    const tenantAdmin = await checker(tenant.keys.admin, tenant.id);
    expect(sorted((await listTools(tenantAdmin.client)).map((t) => t.name))).toEqual(adminNames);

    for (const tool of adminTools) {
      const op = OPERATIONS.find((o) => o.id === tool.name)!;
      expect(tool.description, tool.name).toBe(op.description);
      expect(tool.annotations?.title, tool.name).toBe(op.summary);
      for (const hint of HINTS) {
        expect(typeof tool.annotations?.[hint], `${tool.name}.${hint} is set`).toBe('boolean');
        expect(tool.annotations?.[hint], `${tool.name}.${hint}`).toBe(op.annotations[hint]);
      }
      expect(tool.inputSchema.type).toBe('object');
      expect(tool.inputSchema.additionalProperties, `${tool.name} rejects unknown arguments`).toBe(
        false,
      );
      expect(findKey(tool.inputSchema, '$ref'), `${tool.name} inputSchema`).toEqual([]);
      expect(tool.outputSchema, `${tool.name} has an outputSchema`).toBeDefined();
      expect(tool.outputSchema!.type, `${tool.name} outputSchema is an object`).toBe('object');
      expect(findKey(tool.outputSchema, '$ref'), `${tool.name} outputSchema`).toEqual([]);
      // The tenant is never a tool argument (it comes from X-Tenant-ID / FREIGHT_TENANT_ID).
      if (op.tenantScoped)
        expect(Object.keys(tool.inputSchema.properties ?? {})).not.toContain('tenant_id');
    }
    // Changes are marked as such; reads are read-only.
    const byName = new Map(adminTools.map((t) => [t.name, t.annotations!]));
    expect(byName.get('cancel_migration_job')).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: true,
    });
    expect(byName.get('create_migration_job')).toMatchObject({
      readOnlyHint: false,
      destructiveHint: false,
      openWorldHint: true,
    });
    expect(byName.get('revoke_api_key')).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
    });
    for (const name of READ_ONLY_TOOLS) expect(byName.get(name)?.readOnlyHint, name).toBe(true);
  });

  it('runs a migration through the tools: create → get until completed → progress → batches → logs page by page → an export link that streams the file', async () => {
    const created = await engineer.ok('create_migration_job', {
      source_config: `sqlite:${sample}`,
      target_config: target.url,
      batch_size: 100,
      started_by: 'mcp-test',
      verify: 'checksum',
    });
    expect(created).toMatchObject({
      status: 'pending',
      tenant_id: tenant.id,
      started_by: 'mcp-test',
      options: { batch_size: 100, max_retries: 3, verify: 'checksum' },
    });
    jobId = created.job_id;

    const done = await waitForJobTool(viewer, jobId);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.progress).toMatchObject({ planning_done: true, percent: 100, rows_failed: 0 });
    expect(sorted(done.tables.map((t: Json) => t.table))).toEqual([
      'audit_log',
      'customers',
      'order_items',
      'orders',
      'products',
    ]);
    for (const t of done.tables)
      expect(t).toMatchObject({ validation: 'passed', status: 'finalized' });
    const orders = await target.query(`SELECT count(*)::int AS n FROM "${target.name}".orders`);
    expect(orders.rows[0].n).toBe(done.tables.find((t: Json) => t.table === 'orders').rows_written);

    const progress = await viewer.ok('get_job_progress', { job_id: jobId });
    expect(progress).toMatchObject({ job_id: jobId, status: 'completed' });
    expect(progress.tables).toHaveLength(5);

    const listed = await viewer.ok('list_migration_jobs', { status: 'completed', limit: 5 });
    expect(listed.jobs.map((j: Json) => j.job_id)).toContain(jobId);
    const asArray = await viewer.ok('list_migration_jobs', { status: ['completed', 'failed'] });
    expect(asArray.jobs.map((j: Json) => j.job_id)).toContain(jobId);
    expect((await viewer.ok('list_migration_jobs', { status: 'running' })).jobs).toEqual([]);

    const batches = await viewer.ok('list_job_batches', {
      job_id: jobId,
      status: 'succeeded',
      limit: 3,
    });
    expect(batches).toMatchObject({
      job_id: jobId,
      total: done.progress.batches.total,
      limit: 3,
      offset: 0,
      next_offset: 3,
    });
    expect(batches.batches).toHaveLength(3);
    const page2 = await viewer.ok('list_job_batches', {
      job_id: jobId,
      status: 'succeeded',
      limit: 3,
      offset: 3,
    });
    expect(page2.batches[0].batch_id).not.toBe(batches.batches[0].batch_id);

    // Record logs, newest first, page by page with the cursor: every line once.
    const first = await viewer.ok('get_migration_logs', { job_id: jobId, limit: 2 });
    expect(first.logs).toHaveLength(2);
    expect(first.logs[0].log_id).toBeGreaterThan(first.logs[1].log_id);
    expect(first.next_cursor).toBeTypeOf('number');
    const second = await viewer.ok('get_migration_logs', {
      job_id: jobId,
      limit: 2,
      cursor: first.next_cursor,
    });
    expect(second.logs[0].log_id).toBeLessThan(first.logs[1].log_id);
    const ids: number[] = [];
    let cursor: number | null = null;
    for (let guard = 0; guard < 100; guard++) {
      const page: Json = await viewer.ok('get_migration_logs', {
        job_id: jobId,
        limit: 7,
        ...(cursor ? { cursor } : {}),
      });
      ids.push(...page.logs.map((l: Json) => l.log_id));
      cursor = page.next_cursor;
      if (cursor === null) {
        expect(page.total).toBe(ids.length);
        break;
      }
    }
    expect(cursor).toBeNull();
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(first.total);

    // The export: a link and a count, never the file; the link streams the file without headers.
    const exported = await engineer.ok('export_migration_logs', { job_id: jobId, format: 'csv' });
    expect(sorted(Object.keys(exported))).toEqual([
      'expires_at',
      'export_url',
      'format',
      'job_id',
      'records',
    ]);
    expect(exported).toMatchObject({ job_id: jobId, format: 'csv', records: ids.length });
    expect(exported.export_url.startsWith(`${base}/api/v1/exports/`)).toBe(true);
    expect(Date.parse(exported.expires_at)).toBeGreaterThan(Date.now());
    const file = await fetch(exported.export_url);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toContain('text/csv');
    const lines = (await file.text()).trim().split('\r\n');
    expect(lines[0]).toMatch(/^log_id,created_at,table/);
    expect(lines).toHaveLength(exported.records + 1);
    const json = await engineer.ok('export_migration_logs', {
      job_id: jobId,
      format: 'json',
      status: 'success',
    });
    const items = (await (await fetch(json.export_url)).json()) as Json[];
    expect(items).toHaveLength(json.records);
    expect(items.every((l) => l.status === 'success')).toBe(true);
  });

  it.skipIf(!mysqlUp)(
    'retries the failed batch of a job (MariaDB source with a bad row, fixed first) and the job completes',
    async () => {
      const mysql = await createMysqlDatabase('fmcp');
      try {
        await mysql.query(`CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)`);
        await mysql.query(`INSERT INTO notes SELECT seq, CONCAT('note ', seq) FROM seq_1_to_300`);
        await mysql.query(`UPDATE notes SET body = CONCAT('bad', CHAR(0), 'byte') WHERE id = 123`);
        const created = await engineer.ok('create_migration_job', {
          source_config: mysql.url,
          target_config: target.url,
          tables: ['notes'],
          batch_size: 100,
        });
        const id = created.job_id as string;
        const done = await waitForJobTool(engineer, id);
        expect(done.status).toBe('completed_with_errors');
        expect(done.failed_batches).toHaveLength(1);
        const failedLogs = await viewer.ok('get_migration_logs', { job_id: id, status: 'failed' });
        expect(failedLogs.logs).toEqual([
          expect.objectContaining({
            record_id: '123',
            status: 'failed',
            error_code: 'DATA_ERROR',
            scope: 'record',
          }),
        ]);
        const failedBatches = await viewer.ok('list_job_batches', { job_id: id, status: 'failed' });
        expect(failedBatches.batches.map((b: Json) => b.batch_id)).toEqual([
          done.failed_batches[0].batch_id,
        ]);

        expect(
          await engineer.fail('retry_migration_job', { job_id: id, batch_ids: [999999] }),
        ).toMatch(/^404 NOT_FOUND: batch\(es\) 999999/);
        await mysql.query(`UPDATE notes SET body = 'fixed' WHERE id = 123`);
        const retried = await engineer.ok('retry_migration_job', { job_id: id, max_retries: 5 });
        expect(retried.retried_batches).toBe(1);
        expect(retried.job).toMatchObject({ job_id: id, status: 'pending' });
        const again = await waitForJobTool(engineer, id);
        expect(again.status).toBe('completed');
        expect(again.failed_batches).toEqual([]);
        const count = await target.query(
          `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${target.name}".notes`,
        );
        expect(count.rows[0]).toEqual({ n: 300, d: 300 });
        const nothing = await engineer.fail('retry_migration_job', { job_id: id });
        expect(nothing).toMatch(/^409 CONFLICT: .*no failed batches/);
        expect(nothing).toContain('get_migration_job');
      } finally {
        await mysql.drop();
      }
    },
  );

  it('cancels a running job (graceful: cancelling → cancelled); cancelling it again is a 409 tool error', async () => {
    const created = await engineer.ok('create_migration_job', {
      source_config: `sqlite:${big}`,
      target_config: bigTarget.url,
      tables: ['order_items'],
      batch_size: 2,
      concurrency: 1,
    });
    cancelledJobId = created.job_id;
    await waitForJobTool(engineer, cancelledJobId, (s) => s === 'running');
    const cancel = await engineer.ok('cancel_migration_job', { job_id: cancelledJobId });
    expect(cancel.job_id).toBe(cancelledJobId);
    expect(['cancelling', 'cancelled']).toContain(cancel.status);
    const done = await waitForJobTool(engineer, cancelledJobId);
    expect(done.status).toBe('cancelled');
    expect(done.progress.batches.running).toBe(0);
    expect(done.progress.rows_written).toBeLessThan(30_000);
    const again = await engineer.fail('cancel_migration_job', { job_id: cancelledJobId });
    expect(again).toMatch(/^409 CONFLICT: /);
    expect(again).toContain('call get_migration_job');
  });

  it('reports statistics, worker status and health', async () => {
    const stats = await viewer.ok('get_job_statistics');
    expect(stats).toMatchObject({
      tenant_id: tenant.id,
      total_jobs: expect.any(Number),
      records_processed: expect.any(Number),
    });
    expect(stats.total_jobs).toBeGreaterThanOrEqual(2);
    expect(stats.jobs_by_status.completed).toBeGreaterThanOrEqual(1);
    expect(stats.jobs_by_status.cancelled).toBe(1);
    const workers = await viewer.ok('get_worker_status');
    expect(workers).toMatchObject({ workers_alive: 1, queue: { kind: 'in-process' } });
    expect(workers.workers[0]).toMatchObject({ pid: process.pid, concurrency: 4 });
    const health = await viewer.ok('health_check');
    expect(health).toMatchObject({
      status: 'ok',
      checks: { store: { ok: true }, queue: { ok: true }, workers: { alive: 1 } },
    });
  });

  it('admin tools: platform statistics, tenants, keys (a new key works at once, a revoked one is refused), the audit trail', async () => {
    const platform = await admin.ok('get_tenant_statistics');
    expect(platform.tenants.map((t: Json) => t.tenant_id)).toContain(tenant.id);
    expect(platform.platform.total_jobs).toBeGreaterThanOrEqual(2);

    const newTenant = `mcp-${randomUUID().slice(0, 8)}`;
    expect(
      await admin.ok('create_tenant', { tenant_id: newTenant, name: 'Made over MCP' }),
    ).toMatchObject({ tenant_id: newTenant, name: 'Made over MCP' });
    expect(await admin.fail('create_tenant', { tenant_id: newTenant })).toMatch(/^409 CONFLICT/);
    expect((await admin.ok('list_tenants')).tenants.map((t: Json) => t.tenant_id)).toEqual(
      expect.arrayContaining(['platform', tenant.id, newTenant]),
    );

    const made = await admin.ok('create_api_key', {
      tenant_id: newTenant,
      role: 'viewer',
      name: 'mcp key',
    });
    expect(made).toMatchObject({
      tenant_id: newTenant,
      role: 'viewer',
      name: 'mcp key',
      revoked_at: null,
    });
    expect(made.key).toMatch(/^fk_/);
    const fresh = await checker(made.key, newTenant);
    expect(await fresh.ok('list_migration_jobs')).toMatchObject({ jobs: [], total: 0 });
    const keys = await admin.ok('list_api_keys', { tenant_id: newTenant });
    expect(keys.keys.map((k: Json) => k.key_id)).toEqual([made.key_id]);
    expect(JSON.stringify(keys)).not.toContain(made.key);
    const revoked = await admin.ok('revoke_api_key', { key_id: made.key_id });
    expect(revoked.revoked_at).toBeTypeOf('string');
    await expect(fresh.call('list_migration_jobs')).rejects.toThrow(/401|UNAUTHENTICATED/);
    expect(await admin.fail('revoke_api_key', { key_id: 'abcdef123456' })).toMatch(
      /^404 NOT_FOUND/,
    );

    // MCP calls are in the audit trail: who (the engineer's key), what, which job, result.
    const audit = await admin.ok('list_audit_events', {
      tenant_id: tenant.id,
      action: 'create_migration_job',
    });
    expect(audit.events).toContainEqual(
      expect.objectContaining({
        action: 'create_migration_job',
        method: 'MCP',
        path: '/mcp',
        target: jobId,
        actor: keyId(tenant.keys.engineer),
        result: 'success',
        status: 201,
      }),
    );
    const rest = await api.request(
      'GET',
      `/api/v1/admin/audit?tenant_id=${tenant.id}&action=cancel_migration_job`,
    );
    expect(rest.statusCode).toBe(200);
    const cancels = rest.json().events.filter((e: Json) => e.target === cancelledJobId);
    expect(cancels).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          method: 'MCP',
          path: '/mcp',
          actor: keyId(tenant.keys.engineer),
          role: 'engineer',
          status: 202,
          result: 'success',
        }),
        expect.objectContaining({
          method: 'MCP',
          path: '/mcp',
          actor: keyId(tenant.keys.engineer),
          status: 409,
          result: 'failure',
        }),
      ]),
    );
    const creates = await api.request(
      'GET',
      `/api/v1/admin/audit?tenant_id=${tenant.id}&action=create_migration_job`,
    );
    expect(creates.json().events).toContainEqual(
      expect.objectContaining({ method: 'MCP', target: jobId, status: 201 }),
    );
    const keyEvents = await api.request('GET', `/api/v1/admin/audit?action=revoke_api_key`);
    expect(keyEvents.json().events).toContainEqual(
      expect.objectContaining({
        method: 'MCP',
        target: made.key_id,
        actor: keyId(api.adminKey),
        result: 'success',
      }),
    );

    // An admin may act for any tenant with X-Tenant-ID.
    const asAdmin = await checker(api.adminKey, tenant.id);
    expect((await asAdmin.ok('list_migration_jobs')).jobs.map((j: Json) => j.job_id)).toContain(
      jobId,
    );
  });

  it("an unknown job id is a 404 JOB_NOT_FOUND tool error naming list_migration_jobs as the next step — also for another tenant's job", async () => {
    const unknown = randomUUID();
    const args: Record<string, Record<string, unknown>> = {
      get_migration_job: {},
      get_job_progress: {},
      list_job_batches: {},
      retry_migration_job: {},
      cancel_migration_job: {},
      get_migration_logs: {},
      export_migration_logs: { format: 'json' },
    };
    for (const [name, extra] of Object.entries(args)) {
      const text = await engineer.fail(name, { job_id: unknown, ...extra });
      expect(text, name).toMatch(new RegExp(`^404 JOB_NOT_FOUND: job ${unknown} not found`));
      expect(text, name).toContain('call list_migration_jobs');
    }
    const stranger = await checker(other.keys.engineer, other.id);
    expect(await stranger.fail('get_migration_job', { job_id: jobId })).toMatch(
      /^404 JOB_NOT_FOUND/,
    );
    expect(await stranger.fail('cancel_migration_job', { job_id: jobId })).toMatch(
      /^404 JOB_NOT_FOUND/,
    );
    expect(await stranger.fail('export_migration_logs', { job_id: jobId })).toMatch(
      /^404 JOB_NOT_FOUND/,
    );
  });

  it('invalid arguments are tool errors that name the argument; every tool rejects an unknown argument', async () => {
    const engineerNames = (await listTools(engineer.client)).map((t) => t.name);
    for (const name of engineerNames) {
      const text = await engineer.fail(name, {
        job_id: jobId,
        source_config: 'x',
        target_config: 'y',
        colour: 'blue',
      });
      expect(text, name).toContain('colour');
    }
    for (const name of (await listTools(admin.client))
      .map((t) => t.name)
      .filter((n) => !engineerNames.includes(n))) {
      const text = await admin.fail(name, { colour: 'blue' });
      expect(text, name).toMatch(/colour|tenant_id|key_id/);
    }
    expect(await engineer.fail('get_migration_job', { job_id: 'not-a-uuid' })).toMatch(/job_id/);
    expect(await engineer.fail('get_migration_job', {})).toMatch(/job_id/);
    expect(
      await engineer.fail('create_migration_job', {
        source_config: `sqlite:${sample}`,
        target_config: target.url,
        batch_size: 0,
      }),
    ).toMatch(/batch_size/);
    expect(await engineer.fail('create_migration_job', { target_config: target.url })).toMatch(
      /source_config/,
    );
    expect(await engineer.fail('list_migration_jobs', { limit: 0 })).toMatch(/limit/);
    expect(await engineer.fail('list_migration_jobs', { status: 'sleeping' })).toMatch(/status/);
    expect(await engineer.fail('export_migration_logs', { job_id: jobId, format: 'xml' })).toMatch(
      /format/,
    );
    expect(await engineer.fail('retry_migration_job', { job_id: jobId, max_retries: 99 })).toMatch(
      /max_retries/,
    );
    // Checked by the operation itself: the answer has the status, the code, the argument and what to do.
    const scheme = await engineer.fail('create_migration_job', {
      source_config: 'oracle://u@h/db',
      target_config: target.url,
    });
    expect(scheme).toMatch(/^400 VALIDATION_FAILED: source_config/);
    expect(scheme).toContain('fix the named argument');
    const unreachable = await engineer.fail('create_migration_job', {
      source_config: { type: 'mysql', host: '127.0.0.1', port: 9, database: 'x', user: 'root' },
      target_config: target.url,
      validate: true,
    });
    expect(unreachable).toMatch(/^400 CONNECTION_FAILED: source_config/);
    // Secrets in a rejected config are not echoed back.
    const secret = await engineer.fail('create_migration_job', {
      source_config: 'mysql://u:Pl4nted-S3cret@127.0.0.1:9/db',
      target_config: 'csv:/tmp/x',
    });
    expect(secret).not.toContain('Pl4nted-S3cret');
  });

  it('a viewer is not offered the engineer tools, and calling one anyway is refused; the invoker answers 403 with the role needed', async () => {
    await expect(
      viewer.call('create_migration_job', {
        source_config: `sqlite:${sample}`,
        target_config: target.url,
      }),
    ).rejects.toThrow(/create_migration_job not found/);
    // The same check inside the invoker, for a server built without the role filter.
    const caller = await authenticate(api.proc.services, `Bearer ${tenant.keys.viewer}`);
    const server = createMcpServer(
      OPERATIONS,
      inProcessInvoker(api.proc.services, caller, tenant.id, base, 'test-viewer'),
    );
    const client = await connectInMemory(server);
    clients.push(client);
    const unfiltered = await new ToolChecker(client, seen).init();
    const create = await unfiltered.fail('create_migration_job', {
      source_config: `sqlite:${sample}`,
      target_config: target.url,
    });
    expect(create).toMatch(
      /^403 FORBIDDEN: create_migration_job needs the engineer role; this credential is viewer/,
    );
    expect(create).toContain('higher role');
    expect(await unfiltered.fail('cancel_migration_job', { job_id: jobId })).toMatch(
      /^403 FORBIDDEN/,
    );
    expect(await unfiltered.fail('list_tenants')).toMatch(/^403 FORBIDDEN/);
    expect(await unfiltered.ok('get_migration_job', { job_id: jobId })).toMatchObject({
      job_id: jobId,
    });
    // A refused change is audited too.
    const audit = await api.request(
      'GET',
      `/api/v1/admin/audit?tenant_id=${tenant.id}&action=create_migration_job`,
    );
    expect(audit.json().events).toContainEqual(
      expect.objectContaining({
        method: 'MCP',
        actor: keyId(tenant.keys.viewer),
        status: 403,
        result: 'failure',
      }),
    );
  });

  it('without X-Tenant-ID tenant tools answer 400 TENANT_REQUIRED (platform tools still work); another tenant in the header is 403', async () => {
    const noTenant = await checker(tenant.keys.engineer, null);
    const text = await noTenant.fail('list_migration_jobs');
    expect(text).toMatch(/^400 TENANT_REQUIRED: .*X-Tenant-ID/);
    expect(text).toContain('send X-Tenant-ID');
    expect(
      await noTenant.fail('create_migration_job', {
        source_config: `sqlite:${sample}`,
        target_config: target.url,
      }),
    ).toMatch(/^400 TENANT_REQUIRED/);
    expect(await noTenant.ok('health_check')).toMatchObject({ status: 'ok' });
    const wrongTenant = await checker(tenant.keys.engineer, other.id);
    expect(await wrongTenant.fail('list_migration_jobs')).toMatch(
      /^403 FORBIDDEN: X-Tenant-ID does not match/,
    );
  });

  it('refuses the HTTP request itself (401) without a valid bearer credential', async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer fk_000000000000_not-a-real-key-not-a-real-key-not-a-real-k' },
      { authorization: 'Basic dXNlcjpwYXNz' },
    ];
    for (const headers of attempts) {
      const res = await fetch(mcpUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'x-tenant-id': tenant.id,
          ...headers,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(((await res.json()) as Json).error.code).toBe('UNAUTHENTICATED');
    }
    // A malformed X-Tenant-ID is refused as on REST, before any tool runs.
    const bad = await fetch(mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${tenant.keys.engineer}`,
        'x-tenant-id': '../Other Tenant',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).error).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'x-tenant-id' },
    });
    await expect(connectHttp(mcpUrl, { tenant: tenant.id })).rejects.toThrow(/401|UNAUTHENTICATED/);
    await expect(
      connectHttp(mcpUrl, { key: 'fk_000000000000_wrong', tenant: tenant.id }),
    ).rejects.toThrow(/401|UNAUTHENTICATED/);
  });

  it('rejects a Host or Origin that is not allowed (DNS-rebinding protection), even with a valid key', async () => {
    const auth = { authorization: `Bearer ${tenant.keys.engineer}`, 'x-tenant-id': tenant.id };
    const port = new URL(base).port;
    const allowed = await rawPost(mcpUrl, { ...auth, host: `localhost:${port}` });
    expect(allowed.status, allowed.body).toBe(200);
    expect(allowed.body).toContain('"freight"');
    const rebound = await rawPost(mcpUrl, { ...auth, host: `attacker.example:${port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('Invalid Host');
    const origin = await rawPost(mcpUrl, { ...auth, origin: 'http://attacker.example' });
    expect(origin.status).toBe(403);
    expect(origin.body).toContain('Invalid Origin');
    expect((await rawPost(mcpUrl, { ...auth, origin: `http://localhost:${port}` })).status).toBe(
      200,
    );
  });

  it('serves the 2026-07-28 protocol (server/discover) as well as the 2025 handshake', async () => {
    const modern = await checker(tenant.keys.engineer, tenant.id, 'modern');
    expect(modern.client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    expect(engineer.client.getNegotiatedProtocolVersion()).not.toBe('2026-07-28');
    expect(sorted((await listTools(modern.client)).map((t) => t.name))).toEqual(
      expectedTools({ role: 'engineer' }),
    );
    expect(await modern.ok('get_migration_job', { job_id: jobId })).toMatchObject({
      job_id: jobId,
      status: 'completed',
    });
    expect(await modern.fail('get_migration_job', { job_id: randomUUID() })).toMatch(
      /^404 JOB_NOT_FOUND/,
    );
  });

  it('read-only mode, toolsets and the role filter list only the right tools; outputSchemas: false removes every output schema', async () => {
    const caller = await authenticate(api.proc.services, `Bearer ${api.adminKey}`);
    const invoke = inProcessInvoker(api.proc.services, caller, tenant.id, base, 'test-filters');
    const namesFor = async (options: Parameters<typeof createMcpServer>[2]) => {
      const client = await connectInMemory(createMcpServer(OPERATIONS, invoke, options));
      clients.push(client);
      return { client, names: sorted((await listTools(client)).map((t) => t.name)) };
    };
    const cases: Array<[Parameters<typeof createMcpServer>[2], string[], readonly string[]]> = [
      // options, the tools they must offer (from the operations), the tools among them
      [{}, expectedTools(), ALL_TOOLS],
      [{ readOnly: true }, expectedTools({ readOnly: true }), READ_ONLY_TOOLS],
      [{ toolsets: ['logs'] }, expectedTools({ toolsets: ['logs'] }), LOG_TOOLS],
      [
        { toolsets: ['jobs', 'ops'] },
        expectedTools({ toolsets: ['jobs', 'ops'] }),
        [...JOB_TOOLS, ...OPS_TOOLS],
      ],
      [{ toolsets: ['admin'] }, expectedTools({ toolsets: ['admin'] }), ADMIN_TOOLS],
      [
        { toolsets: ['jobs'], readOnly: true },
        expectedTools({ toolsets: ['jobs'], readOnly: true }),
        ['list_migration_jobs', 'get_migration_job', 'get_job_progress', 'list_job_batches'],
      ],
      [{ role: 'viewer' }, expectedTools({ role: 'viewer' }), VIEWER_TOOLS],
      [
        { role: 'engineer', readOnly: true },
        expectedTools({ role: 'engineer', readOnly: true }),
        READ_ONLY_TOOLS.filter((n) => !(ADMIN_TOOLS as readonly string[]).includes(n)),
      ],
    ];
    for (const [options, expected, core] of cases) {
      const { names } = await namesFor(options);
      expect(names, JSON.stringify(options)).toEqual(expected);
      expect(names, JSON.stringify(options)).toEqual(expect.arrayContaining([...core]));
    }
    // Read-only mode offers no tool that changes anything.
    const readOnly = (await namesFor({ readOnly: true })).names;
    for (const name of [
      'create_migration_job',
      'retry_migration_job',
      'cancel_migration_job',
      'create_tenant',
      'create_api_key',
      'revoke_api_key',
    ])
      expect(readOnly).not.toContain(name);
    expect(
      readOnly.every((n) => OPERATIONS.find((op) => op.id === n)!.annotations.readOnlyHint),
    ).toBe(true);
    // Toolsets partition the tools: the tools sit in the toolsets it names.
    expect((await namesFor({ toolsets: ['jobs'] })).names).toEqual(sorted(JOB_TOOLS));
    expect((await namesFor({ toolsets: ['logs'] })).names).toEqual(sorted(LOG_TOOLS));

    const { client, names } = await namesFor({ outputSchemas: false });
    expect(names).toEqual(expectedTools());
    for (const tool of await listTools(client))
      expect(tool.outputSchema, tool.name).toBeUndefined();
    const result = await new ToolChecker(client, seen)
      .init()
      .then((c) => c.ok('get_migration_job', { job_id: jobId }));
    expect(result.job_id).toBe(jobId);
  });

  it("every one of the issue's tools was called successfully and failed at least once; every listed tool failed at least once", () => {
    expect(sorted(seen.succeeded)).toEqual(expect.arrayContaining(ALL_TOOLS));
    expect(sorted(seen.failed)).toEqual(expectedTools());
  });
});

describe.skipIf(!pgUp)('MCP tools over Streamable HTTP, on the postgresql store', () => {
  let api: TestApi;
  let mcpUrl: string;
  let base: string;
  let target: Awaited<ReturnType<typeof createPgSchema>>;
  let tenant: Awaited<ReturnType<TestApi['tenant']>>;
  const files = tempDir();
  const sample = files.file('shop.db');
  const clients: Client[] = [];

  beforeAll(async () => {
    api = await startTestApi('postgresql');
    base = await api.app.listen({ port: 0, host: '127.0.0.1' });
    mcpUrl = `${base}/mcp`;
    target = await createPgSchema('fmcp_pg');
    tenant = await api.tenant();
    createSampleDatabase(sample, 0.02);
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await api?.close();
    await target?.drop();
    files.remove();
  });

  it('lists the tools, runs a job to completion, reads and exports its logs, refuses what it must, and audits the MCP calls', async () => {
    const open = async (key: string, tenantId: string | null) => {
      const client = await connectHttp(mcpUrl, { key, tenant: tenantId });
      clients.push(client);
      return new ToolChecker(client).init();
    };
    const admin = await open(api.adminKey, null);
    const engineer = await open(tenant.keys.engineer, tenant.id);
    const viewer = await open(tenant.keys.viewer, tenant.id);
    expect(sorted((await listTools(admin.client)).map((t) => t.name))).toEqual(expectedTools());
    expect(sorted((await listTools(viewer.client)).map((t) => t.name))).toEqual(
      expectedTools({ role: 'viewer' }),
    );
    expect((await listTools(admin.client)).map((t) => t.name)).toEqual(
      expect.arrayContaining(ALL_TOOLS),
    );

    const created = await engineer.ok('create_migration_job', {
      source_config: `sqlite:${sample}`,
      target_config: target.url,
      batch_size: 250,
    });
    const jobId = created.job_id as string;
    const done = await waitForJobTool(viewer, jobId);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect((await viewer.ok('get_job_progress', { job_id: jobId })).tables).toHaveLength(5);
    expect((await viewer.ok('list_job_batches', { job_id: jobId })).total).toBe(
      done.progress.batches.total,
    );
    const logs = await viewer.ok('get_migration_logs', { job_id: jobId, limit: 3 });
    expect(logs.logs).toHaveLength(3);
    const next = await viewer.ok('get_migration_logs', {
      job_id: jobId,
      limit: 3,
      cursor: logs.next_cursor,
    });
    expect(next.logs[0].log_id).toBeLessThan(logs.logs[2].log_id);
    const exported = await engineer.ok('export_migration_logs', { job_id: jobId, format: 'jsonl' });
    const lines = (await (await fetch(exported.export_url)).text()).trim().split('\n');
    expect(lines).toHaveLength(exported.records);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      log_id: expect.any(Number),
      status: expect.any(String),
    });

    expect(await engineer.fail('cancel_migration_job', { job_id: jobId })).toMatch(/^409 CONFLICT/);
    expect(await engineer.fail('get_migration_job', { job_id: randomUUID() })).toMatch(
      /^404 JOB_NOT_FOUND: .*call list_migration_jobs/,
    );
    expect((await viewer.ok('get_job_statistics')).jobs_by_status.completed).toBe(1);
    expect(await viewer.ok('get_worker_status')).toMatchObject({ workers_alive: 1 });
    expect(
      (await admin.ok('get_tenant_statistics')).tenants.map((t: Json) => t.tenant_id),
    ).toContain(tenant.id);

    const audit = await admin.ok('list_audit_events', { tenant_id: tenant.id });
    expect(audit.events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          action: 'create_migration_job',
          method: 'MCP',
          target: jobId,
          status: 201,
          actor: keyId(tenant.keys.engineer),
        }),
        expect.objectContaining({
          action: 'cancel_migration_job',
          method: 'MCP',
          target: jobId,
          status: 409,
          result: 'failure',
        }),
        expect.objectContaining({
          action: 'export_migration_logs',
          method: 'MCP',
          target: jobId,
          status: 200,
        }),
      ]),
    );
  });
});
