import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { startApiProcess, type ApiProcess } from '../../src/app/api-process.js';
import { loadConfig } from '../../src/config/config.js';
import type { Role } from '../../src/domain/access.js';
import type { StoreKind } from './stores.js';
import { dropPgSchema, PG_STORE_URL, TEST_DATA_DIRS, tempDir, uniqueName } from './databases.js';

/** A running API (store of the given kind, in-process worker) for tests, driven with inject(). */
export interface TestApi {
  readonly app: FastifyInstance;
  readonly proc: ApiProcess;
  readonly adminKey: string;
  request(
    method: string,
    url: string,
    options?: {
      key?: string | null;
      tenant?: string | null;
      body?: unknown;
      headers?: Record<string, string>;
    },
  ): Promise<LightMyRequestResponse & { body: string; json: <T = any>() => T }>;
  /** A tenant with one key per role. */
  tenant(id?: string): Promise<{ id: string; keys: Record<Role, string> }>;
  waitForJob(
    tenant: string,
    key: string,
    jobId: string,
    until?: (status: string) => boolean,
    timeoutMs?: number,
  ): Promise<any>;
  close(): Promise<void>;
}

export async function startTestApi(
  kind: StoreKind,
  options: {
    env?: Record<string, string>;
    rateLimit?: { max: number; windowMs: number };
    concurrency?: number;
    /** Log the process (requests and job events) at this level into this stream, to inspect the lines; off by default. */
    log?: { level: string; stream: NodeJS.WritableStream };
  } = {},
): Promise<TestApi> {
  const home = tempDir();
  const schema = uniqueName('fapi');
  const config = loadConfig({
    FREIGHT_HOME: home.dir,
    FREIGHT_DATA_DIRS: TEST_DATA_DIRS,
    FREIGHT_SECRET_KEY: 'test-secret-key-0123456789abcdef',
    // The suites make many deliberately failing calls from one address; the throttle has its own test.
    FREIGHT_AUTH_FAILURE_LIMIT: '100000',
    ...(kind === 'postgresql' ? { DATABASE_URL: PG_STORE_URL, FREIGHT_DB_SCHEMA: schema } : {}),
    ...options.env,
  });
  const proc = await startApiProcess(config, {
    worker: true,
    concurrency: options.concurrency ?? 4,
    ...(options.log ? { logger: pino({ level: options.log.level }, options.log.stream) } : {}),
    server: { logger: false, rateLimit: options.rateLimit ?? { max: 100_000, windowMs: 60_000 } },
  });
  const adminKey = proc.bootstrapKey!.key;
  const api: TestApi = {
    app: proc.app,
    proc,
    adminKey,
    async request(method, url, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const key = o.key === undefined ? adminKey : o.key;
      if (key) headers.authorization = `Bearer ${key}`;
      if (o.tenant) headers['x-tenant-id'] = o.tenant;
      const res = await proc.app.inject({
        method: method as 'GET',
        url,
        headers,
        ...(o.body !== undefined
          ? {
              payload: typeof o.body === 'string' ? o.body : JSON.stringify(o.body),
              headers: { ...headers, 'content-type': 'application/json' },
            }
          : {}),
      });
      return res as LightMyRequestResponse & { body: string; json: <T = any>() => T };
    },
    async tenant(id = uniqueName('t').replaceAll('_', '-')) {
      const created = await api.request('POST', '/api/v1/admin/tenants', {
        body: { tenant_id: id },
      });
      if (created.statusCode !== 201) throw new Error(`tenant: ${created.body}`);
      const keys = {} as Record<Role, string>;
      for (const role of ['viewer', 'engineer', 'admin'] as const) {
        const r = await api.request('POST', '/api/v1/admin/keys', {
          body: { tenant_id: id, role },
        });
        if (r.statusCode !== 201) throw new Error(`key: ${r.body}`);
        keys[role] = r.json().key;
      }
      return { id, keys };
    },
    async waitForJob(
      tenant,
      key,
      jobId,
      until = (s) => ['completed', 'completed_with_errors', 'failed', 'cancelled'].includes(s),
      timeoutMs = 60_000,
    ) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await api.request('GET', `/api/v1/jobs/${jobId}`, { key, tenant });
        const job = r.json();
        if (r.statusCode !== 200) throw new Error(`get job: ${r.body}`);
        if (until(job.status)) return job;
        if (Date.now() > deadline)
          throw new Error(`job ${jobId} still ${job.status} after ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 100));
      }
    },
    async close() {
      await proc.close({ hard: true });
      if (kind === 'postgresql') await dropPgSchema(schema);
      home.remove();
    },
  };
  return api;
}
