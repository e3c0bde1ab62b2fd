import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSampleDatabase } from '../../src/connectors/sqlite/sqlite-sample.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { freight } from '../helpers/cli.js';
import { createPgSchema, tempDir } from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';
import {
  client,
  listen,
  makeTenant,
  startDistributedApi,
  startWorker,
  waitForJob,
  type Child,
  type Client,
  type Distributed,
} from './harness.js';
import { openSse, SseParser, type SseEvent, type SseStream } from './sse-client.js';

/**
 * GET /api/v1/jobs/{id}/events (Server-Sent Events) on a real listening server, read with node's
 * http client and parsed per the SSE spec: progress of a real job (SQLite sample → PostgreSQL,
 * small batches, one batch at a time so it lasts a few seconds), the terminal state, auth and
 * tenancy; the same across processes (distributed: the events come from a `freight worker` child
 * over Redis); and `freight jobs watch`. The CLI tests need the built CLI (`npm run build`).
 */

const pgUp = await hasService('postgres');
const redisUp = pgUp && (await hasService('redis'));

const TERMINAL = ['completed', 'completed_with_errors', 'failed', 'cancelled'];
const files = tempDir();
/** A sample big enough for several progress events at 100 rows a batch, one batch at a time (~100k rows), and a small one. */
const sample = files.file('shop.db');
const small = files.file('small.db');
/** Rows per table of the samples (createSampleDatabase reports them). */
let sampleTables: Record<string, number> = {};
let smallTables: Record<string, number> = {};
const sum = (tables: Record<string, number>) => Object.values(tables).reduce((a, b) => a + b, 0);

beforeAll(() => {
  if (!pgUp) return;
  sampleTables = createSampleDatabase(sample, 1).tables;
  smallTables = createSampleDatabase(small, 0.15).tables;
});
afterAll(() => files.remove());

const parse = (e: SseEvent) => JSON.parse(e.data);
const doneOf = (p: { rows_written: number; rows_failed: number }) => p.rows_written + p.rows_failed;

/**
 * The checks every job stream must pass: SSE framing (ids increase, every data is JSON), progress
 * that never goes back (per job and per table), sane rates and ETAs, and an end that is the job's
 * terminal state. Returns the parsed progress events.
 */
function checkStream(stream: SseStream): any[] {
  const ids = stream.events.map((e) => Number(e.lastEventId));
  for (let i = 1; i < ids.length; i++)
    expect(ids[i], 'event ids increase').toBeGreaterThan(ids[i - 1]!);
  for (const e of stream.events)
    expect(() => JSON.parse(e.data), `${e.type} data is JSON`).not.toThrow();
  for (const e of stream.events)
    expect(['progress', 'status', 'batch', 'table', 'log', 'end']).toContain(e.type);

  const progress = stream.events.flatMap((e, i) =>
    e.type === 'progress' ? [{ event: e, at: stream.times[i]! }] : [],
  );
  const views = progress.map((p) => parse(p.event));
  let previousJob = -1;
  const previousTable = new Map<string, number>();
  for (const [i, v] of views.entries()) {
    const p = v.progress;
    expect(doneOf(p), `job rows done never decreases (event ${i})`).toBeGreaterThanOrEqual(
      previousJob,
    );
    previousJob = doneOf(p);
    expect(p.percent).toBeGreaterThanOrEqual(0);
    expect(p.percent).toBeLessThanOrEqual(100);
    for (const t of v.tables) {
      expect(
        doneOf(t),
        `table ${t.table} rows done never decreases (event ${i})`,
      ).toBeGreaterThanOrEqual(previousTable.get(t.table) ?? 0);
      previousTable.set(t.table, doneOf(t));
      expect(t.percent).toBeLessThanOrEqual(100);
      if (t.eta_seconds !== null) expect(t.eta_seconds).toBeGreaterThanOrEqual(0);
    }
    if (v.status === 'running' && p.planning_done) {
      const remaining = p.rows_planned - doneOf(p);
      if (p.rows_per_second === null || p.rows_per_second === 0)
        expect(p.eta_seconds === null || remaining === 0).toBe(true);
      else {
        expect(p.rows_per_second).toBeGreaterThan(0);
        // The smoothed rate covers the job so far (it is younger than the 30 s window): rate × elapsed ≈ rows done.
        const elapsed = (progress[i]!.at - Date.parse(v.started_at)) / 1000;
        expect(p.rows_per_second, 'rows/s is about rows done / elapsed').toBeLessThanOrEqual(
          (1.5 * doneOf(p)) / elapsed + 1,
        );
        // ETA = rows to go / rate (both rounded).
        expect(p.eta_seconds).not.toBeNull();
        expect(
          Math.abs(p.eta_seconds - remaining / p.rows_per_second),
          `job ETA ${JSON.stringify(p)}`,
        ).toBeLessThanOrEqual(etaSlack(remaining, p.rows_per_second));
        for (const t of v.tables) {
          const left = t.rows_planned - doneOf(t);
          if (t.status === 'planned' && t.rows_per_second > 0 && left > 0) {
            expect(
              Math.abs(t.eta_seconds - left / t.rows_per_second),
              `table ETA ${JSON.stringify(t)}`,
            ).toBeLessThanOrEqual(etaSlack(left, t.rows_per_second));
          }
        }
      }
    } else if (v.status !== 'running') {
      expect(p.eta_seconds, `no ETA when ${v.status}`).toBeNull();
    }
  }
  // The stream ends with the terminal state: the last progress is terminal, then `end`, then nothing.
  const last = stream.events.at(-1)!;
  expect(last.type).toBe('end');
  const end = parse(last);
  expect(TERMINAL).toContain(end.status);
  expect(views.at(-1).status).toBe(end.status);
  expect(stream.events.filter((e) => e.type === 'end')).toHaveLength(1);
  return views;
}

