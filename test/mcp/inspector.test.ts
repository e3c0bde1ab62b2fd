import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSampleDatabase } from '../../src/connectors/sqlite/sqlite-sample.js';
import { BIN, REPO, freight } from '../helpers/cli.js';
import { TEST_DATA_DIRS, createPgSchema, tempDir } from '../helpers/databases.js';
import { ENGINEER_TOOLS, LOG_TOOLS, type Json } from '../helpers/mcp.js';
import { hasService } from '../helpers/services.js';

/**
 * "A real MCP client nobody here wrote, in CI": the MCP Inspector's CLI (pinned
 * @modelcontextprotocol/inspector-cli, built on the v1 SDK) drives Freight the way Claude Desktop
 * and other hosts do — over stdio, spawning `node bin/freight.js mcp` with FREIGHT_API_URL /
 * FREIGHT_API_KEY / FREIGHT_TENANT_ID in its environment (the README's configuration), and over
 * Streamable HTTP at /mcp with Authorization and X-Tenant-ID — against `freight serve` running as
 * a child process on a real port, migrating a SQLite sample into PostgreSQL. Needs the built CLI
 * (`npm run build`; `npm test` builds first).
 */

const pgUp = await hasService('postgres');
/** The inspector reads ../package.json relative to its working directory: run it from build/. */
const INSPECTOR_DIR = path.join(REPO, 'node_modules/@modelcontextprotocol/inspector-cli/build');
const TERMINAL = ['completed', 'completed_with_errors', 'failed', 'cancelled'];

