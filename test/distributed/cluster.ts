import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BIN, REPO } from '../helpers/cli.js';
import { sleep, waitFor } from '../helpers/wait.js';
import {
  dropPgSchema,
  dropRedisKeys,
  PG_STORE_URL,
  REDIS_URL,
  tempDir,
  uniqueName,
} from '../helpers/databases.js';

/**
 * A distributed Freight installation made of real processes, for tests: a PostgreSQL store schema,
 * a BullMQ queue name of its own, `freight serve --no-worker` and any number of `freight worker`.
 */

const ADMIN_KEY = 'test-admin-key-distributed-0123456789';

export { sleep, waitFor };

export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set for `freight worker` processes, from their start-up line. */
  workerId = '';
  private out = '';
  private running = true;

  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pid = this.child.pid!;
    const append = (d: Buffer) => {
      this.out += d.toString();
      if (this.out.length > 400_000) this.out = this.out.slice(-200_000);
    };
    this.child.stdout!.on('data', append);
    this.child.stderr!.on('data', append);
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.running = false;
        resolve({ code, signal });
      }),
    );
  }

  /** The last 200–400 kB of stdout + stderr. */
  output(): string {
    return this.out;
  }

  get alive(): boolean {
    return this.running;
  }
}

export interface Http {
  (
    method: string,
    url: string,
    options?: { body?: unknown; key?: string; tenant?: string },
  ): Promise<{ status: number; json: any; text: string }>;
}

export interface Cluster {
  readonly schema: string;
  readonly queueName: string;
  readonly baseUrl: string;
  readonly adminKey: string;
  readonly api: Proc;
  readonly workers: Proc[];
  readonly http: Http;
  /** A `freight worker`; `env` overrides the installation's settings for this process only. */
  startWorker(concurrency: number, env?: Record<string, string>): Promise<Proc>;
  /** A tenant with an engineer key. */
  tenant(id?: string): Promise<{ id: string; key: string }>;
  stop(): Promise<void>;
}

export async function startCluster(
  options: { env?: Record<string, string> } = {},
): Promise<Cluster> {
  if (!existsSync(path.join(REPO, 'dist/cli/main.js')))
    throw new Error('dist/ is missing: run `npm run build` first');
  const schema = uniqueName('fdist');
  const queueName = uniqueName('fdist-q');
  const home = tempDir('freight-dist-');
  const env: Record<string, string> = {
    DATABASE_URL: PG_STORE_URL,
    FREIGHT_DB_SCHEMA: schema,
    REDIS_URL,
    FREIGHT_QUEUE_NAME: queueName,
    FREIGHT_SECRET_KEY: 'test-secret-key-distributed-0123456789',
    FREIGHT_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    FREIGHT_HOME: home.dir,
    FREIGHT_LEASE_MS: '3000',
    FREIGHT_QUEUE_LOCK_MS: '3000',
    FREIGHT_LOG_LEVEL: 'warn',
    FREIGHT_RATE_LIMIT: '1000000',
    PORT: '0',
    HOST: '127.0.0.1',
    ...options.env,
  };
  const api = new Proc('api', ['serve', '--no-worker'], env);
  const match = await waitFor(
    () =>
      /API on (http:\/\/[^\s]+?)(?= |\))/.exec(api.output()) ??
      (api.alive ? null : ('dead' as const)),
    30_000,
    'the API to listen',
    50,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}\n${api.output()}`, { cause: e });
  });
  if (match === 'dead') throw new Error(`freight serve exited:\n${api.output()}`);
  const baseUrl = match[1]!;

  const http: Http = async (method, url, o = {}) => {
    const headers: Record<string, string> = { authorization: `Bearer ${o.key ?? ADMIN_KEY}` };
    if (o.tenant) headers['x-tenant-id'] = o.tenant;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${baseUrl}${url}`, {
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
    return { status: res.status, json, text };
  };

  const workers: Proc[] = [];
  const startWorker = async (
    concurrency: number,
    overrides: Record<string, string> = {},
  ): Promise<Proc> => {
    const proc = new Proc(
      `worker-${workers.length + 1}`,
      ['worker', '--concurrency', String(concurrency)],
      { ...env, ...overrides },
    );
    const m = await waitFor(
      () => /worker (\S+) running/.exec(proc.output()) ?? (proc.alive ? null : ('dead' as const)),
      30_000,
      'the worker to start',
      50,
    );
    if (m === 'dead') throw new Error(`freight worker exited:\n${proc.output()}`);
    proc.workerId = m[1]!;
    workers.push(proc);
    return proc;
  };

  return {
    schema,
    queueName,
    baseUrl,
    adminKey: ADMIN_KEY,
    api,
    workers,
    http,
    startWorker,
    async tenant(id = uniqueName('t').replaceAll('_', '-')) {
      const t = await http('POST', '/api/v1/admin/tenants', { body: { tenant_id: id } });
      if (t.status !== 201) throw new Error(`create tenant: ${t.text}`);
      const k = await http('POST', '/api/v1/admin/keys', {
        body: { tenant_id: id, role: 'engineer' },
      });
      if (k.status !== 201) throw new Error(`create key: ${k.text}`);
      return { id, key: k.json.key as string };
    },
    async stop() {
      const procs = [api, ...workers].filter((p) => p.alive);
      for (const p of procs) p.child.kill('SIGKILL');
      await Promise.all(procs.map((p) => p.exited));
      await dropPgSchema(schema);
      await dropRedisKeys(`bull:${queueName}:*`);
      home.remove();
    },
  };
}