/** How far `rows / rate` may be from the ETA when both the ETA and the rate shown are rounded to integers. */
function etaSlack(rows: number, shownRate: number): number {
  return 0.5 + (rows / shownRate) * (0.5 / Math.max(0.5, shownRate - 0.5)) + 0.01;
}

/** Opens the job's stream; `ended()` waits for the server to end it (or closes it after `timeoutMs`). */
async function watchJob(base: string, jobId: string, key: string, tenant: string) {
  const stream = await openSse(`${base}/api/v1/jobs/${jobId}/events`, {
    authorization: `Bearer ${key}`,
    'x-tenant-id': tenant,
  });
  expect(stream.status, stream.body ?? '').toBe(200);
  expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
  expect(stream.headers['cache-control']).toMatch(/no-cache/);
  return {
    stream,
    async ended(timeoutMs = 60_000) {
      const t = setTimeout(() => stream.close(), timeoutMs);
      await stream.ended;
      clearTimeout(t);
    },
  };
}

describe('the SSE parser of these tests follows the spec', () => {
  it('handles multi-line data, comments, CRLF and CR line ends, split chunks, ids kept across events, and empty data', () => {
    const got: SseEvent[] = [];
    const p = new SseParser((e) => got.push(e));
    const text =
      ': keep-alive\n\nid: 7\nevent: progress\ndata: {"a":\ndata: 1}\n\r\ndata:no-space\r\rdata\n\nevent: skipped\n\nretry: 1500\nid: 8\ndata:  two spaces\n\n';
    for (let i = 0; i < text.length; i += 3) p.push(text.slice(i, i + 3));
    expect(got).toEqual([
      { type: 'progress', data: '{"a":\n1}', lastEventId: '7' },
      { type: 'message', data: 'no-space', lastEventId: '7' },
      { type: 'message', data: '', lastEventId: '7' },
      { type: 'message', data: ' two spaces', lastEventId: '8' },
    ]);
    expect(p.comments).toEqual([' keep-alive']);
    expect(p.retry).toBe(1500);
  });
});