interface Server {
  url: string;
  stderr: () => string;
  stop: () => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `freight serve` on a free port; resolves once it reports its address. */
function startServer(env: Record<string, string>): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child: ChildProcessWithoutNullStreams = spawn(
      process.execPath,
      [BIN, 'serve', '--concurrency', '2'],
      {
        cwd: REPO,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          PORT: '0',
          HOST: '127.0.0.1',
          ...env,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let err = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
      child.on('exit', (code, signal) => res({ code, signal })),
    );
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`freight serve did not start in 20 s:\n${err}`));
    }, 20_000);
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /API on (http:\/\/[^\s(]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1]!,
          stderr: () => err,
          stop: async () => {
            child.kill('SIGTERM');
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

/** Runs the Inspector CLI; resolves with its exit code, output and run time. */
function runInspector(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['index.js', ...args], {
      cwd: INSPECTOR_DIR,
      // The inspector hands its own environment to the server it spawns (stdio).
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** How the inspector reaches Freight: the command it spawns (stdio) or the URL and headers (HTTP). */
interface Target {
  args: string[];
  /** Arguments for the spawned server's command line, passed after `--` (so the inspector leaves them alone). */
  serverFlags?: string[];
  env: Record<string, string>;
}

/** One inspector call; the JSON it prints on stdout, parsed (it must be JSON, and exit 0). */
async function inspect(target: Target, method: string, extra: string[] = []): Promise<Json> {
  const flags = target.serverFlags?.length ? ['--', ...target.serverFlags] : [];
  const r = await runInspector(
    [...target.args, '--method', method, ...extra, ...flags],
    target.env,
  );
  expect(r.code, `inspector ${method} ${extra.join(' ')} failed:\n${r.stderr}\n${r.stdout}`).toBe(
    0,
  );
  return JSON.parse(r.stdout);
}

/** tools/call with `--tool-arg key=value` pairs (the inspector parses values as JSON when they are JSON). */
function toolArgs(args: Record<string, string | number>): string[] {
  const pairs = Object.entries(args).map(([k, v]) => `${k}=${v}`);
  return pairs.length > 0 ? ['--tool-arg', ...pairs] : [];
}

async function callTool(
  target: Target,
  name: string,
  args: Record<string, string | number> = {},
): Promise<{ result: Json; data: Json; text: string }> {
  const result = await inspect(target, 'tools/call', ['--tool-name', name, ...toolArgs(args)]);
  const text = result.content?.[0]?.text as string;
  return { result, data: result.structuredContent, text };
}

async function callOk(
  target: Target,
  name: string,
  args: Record<string, string | number> = {},
): Promise<Json> {
  const { result, data, text } = await callTool(target, name, args);
  expect(result.isError ?? false, `${name}: ${text}`).toBe(false);
  expect(data, `${name}: structuredContent`).toBeTypeOf('object');
  expect(JSON.parse(text)).toEqual(data);
  return data;
}

async function callError(
  target: Target,
  name: string,
  args: Record<string, string | number> = {},
): Promise<string> {
  const { result, text } = await callTool(target, name, args);
  expect(result.isError, `${name} should fail: ${text}`).toBe(true);
  return text;
}

async function waitFor(
  target: Target,
  jobId: string,
  until: (status: string) => boolean = (s) => TERMINAL.includes(s),
  timeoutMs = 40_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await callOk(target, 'get_migration_job', { job_id: jobId });
    if (until(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!pgUp)(
  'the MCP Inspector CLI drives Freight over stdio and Streamable HTTP',
  () => {
    const home = tempDir();
    const files = tempDir();
    const env = { FREIGHT_HOME: home.dir, FREIGHT_DATA_DIRS: TEST_DATA_DIRS, LOG_LEVEL: 'info' };
    const big = files.file('big.db');
    const tenant = 'acme-mcp';
    const schemas: Array<Awaited<ReturnType<typeof createPgSchema>>> = [];
    let server: Server;
    let engineerKey = '';
    let viewerKey = '';

    beforeAll(async () => {
      server = await startServer(env);
      expect(
        /First start:[\s\S]*?\n\s+(fk_\S+)\n/.exec(server.stderr()),
        server.stderr(),
      ).not.toBeNull();
      // A tenant and keys made with the CLI on the same FREIGHT_HOME as the running server.
      const t = await freight(['tenants', 'create', tenant], env);
      expect(t.code, t.stderr).toBe(0);
      for (const role of ['engineer', 'viewer'] as const) {
        const k = await freight(['keys', 'create', '--tenant', tenant, '--role', role], env);
        expect(k.code, k.stderr).toBe(0);
        const key = k.stdout.trim().split('\n').at(-1)!.trim();
        if (role === 'engineer') engineerKey = key;
        else viewerKey = key;
      }
      createSampleDatabase(big, 0.2);
    });
    afterAll(async () => {
      await server?.stop();
      for (const s of schemas) await s.drop();
      home.remove();
      files.remove();
    });

    const stdio = (
      key: string,
      flags: string[] = [],
      extraEnv: Record<string, string> = {},
    ): Target => ({
      // The README's Claude Desktop configuration: command node, args [bin/freight.js, mcp], the env below.
      args: [process.execPath, BIN, 'mcp'],
      serverFlags: flags,
      env: {
        FREIGHT_API_URL: server.url,
        FREIGHT_API_KEY: key,
        FREIGHT_TENANT_ID: tenant,
        ...extraEnv,
      },
    });
    const httpTarget = (key: string): Target => ({
      args: [
        `${server.url}/mcp`,
        '--transport',
        'http',
        '--header',
        `Authorization: Bearer ${key}`,
        '--header',
        `X-Tenant-ID: ${tenant}`,
      ],
      env: {},
    });

    it.each(['stdio', 'http'] as const)(
      'over %s: lists the tools, then create → get → logs → export → retry → cancel',
      async (transport) => {
        const target = transport === 'stdio' ? stdio(engineerKey) : httpTarget(engineerKey);
        const pg = await createPgSchema(`finsp_${transport}`);
        const pgBig = await createPgSchema(`finsp_${transport}_big`);
        schemas.push(pg, pgBig);
        // A copy of the sample with one record PostgreSQL cannot store (a NUL byte in text).
        const sample = files.file(`shop-${transport}.db`);
        createSampleDatabase(sample, 0.02);
        const setNote = (note: string) => {
          const db = new Database(sample);
          db.prepare('UPDATE orders SET note = ? WHERE id = 77').run(note);
          db.close();
        };
        setNote('bad\u0000byte');

        const listed = await inspect(target, 'tools/list');
        const names: string[] = listed.tools.map((t: Json) => t.name);
        // An engineer's key: the jobs, logs and ops tools, not the admin ones (the stdio server asks /auth/whoami).
        expect(names).toEqual(expect.arrayContaining(ENGINEER_TOOLS));
        for (const admin of [
          'create_tenant',
          'create_api_key',
          'get_tenant_statistics',
          'list_audit_events',
        ])
          expect(names).not.toContain(admin);
        const create = listed.tools.find((t: Json) => t.name === 'create_migration_job');
        expect(create.annotations).toMatchObject({
          readOnlyHint: false,
          destructiveHint: false,
          idempotentHint: false,
          openWorldHint: true,
        });
        expect(create.inputSchema.required).toEqual(['source_config', 'target_config']);
        expect(create.outputSchema.type).toBe('object');

        // create (URL-form connection configs: strings, as a model would write them)
        const created = await callOk(target, 'create_migration_job', {
          source_config: `sqlite:${sample}`,
          target_config: pg.url,
          batch_size: 100,
          started_by: `inspector-${transport}`,
        });
        expect(created).toMatchObject({
          status: 'pending',
          tenant_id: tenant,
          started_by: `inspector-${transport}`,
          options: { batch_size: 100 },
        });
        const jobId = created.job_id as string;

        // get, until it has finished: one record failed, its batch failed, the rest is in
        const done = await waitFor(target, jobId);
        expect(done.status, JSON.stringify(done.error)).toBe('completed_with_errors');
        expect(done.failed_batches).toHaveLength(1);
        expect(done.tables).toHaveLength(5);

        // logs: the failed record with its key and the reason
        const logs = await callOk(target, 'get_migration_logs', {
          job_id: jobId,
          status: 'failed',
        });
        expect(logs.logs).toEqual([
          expect.objectContaining({
            record_id: '77',
            status: 'failed',
            error_code: 'DATA_ERROR',
            table: 'orders',
          }),
        ]);
        const page = await callOk(target, 'get_migration_logs', { job_id: jobId, limit: 2 });
        expect(page.logs).toHaveLength(2);
        const next = await callOk(target, 'get_migration_logs', {
          job_id: jobId,
          limit: 2,
          cursor: page.next_cursor,
        });
        expect(next.logs[0].log_id).toBeLessThan(page.logs[1].log_id);

        // export: a link and a count (never the file); the link serves the file to anyone holding it
        const exported = await callOk(target, 'export_migration_logs', {
          job_id: jobId,
          format: 'csv',
          status: 'failed',
        });
        expect(Object.keys(exported).sort()).toEqual([
          'expires_at',
          'export_url',
          'format',
          'job_id',
          'records',
        ]);
        expect(exported).toMatchObject({ job_id: jobId, format: 'csv', records: 1 });
        expect(exported.export_url.startsWith(`${server.url}/api/v1/exports/`)).toBe(true);
        const file = await fetch(exported.export_url);
        expect(file.status).toBe(200);
        expect(file.headers.get('content-type')).toContain('text/csv');
        const lines = (await file.text()).trim().split('\r\n');
        expect(lines).toHaveLength(2);
        expect(lines[1]).toContain(',77,failed,DATA_ERROR,');

        // retry, once the row is fixed: the failed batch runs again and the job completes
        setNote('fixed');
        const retried = await callOk(target, 'retry_migration_job', {
          job_id: jobId,
          max_retries: 5,
        });
        expect(retried.retried_batches).toBe(1);
        const again = await waitFor(target, jobId);
        expect(again.status).toBe('completed');
        const orders = await pg.query(
          `SELECT count(*)::int AS n, count(*) FILTER (WHERE id = 77 AND note = 'fixed')::int AS fixed FROM "${pg.name}".orders`,
        );
        expect(orders.rows[0]).toEqual({ n: 1200, fixed: 1 });
        expect(await callError(target, 'retry_migration_job', { job_id: jobId })).toMatch(
          /^409 CONFLICT/,
        );

        // cancel a long job (30,000 one-row batches, one at a time): cancelled; a second cancel is a 409
        const long = await callOk(target, 'create_migration_job', {
          source_config: `sqlite:${big}`,
          target_config: pgBig.url,
          tables: '["order_items"]',
          batch_size: 1,
          concurrency: 1,
        });
        const cancel = await callOk(target, 'cancel_migration_job', { job_id: long.job_id });
        expect(['cancelling', 'cancelled']).toContain(cancel.status);
        const cancelled = await waitFor(target, long.job_id);
        expect(cancelled.status).toBe('cancelled');
        expect(cancelled.progress.rows_written).toBeLessThan(30_000);
        const twice = await callError(target, 'cancel_migration_job', { job_id: long.job_id });
        expect(twice).toMatch(/^409 CONFLICT: /);

        // errors are tool results a model can act on
        const unknown = await callError(target, 'get_migration_job', {
          job_id: '00000000-0000-4000-8000-000000000000',
        });
        expect(unknown).toMatch(/^404 JOB_NOT_FOUND: .* — call list_migration_jobs/);
        expect(await callError(target, 'list_migration_jobs', { limit: 0 })).toMatch(/limit/);
        expect(
          (await callOk(target, 'get_job_statistics')).jobs_by_status.cancelled,
        ).toBeGreaterThanOrEqual(1);
      },
    );

    it('stdio flags and environment choose the tools: --read-only, --toolsets, FREIGHT_MCP_TOOLSETS, --no-output-schemas; a viewer key lists only reads', async () => {
      const readOnlyJobs = await inspect(
        stdio(engineerKey, ['--read-only', '--toolsets', 'jobs']),
        'tools/list',
      );
      expect(readOnlyJobs.tools.map((t: Json) => t.name).sort()).toEqual([
        'get_job_progress',
        'get_migration_job',
        'list_job_batches',
        'list_migration_jobs',
      ]);
      const logsOnly = await inspect(
        stdio(engineerKey, [], { FREIGHT_MCP_TOOLSETS: 'logs' }),
        'tools/list',
      );
      expect(logsOnly.tools.map((t: Json) => t.name).sort()).toEqual([...LOG_TOOLS].sort());
      const readOnlyEnv = await inspect(
        stdio(engineerKey, [], { FREIGHT_MCP_READ_ONLY: 'true' }),
        'tools/list',
      );
      for (const t of readOnlyEnv.tools) expect(t.annotations.readOnlyHint, t.name).toBe(true);
      expect(readOnlyEnv.tools.map((t: Json) => t.name)).not.toContain('create_migration_job');
      for (const target of [
        stdio(engineerKey, ['--no-output-schemas']),
        stdio(engineerKey, [], { FREIGHT_MCP_OUTPUT_SCHEMAS: 'false' }),
      ]) {
        const noSchemas = await inspect(target, 'tools/list');
        expect(noSchemas.tools.length).toBeGreaterThanOrEqual(ENGINEER_TOOLS.length);
        for (const t of noSchemas.tools) expect(t.outputSchema, t.name).toBeUndefined();
      }
      // Without output schemas, results still carry structured content (and the same JSON as text).
      expect(
        await callOk(stdio(engineerKey, ['--no-output-schemas']), 'get_job_statistics'),
      ).toMatchObject({ tenant_id: tenant });
      const viewer = await inspect(stdio(viewerKey), 'tools/list');
      const viewerNames = viewer.tools.map((t: Json) => t.name);
      expect(viewerNames).toContain('get_migration_job');
      for (const name of [
        'create_migration_job',
        'retry_migration_job',
        'cancel_migration_job',
        'export_migration_logs',
      ])
        expect(viewerNames).not.toContain(name);
      // The same configuration through npx, as the README also documents it.
      const viaNpx = await inspect(
        {
          args: ['npx', '--prefix', REPO, 'freight', 'mcp'],
          env: {
            FREIGHT_API_URL: server.url,
            FREIGHT_API_KEY: viewerKey,
            FREIGHT_TENANT_ID: tenant,
          },
        },
        'tools/list',
      );
      expect(viaNpx.tools.map((t: Json) => t.name).sort()).toEqual([...viewerNames].sort());
      // A wrong key: the API's 401 comes back as a tool error naming what to check.
      const wrong = await callError(
        stdio('fk_000000000000_not-a-key-not-a-key-not-a-key-not-a-key-12'),
        'list_migration_jobs',
      );
      expect(wrong).toMatch(/^401 UNAUTHENTICATED: .*FREIGHT_API_KEY/);
    });

    it('with the API down, a stdio tool call is an isError result saying the API is unreachable, within seconds; stdout carries only protocol messages', async () => {
      const port = await closedPort();
      const down: Target = {
        args: [process.execPath, BIN, 'mcp'],
        env: {
          FREIGHT_API_URL: `http://127.0.0.1:${port}`,
          FREIGHT_API_KEY: engineerKey,
          FREIGHT_TENANT_ID: tenant,
        },
      };
      const r = await runInspector(
        [
          ...down.args,
          '--method',
          'tools/call',
          '--tool-name',
          'list_migration_jobs',
          '--tool-arg',
          'limit=5',
        ],
        down.env,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.ms).toBeLessThan(10_000);
      const result = JSON.parse(r.stdout);
      expect(result.isError).toBe(true);
      expect(result.content[0].text).toMatch(
        new RegExp(
          `^503 UNAVAILABLE: the Freight API at http://127.0.0.1:${port} is unreachable \\(ECONNREFUSED\\) — check that the Freight API is running and FREIGHT_API_URL points to it`,
        ),
      );
      // tools/list still works (every tool, since the key's role cannot be asked).
      const listed = await inspect(down, 'tools/list');
      expect(listed.tools.map((t: Json) => t.name)).toEqual(expect.arrayContaining(ENGINEER_TOOLS));

      // The raw stdio stream: every line on stdout is a JSON-RPC message; diagnostics go to stderr.
      const child = spawn(process.execPath, [BIN, 'mcp'], {
        cwd: REPO,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...down.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
      const send = (msg: object) => child.stdin.write(`${JSON.stringify(msg)}\n`);
      send({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      });
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'get_job_statistics', arguments: {} },
      });
      const deadline = Date.now() + 10_000;
      while (!out.includes('"id":2') && Date.now() < deadline)
        await new Promise((res) => setTimeout(res, 50));
      child.stdin.end();
      expect(await exited).toBe(0);
      const messages = out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Json);
      for (const m of messages) expect(m.jsonrpc).toBe('2.0');
      expect(messages.find((m) => m.id === 1).result.serverInfo.name).toBe('freight');
      const call = messages.find((m) => m.id === 2).result;
      expect(call.isError).toBe(true);
      expect(call.content[0].text).toContain('unreachable');
      expect(err).toContain('not answering');
    });

    it('serving MCP requests adds only structured log lines to the server output, and never the key', async () => {
      const before = server.stderr().length;
      await inspect(httpTarget(engineerKey), 'tools/list');
      await callOk(httpTarget(engineerKey), 'health_check');
      await callError(httpTarget(engineerKey), 'get_migration_job', {
        job_id: '00000000-0000-4000-8000-000000000000',
      });
      await new Promise((r) => setTimeout(r, 200));
      const added = server
        .stderr()
        .slice(before)
        .split('\n')
        .filter((l) => l.trim() !== '');
      for (const line of added)
        expect(() => JSON.parse(line), `not a log line: ${line}`).not.toThrow();
      for (const key of [engineerKey, viewerKey])
        expect(server.stderr().includes(key.slice(16)), 'a key in the server output').toBe(false);
    });
  },
);
