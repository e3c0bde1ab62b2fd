import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { startApiProcess, type ApiProcess } from '../../src/app/api-process.js';
import { loadConfig } from '../../src/config/config.js';
import type { Role } from '../../src/domain/access.js';
import { BIN, REPO } from '../helpers/cli.js';
import { sleep, waitFor } from '../helpers/wait.js';
import {
  dropPgSchema,
  dropRedisKeys,
  PG_STORE_URL,
  REDIS_URL,
  TEST_DATA_DIRS,
  tempDir,
  uniqueName,
} from '../helpers/databases.js';

/** Small helpers of the observability suites: real sockets, real child processes. */

export { sleep, waitFor };

/** Makes the API listen on a free port of 127.0.0.1; its base URL. */
export async function listen(proc: ApiProcess): Promise<string> {
  await proc.app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(proc.app.server.address() as AddressInfo).port}`;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** fetch over real HTTP with Freight's headers. */
export function client(base: string) {
  return async (
    method: string,
    url: string,
    o: { key?: string | null; tenant?: string; body?: unknown } = {},
  ): Promise<Reply> => {
    const headers: Record<string, string> = {};
    if (o.key) headers.authorization = `Bearer ${o.key}`;
    if (o.tenant) headers['x-tenant-id'] = o.tenant;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${url}`, {
      method,
      headers,
      ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
    });
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, headers: res.headers, text, json };
  };
}
export type Client = ReturnType<typeof client>;

/** A tenant with one key per role, made with the admin key. */
export async function makeTenant(
  call: Client,
  adminKey: string,
  id = uniqueName('t').replaceAll('_', '-'),
): Promise<{ id: string; keys: Record<Role, string> }> {
  const t = await call('POST', '/api/v1/admin/tenants', { key: adminKey, body: { tenant_id: id } });
  if (t.status !== 201) throw new Error(`create tenant: ${t.text}`);
  const keys = {} as Record<Role, string>;
  for (const role of ['viewer', 'engineer', 'admin'] as const) {
    const k = await call('POST', '/api/v1/admin/keys', {
      key: adminKey,
      body: { tenant_id: id, role },
    });
    if (k.status !== 201) throw new Error(`create key: ${k.text}`);
    keys[role] = k.json.key;
  }
  return { id, keys };
}

/** Polls GET /api/v1/jobs/{id} until the job is in a terminal state. */
export async function waitForJob(
  call: Client,
  key: string,
  tenant: string,
  jobId: string,
  timeoutMs = 60_000,
): Promise<any> {
  return waitFor(
    async () => {
      const r = await call('GET', `/api/v1/jobs/${jobId}`, { key, tenant });
      if (r.status !== 200) throw new Error(`get job: ${r.text}`);
      return ['completed', 'completed_with_errors', 'failed', 'cancelled'].includes(r.json.status)
        ? r.json
        : null;
    },
    timeoutMs,
    `job ${jobId} to finish`,
  );
}

/** A `freight` child process (built CLI), its output kept. */
export class Child {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout = '';
  stderr = '';

  constructor(args: string[], env: Record<string, string>) {
    if (!existsSync(path.join(REPO, 'dist/cli/main.js')))
      throw new Error('dist/ is missing: run `npm run build` first');
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Starts `freight worker` and waits for its start-up line. */
export async function startWorker(env: Record<string, string>, concurrency = 2): Promise<Child> {
  const worker = new Child(['worker', '--concurrency', String(concurrency)], env);
  await waitFor(
    () => /worker \S+ running/.test(worker.stderr) || !worker.alive,
    30_000,
    'freight worker to start',
    50,
  );
  if (!worker.alive) throw new Error(`freight worker exited:\n${worker.stderr}`);
  return worker;
}

export interface Distributed {
  readonly proc: ApiProcess;
  readonly base: string;
  readonly call: Client;
  readonly adminKey: string;
  /** The environment of the installation (PostgreSQL store, Redis queue): for `freight worker` children. */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Distributed mode: a PostgreSQL store in a schema of its own, BullMQ on Redis under a queue name
 * of its own, and the API in this process without its worker (start `freight worker` children).
 */
export async function startDistributedApi(
  options: {
    env?: Record<string, string>;
    log?: { level: string; stream: NodeJS.WritableStream };
  } = {},
): Promise<Distributed> {
  const schema = uniqueName('fobs');
  const queueName = uniqueName('fobs-q');
  const home = tempDir('freight-obs-');
  const env: Record<string, string> = {
    DATABASE_URL: PG_STORE_URL,
    FREIGHT_DB_SCHEMA: schema,
    REDIS_URL,
    FREIGHT_QUEUE_NAME: queueName,
    FREIGHT_SECRET_KEY: 'test-secret-key-observability-0123456789',
    FREIGHT_HOME: home.dir,
    FREIGHT_DATA_DIRS: TEST_DATA_DIRS,
    FREIGHT_AUTH_FAILURE_LIMIT: '100000',
    FREIGHT_RATE_LIMIT: '1000000',
    FREIGHT_LOG_LEVEL: 'warn',
    ...options.env,
  };
  const proc = await startApiProcess(loadConfig(env), {
    worker: false,
    ...(options.log ? { logger: pino({ level: options.log.level }, options.log.stream) } : {}),
  });
  const base = await listen(proc);
  return {
    proc,
    base,
    call: client(base),
    adminKey: proc.bootstrapKey!.key,
    env,
    async close() {
      await proc.close({ hard: true });
      await dropPgSchema(schema);
      await dropRedisKeys(`bull:${queueName}:*`);
      home.remove();
    },
  };
}