describe('SSE job events from a server with its own worker (SQLite store)', () => {
  const skip = !pgUp;
  let api: TestApi;
  let base: string;
  let call: Client;
  let target: Awaited<ReturnType<typeof createPgSchema>>;
  let acme: Awaited<ReturnType<typeof makeTenant>>;
  let globex: Awaited<ReturnType<typeof makeTenant>>;
  let finishedJob = '';

  beforeAll(async () => {
    if (skip) return;
    api = await startTestApi('sqlite', { concurrency: 2 });
    base = await listen(api.proc);
    call = client(base);
    target = await createPgSchema('fsse');
    acme = await makeTenant(call, api.adminKey);
    globex = await makeTenant(call, api.adminKey);
  });
  afterAll(async () => {
    if (skip) return;
    await api.close();
    await target.drop();
  });

  const createJob = async (
    tenant: Awaited<ReturnType<typeof makeTenant>>,
    targetConfig: unknown,
    extra: Record<string, unknown> = {},
  ) => {
    const r = await call('POST', '/api/v1/jobs', {
      key: tenant.keys.engineer,
      tenant: tenant.id,
      body: {
        source_config: `sqlite:${small}`,
        target_config: targetConfig,
        batch_size: 100,
        concurrency: 1,
        ...extra,
      },
    });
    expect(r.status, r.text).toBe(201);
    return r.json.job_id as string;
  };

  it.skipIf(skip)(
    'streams a running job: progress never goes back, rates and ETAs are sane, and it ends with the state GET reports',
    async () => {
      const jobId = await createJob(acme, target.url, { source_config: `sqlite:${sample}` });
      const { stream, ended } = await watchJob(base, jobId, acme.keys.viewer, acme.id);
      await ended(45_000);
      if (stream.events.at(-1)?.type !== 'end') {
        const now = await call('GET', `/api/v1/jobs/${jobId}`, {
          key: acme.keys.viewer,
          tenant: acme.id,
        });
        throw new Error(
          `no end after 45 s: ${stream.events.length} events, last ${JSON.stringify(stream.events.slice(-3))}; job now ${now.json.status} ${JSON.stringify(now.json.progress)}`,
        );
      }
      const views = checkStream(stream);

      const running = views.filter((v) => v.status === 'running');
      expect(running.length, 'several progress events while the job runs').toBeGreaterThanOrEqual(
        2,
      );
      expect(
        running.some(
          (v) =>
            v.progress.percent > 0 &&
            v.progress.percent < 100 &&
            v.progress.rows_per_second > 0 &&
            v.progress.eta_seconds > 0,
        ),
        'a progress event mid-way with a rate and an ETA',
      ).toBe(true);
      expect(
        running.some((v) => v.tables.some((t: any) => t.rows_per_second > 0 && t.eta_seconds > 0)),
        'a table ETA mid-way',
      ).toBe(true);

      // Batch events: every batch that finished after we subscribed, with its rows.
      const first = views[0].progress;
      const finished = stream.events
        .filter((e) => e.type === 'batch')
        .map(parse)
        .filter((b) => b.type === 'batch-finished');
      const written = finished.reduce((n, b) => n + b.rowsWritten, 0);
      const total = sum(sampleTables);
      expect(written).toBeLessThanOrEqual(total);
      expect(written).toBeGreaterThanOrEqual(total - first.rows_written);
      // Keyed tables in batches of 100 rows; audit_log has no key, so it is one batch.
      for (const b of finished)
        expect(b).toMatchObject({
          status: 'succeeded',
          batchId: expect.any(Number),
          rowsFailed: 0,
        });
      expect(
        finished.filter((b) => b.table !== 'audit_log').every((b) => b.rowsWritten <= 100),
      ).toBe(true);
      expect(
        stream.events.filter((e) => e.type === 'status').map((e) => parse(e).status),
      ).toContain('completed');

      // The terminal state is the one the REST API reports, to the field.
      const get = await call('GET', `/api/v1/jobs/${jobId}`, {
        key: acme.keys.viewer,
        tenant: acme.id,
      });
      expect(get.status).toBe(200);
      const final = views.at(-1);
      expect(final).toEqual(get.json);
      expect(final).toMatchObject({
        status: 'completed',
        progress: { rows_written: total, rows_failed: 0, percent: 100, eta_seconds: null },
      });
      expect(final.progress.rows_per_second).toBeGreaterThan(0);
      for (const [table, rows] of Object.entries(sampleTables)) {
        expect(final.tables.find((t: any) => t.table === table)).toMatchObject({
          rows_written: rows,
          percent: 100,
          status: 'finalized',
        });
      }
      finishedJob = jobId;
    },
  );

  it.skipIf(skip)(
    'a subscriber after the job finished gets its terminal state at once, and the stream ends',
    async () => {
      expect(finishedJob).not.toBe('');
      const started = Date.now();
      const { stream, ended } = await watchJob(base, finishedJob, acme.keys.viewer, acme.id);
      await ended(5000);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(stream.events.map((e) => e.type)).toEqual(['progress', 'end']);
      expect(parse(stream.events[0]!)).toMatchObject({ job_id: finishedJob, status: 'completed' });
      expect(parse(stream.events[1]!)).toEqual({ status: 'completed', error: null });
    },
  );

  it.skipIf(skip)('a job that fails: the stream ends with failed and its error', async () => {
    const jobId = await createJob(acme, `sqlite:${files.file('missing-parent/none/out.db')}`, {
      source_config: `sqlite:${files.file('no-such.db')}`,
    });
    const { stream, ended } = await watchJob(base, jobId, acme.keys.viewer, acme.id);
    await ended(30_000);
    const end = parse(stream.events.at(-1)!);
    expect(stream.events.at(-1)!.type).toBe('end');
    expect(end.status).toBe('failed');
    expect(end.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    const get = await call('GET', `/api/v1/jobs/${jobId}`, {
      key: acme.keys.viewer,
      tenant: acme.id,
    });
    expect(get.json.status).toBe('failed');
    expect(end.error).toEqual(get.json.error);
  });

  it.skipIf(skip)(
    "same authentication and tenancy as REST: 401 without a key, 404 for another tenant's job exactly as for a missing one, viewer allowed",
    async () => {
      expect(finishedJob).not.toBe('');
      const url = (id: string) => `${base}/api/v1/jobs/${id}/events`;
      const none = await openSse(url(finishedJob), { 'x-tenant-id': acme.id });
      expect(none.status).toBe(401);
      expect(JSON.parse(none.body!).error.code).toBe('UNAUTHENTICATED');
      const bad = await openSse(url(finishedJob), {
        authorization: 'Bearer fk_000000000000_notavalidkeynotavalidkeynotavalidkeynotava',
        'x-tenant-id': acme.id,
      });
      expect(bad.status).toBe(401);

      // Another tenant's job and a job that does not exist: the same 404, apart from the id and request id.
      const foreign = await openSse(url(finishedJob), {
        authorization: `Bearer ${globex.keys.admin}`,
        'x-tenant-id': globex.id,
      });
      const missingId = randomUUID();
      const missing = await openSse(url(missingId), {
        authorization: `Bearer ${globex.keys.admin}`,
        'x-tenant-id': globex.id,
      });
      expect(foreign.status).toBe(404);
      expect(missing.status).toBe(404);
      const shape = (body: string, id: string) => {
        const j = JSON.parse(body);
        delete j.request_id;
        return JSON.stringify(j).replaceAll(id, '<id>');
      };
      expect(shape(foreign.body!, finishedJob)).toBe(shape(missing.body!, missingId));
      expect(foreign.headers['content-type']).toBe(missing.headers['content-type']);
      // REST says the same.
      const rest = await call('GET', `/api/v1/jobs/${finishedJob}`, {
        key: globex.keys.admin,
        tenant: globex.id,
      });
      expect(rest.status).toBe(404);
      expect(JSON.parse(foreign.body!).error.code).toBe(rest.json.error.code);

      // Naming the other tenant with one's own key is refused before anything is streamed.
      const crossed = await openSse(url(finishedJob), {
        authorization: `Bearer ${globex.keys.viewer}`,
        'x-tenant-id': acme.id,
      });
      expect(crossed.status).toBe(403);
      const noTenant = await openSse(url(finishedJob), {
        authorization: `Bearer ${acme.keys.viewer}`,
      });
      expect(noTenant.status).toBe(400);

      for (const role of ['viewer', 'engineer', 'admin'] as const) {
        const ok = await openSse(url(finishedJob), {
          authorization: `Bearer ${acme.keys[role]}`,
          'x-tenant-id': acme.id,
        });
        expect(ok.status, role).toBe(200);
        await ok.ended;
        expect(ok.events.at(-1)?.type).toBe('end');
      }
      // The platform admin may name the tenant, as on REST.
      const platform = await openSse(url(finishedJob), {
        authorization: `Bearer ${api.adminKey}`,
        'x-tenant-id': acme.id,
      });
      expect(platform.status).toBe(200);
      await platform.ended;
    },
  );

  it.skipIf(skip)(
    "the stream carries retries and still ends with the job's state when its database connections are killed mid-COPY",
    async () => {
      const killTarget = await createPgSchema('fsse_kill');
      try {
        const jobId = await createJob(acme, killTarget.url, {
          source_config: `sqlite:${sample}`,
          batch_size: 100,
          max_retries: 20,
        });
        const { stream, ended } = await watchJob(base, jobId, acme.keys.viewer, acme.id);
        // Only this job's COPYs (they name its schema): other suites' connections are left alone. Many
        // kills, some landing before the server accepted the COPY (which once left a batch hanging).
        let killed = 0;
        let over = false;
        const killer = (async () => {
          while (killed < 40 && !over) {
            const r = await killTarget.query(
              `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
              WHERE application_name = 'freight' AND state = 'active' AND query ILIKE 'COPY%' AND position($1 in query) > 0`,
              [`"${killTarget.name}"`],
            );
            killed += r.rows.filter((x) => x.ok).length;
            await new Promise((res) => setTimeout(res, 2));
          }
        })();
        await ended(40_000);
        over = true;
        await killer;
        expect(killed).toBeGreaterThan(0);
        expect(stream.events.at(-1)?.type, 'the stream ended').toBe('end');
        const views = checkStream(stream);
        const retries = stream.events
          .map(parse)
          .filter((e) => e.type === 'batch-finished' && e.status === 'retrying');
        expect(retries.length).toBeGreaterThan(0);
        expect(views.at(-1)).toMatchObject({
          status: 'completed',
          progress: { rows_written: sum(sampleTables), rows_failed: 0 },
        });
      } finally {
        await killTarget.drop();
      }
    },
  );

  it.skipIf(skip)('a client that goes away is unsubscribed on the server', async () => {
    const jobId = await createJob(acme, `sqlite:${files.file('gone.db')}`);
    const bus = (api.proc.services.events as unknown as { emitter: EventEmitter }).emitter;
    const before = bus.listenerCount(jobId);
    const { stream } = await watchJob(base, jobId, acme.keys.viewer, acme.id);
    await stream.next((e) => e.type === 'progress');
    expect(bus.listenerCount(jobId)).toBe(before + 1);
    stream.close();
    await waitForCondition(() => bus.listenerCount(jobId) === before, 5000);
    await waitForJob(call, acme.keys.viewer, acme.id, jobId);
  });

  it.skipIf(skip)(
    '`freight jobs watch <id>` follows a running job, draws its progress and exits 0 with the final state',
    async () => {
      // Small batches: the job lasts seconds even on a fast machine, so watch sees it running.
      const jobId = await createJob(acme, `sqlite:${files.file('watched.db')}`, {
        source_config: `sqlite:${sample}`,
        batch_size: 40,
      });
      const env = {
        FREIGHT_API_URL: base,
        FREIGHT_API_KEY: acme.keys.viewer,
        FREIGHT_TENANT_ID: acme.id,
        FREIGHT_HOME: files.dir,
      };
      const r = await freight(['jobs', 'watch', jobId], env, { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(`job ${jobId}: completed`);
      // Without a terminal, one line per progress event: status, bar, percent, rows, rate, ETA.
      const lines = r.stderr.split('\n').filter((l) => /rows\/s/.test(l));
      expect(lines.length).toBeGreaterThanOrEqual(2);
      expect(lines[0], 'the job was still going when watch connected').toMatch(
        /^(pending|planning|running) /,
      );
      expect(
        lines.some((l) => /^running .* \d+% .* [\d.,k]+ rows\/s +ETA \d/.test(l)),
        `a running line with a rate and an ETA:\n${lines.join('\n')}`,
      ).toBe(true);
      expect(lines.at(-1)).toMatch(/^completed .*100% .*rows/);
      const rows = lines.map((l) => Number(/\] +\d+% ([\d,]+)\//.exec(l)![1]!.replaceAll(',', '')));
      for (let i = 1; i < rows.length; i++) expect(rows[i]).toBeGreaterThanOrEqual(rows[i - 1]!);
      expect(rows.at(-1)).toBe(sum(sampleTables));

      // A job that is already over: answered at once; a failed job exits 1 and says why.
      const failed = await createJob(acme, `sqlite:${files.file('x.db')}`, {
        source_config: `sqlite:${files.file('no-such-2.db')}`,
      });
      await waitForJob(call, acme.keys.viewer, acme.id, failed);
      const again = await freight(['jobs', 'watch', failed], env, { timeoutMs: 20_000 });
      expect(again.code).toBe(1);
      expect(again.stdout).toMatch(new RegExp(`^job ${failed}: failed — [A-Z_]+: `));
      // Another tenant's key: the API's 404, not a hang.
      const foreign = await freight(
        ['jobs', 'watch', jobId],
        { ...env, FREIGHT_API_KEY: globex.keys.viewer, FREIGHT_TENANT_ID: globex.id },
        { timeoutMs: 20_000 },
      );
      expect(foreign.code).not.toBe(0);
      expect(foreign.stderr).toMatch(/not found/);
    },
  );
});

describe('SSE in distributed mode: the API without a worker streams what a `freight worker` process does', () => {
  const skip = !redisUp;
  let cluster: Distributed;
  let worker: Child;
  let target: Awaited<ReturnType<typeof createPgSchema>>;

  beforeAll(async () => {
    if (skip) return;
    cluster = await startDistributedApi();
    target = await createPgSchema('fsse_d');
    worker = await startWorker(cluster.env, 2);
  });
  afterAll(async () => {
    if (skip) return;
    await worker?.stop();
    await cluster?.close();
    await target?.drop();
  });

  it.skipIf(skip)(
    'batch, table and status events cross processes over Redis; progress and the end come from the shared store',
    async () => {
      expect(cluster.proc.worker).toBeNull();
      const tenant = await makeTenant(cluster.call, cluster.adminKey);
      const created = await cluster.call('POST', '/api/v1/jobs', {
        key: tenant.keys.engineer,
        tenant: tenant.id,
        body: {
          source_config: `sqlite:${small}`,
          target_config: target.url,
          batch_size: 100,
          concurrency: 1,
        },
      });
      expect(created.status, created.text).toBe(201);
      const jobId = created.json.job_id;
      const { stream, ended } = await watchJob(cluster.base, jobId, tenant.keys.viewer, tenant.id);
      await ended();
      expect(worker.alive, worker.stderr).toBe(true);
      const views = checkStream(stream);
      // Batch events can only have come from the worker process: this one has no worker.
      const batches = stream.events.filter((e) => e.type === 'batch').map(parse);
      expect(batches.filter((b) => b.type === 'batch-finished').length).toBeGreaterThan(10);
      expect(
        stream.events.some((e) => e.type === 'status' && parse(e).status === 'completed'),
      ).toBe(true);
      const get = await cluster.call('GET', `/api/v1/jobs/${jobId}`, {
        key: tenant.keys.viewer,
        tenant: tenant.id,
      });
      expect(views.at(-1)).toEqual(get.json);
      expect(get.json).toMatchObject({
        status: 'completed',
        progress: { rows_written: sum(smallTables) },
      });
      const workers = await cluster.call('GET', '/api/v1/workers/status', {
        key: tenant.keys.viewer,
        tenant: tenant.id,
      });
      expect(workers.status).toBe(200);
    },
  );
});

async function waitForCondition(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
