import { randomUUID } from 'node:crypto';
import net from 'node:net';
import Database from 'better-sqlite3';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { createPgSchema, tempDir } from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';
import { client, listen, waitFor, waitForJob, type Client } from './harness.js';

/**
 * Prometheus metrics (ENABLE_METRICS=true on METRICS_PORT) of a server that ran jobs of known
 * size, scraped over HTTP and read with an independent parser of the Prometheus text format
 * (parse-prometheus-text-format): the figures equal the jobs' (rows written and failed per tenant,
 * batches, the batch-duration histogram, job states, HTTP requests by route template and status),
 * the names and labels follow Prometheus conventions, and the tenant label stays bounded.
 */

const pgUp = await hasService('postgres');

/** What parse-prometheus-text-format returns (prom2json's shape). */
interface ParsedFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: Array<{ value?: string; labels?: Record<string, string> }>;
}

interface Series {
  labels: Record<string, string>;
  value: number;
}
interface HistogramSeries {
  labels: Record<string, string>;
  /** [upper bound, cumulative count], in the order of the exposition. */
  buckets: Array<[number, number]>;
  sum: number;
  count: number;
}
interface Family {
  name: string;
  help: string;
  type: ParsedFamily['type'];
  series: Series[];
  histograms: HistogramSeries[];
}

/**
 * The exposition read with parse-prometheus-text-format. That parser merges the series of a
 * labelled histogram into one (yunyu/parse-prometheus-text-format#8, unreleased), so histogram
 * samples are read a second time with their TYPE line turned to untyped — each `_bucket`, `_sum`
 * and `_count` sample then comes back with all of its labels — and regrouped here by labels.
 */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const f of parsePrometheusTextFormat(text) as ParsedFamily[]) {
    families.set(f.name, {
      name: f.name,
      help: f.help,
      type: f.type,
      series:
        f.type === 'HISTOGRAM'
          ? []
          : f.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) })),
      histograms: [],
    });
  }
  const histograms = [...families.values()].filter((f) => f.type === 'HISTOGRAM');
  if (histograms.length === 0) return families;
  // Untyped, each run of `_bucket` (or `_sum`, `_count`) lines is a family of its own: gather them by name.
  const raw = new Map<string, ParsedFamily['metrics']>();
  const untyped = text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped');
  for (const f of parsePrometheusTextFormat(untyped) as ParsedFamily[])
    raw.set(f.name, [...(raw.get(f.name) ?? []), ...f.metrics]);
  for (const h of histograms) {
    const key = (labels: Record<string, string>) =>
      JSON.stringify(
        Object.entries(labels)
          .filter(([k]) => k !== 'le')
          .sort(),
      );
    const byLabels = new Map<string, HistogramSeries>();
    const series = (labels: Record<string, string>) => {
      const k = key(labels);
      let s = byLabels.get(k);
      if (!s) {
        s = {
          labels: Object.fromEntries(Object.entries(labels).filter(([l]) => l !== 'le')),
          buckets: [],
          sum: NaN,
          count: NaN,
        };
        byLabels.set(k, s);
      }
      return s;
    };
    for (const m of raw.get(`${h.name}_bucket`) ?? []) {
      const le = m.labels!.le!;
      series(m.labels!).buckets.push([le === '+Inf' ? Infinity : Number(le), Number(m.value)]);
    }
    for (const m of raw.get(`${h.name}_sum`) ?? []) series(m.labels ?? {}).sum = Number(m.value);
    for (const m of raw.get(`${h.name}_count`) ?? [])
      series(m.labels ?? {}).count = Number(m.value);
    h.histograms = [...byLabels.values()];
  }
  return families;
}

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const ROWS = 1000;
const BATCH = 100;
const BAD_ID = 537;
/** Tenants beyond which the tenant label reads "other" (src/metrics/metrics.ts). */
const TENANT_CAP = 100;

describe('Prometheus metrics of a server that ran jobs', () => {
  const skip = !pgUp;
  const files = tempDir();
  const source = files.file('items.db');
  const tiny = files.file('tiny.db');
  let api: TestApi;
  let base: string;
  let metricsUrl: string;
  let call: Client;
  let target: Awaited<ReturnType<typeof createPgSchema>>;
  let tenant: Awaited<ReturnType<TestApi['tenant']>>;
  let job: any;
  /** Requests this test made, by method, route template and status. */
  const made = new Map<string, number>();

  const scrape = async (): Promise<{
    families: Map<string, Family>;
    text: string;
    contentType: string;
  }> => {
    const res = await fetch(metricsUrl);
    expect(res.status).toBe(200);
    const text = await res.text();
    return {
      families: parseExposition(text),
      text,
      contentType: res.headers.get('content-type') ?? '',
    };
  };
  const matches = (labels: Record<string, string>, want: Record<string, string>) =>
    Object.entries(want).every(([k, v]) => labels[k] === v);
  /** The value of the one series with these labels (0 when there is none yet). */
  const value = (
    families: Map<string, Family>,
    name: string,
    labels: Record<string, string>,
  ): number => families.get(name)?.series.find((x) => matches(x.labels, labels))?.value ?? 0;

  beforeAll(async () => {
    if (skip) return;
    const db = new Database(source);
    db.exec(
      'CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL)',
    );
    const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?)');
    db.transaction(() => {
      // One record PostgreSQL refuses (a NUL byte in text): logged as failed, the rest of its batch commits.
      for (let i = 1; i <= ROWS; i++)
        insert.run(i, i === BAD_ID ? 'bad\u0000name' : `item ${i}`, i % 7);
    })();
    db.close();
    const t = new Database(tiny);
    t.exec(
      "CREATE TABLE one (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO one VALUES (1, 'x'), (2, 'y');",
    );
    t.close();

    const port = await freePort();
    api = await startTestApi('sqlite', {
      env: { ENABLE_METRICS: 'true', METRICS_PORT: String(port) },
      concurrency: 4,
    });
    expect(api.proc.metricsPort).toBe(port);
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    base = await listen(api.proc);
    const raw = client(base);
    call = async (method, url, o = {}) => {
      const r = await raw(method, url, o);
      const route = url
        .split('?')[0]!
        .replace(/^\/api\/v1\/jobs\/[0-9a-f-]{36}/, '/api/v1/jobs/:job_id');
      const key = `${method} ${route} ${r.status}`;
      made.set(key, (made.get(key) ?? 0) + 1);
      return r;
    };
    target = await createPgSchema('fmetrics');
    tenant = await api.tenant();

    const created = await call('POST', '/api/v1/jobs', {
      key: tenant.keys.engineer,
      tenant: tenant.id,
      body: { source_config: `sqlite:${source}`, target_config: target.url, batch_size: BATCH },
    });
    expect(created.status, created.text).toBe(201);
    job = await waitForJob(call, tenant.keys.viewer, tenant.id, created.json.job_id);
  });
  afterAll(async () => {
    if (skip) return;
    await api.close();
    await target.drop();
    files.remove();
  });

  it.skipIf(skip)('the job ran as designed: N rows in B batches, one failed record', () => {
    expect(job.status).toBe('completed_with_errors');
    // The batch holding the bad record commits its other rows and ends failed (retryable); the rest succeed.
    expect(job.progress).toMatchObject({
      rows_written: ROWS - 1,
      rows_failed: 1,
      batches: { total: ROWS / BATCH, succeeded: ROWS / BATCH - 1, failed: 1 },
    });
  });

  it.skipIf(skip)(
    "rows, batches and the batch-duration histogram equal the job's figures, per tenant",
    async () => {
      // The counters are fed from the worker's events; give the last ones a moment.
      const { families } = await waitFor(
        async () => {
          const s = await scrape();
          return value(s.families, 'freight_rows_total', {
            tenant: tenant.id,
            outcome: 'written',
          }) ===
            ROWS - 1
            ? s
            : null;
        },
        5000,
        'freight_rows_total to reach the job',
      );
      expect(value(families, 'freight_rows_total', { tenant: tenant.id, outcome: 'written' })).toBe(
        job.progress.rows_written,
      );
      expect(value(families, 'freight_rows_total', { tenant: tenant.id, outcome: 'failed' })).toBe(
        job.progress.rows_failed,
      );
      const batches = families.get('freight_batches_total')!;
      expect(batches.type).toBe('COUNTER');
      const byStatus = Object.fromEntries(
        batches.series
          .filter((m) => m.labels.tenant === tenant.id)
          .map((m) => [m.labels.status, m.value]),
      );
      expect(byStatus).toEqual({
        succeeded: job.progress.batches.succeeded,
        failed: job.progress.batches.failed,
      });

      const duration = families.get('freight_batch_duration_seconds')!;
      expect(duration.type).toBe('HISTOGRAM');
      // One observation per batch run, labelled with its outcome.
      const observed = Object.fromEntries(
        duration.histograms.map((h) => [h.labels.status, h.count]),
      );
      expect(observed).toEqual({
        succeeded: job.progress.batches.succeeded,
        failed: job.progress.batches.failed,
      });
      const sum = duration.histograms.reduce((n, h) => n + h.sum, 0);
      expect(sum).toBeGreaterThan(0);
      expect(sum).toBeLessThan(
        ((Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000) * 4 + 1,
      );
    },
  );

  it.skipIf(skip)('job states, queue depth and live workers', async () => {
    const { families } = await scrape();
    const jobs = families.get('freight_jobs')!;
    expect(jobs.type).toBe('GAUGE');
    const states = Object.fromEntries(jobs.series.map((m) => [m.labels.state, m.value]));
    expect(states).toMatchObject({
      completed_with_errors: 1,
      completed: 0,
      failed: 0,
      running: 0,
      pending: 0,
      cancelled: 0,
    });
    const queue = families.get('freight_queue_tasks')!;
    expect(queue.type).toBe('GAUGE');
    expect(new Set(queue.series.map((m) => m.labels.state))).toEqual(
      new Set(['waiting', 'delayed', 'active']),
    );
    expect(
      value(families, 'freight_queue_tasks', { state: 'waiting' }) +
        value(families, 'freight_queue_tasks', { state: 'active' }),
    ).toBe(0);
    expect(value(families, 'freight_workers_alive', {})).toBe(1);
  });

  it.skipIf(skip)(
    'HTTP requests are counted by route template and status, never by raw id; latency histograms match the counts',
    async () => {
      const missing = await call('GET', `/api/v1/jobs/${randomUUID()}`, {
        key: tenant.keys.viewer,
        tenant: tenant.id,
      });
      expect(missing.status).toBe(404);
      const unknown = await call('GET', `/api/v1/no-such-route/${randomUUID()}`, {
        key: tenant.keys.viewer,
        tenant: tenant.id,
      });
      expect(unknown.status).toBe(404);
      const unauthenticated = await call('GET', `/api/v1/jobs/${job.job_id}`, {});
      expect(unauthenticated.status).toBe(401);
      // The event stream of a finished job: answered and ended at once, counted like any request.
      const events = await call('GET', `/api/v1/jobs/${job.job_id}/events`, {
        key: tenant.keys.viewer,
        tenant: tenant.id,
      });
      expect(events.status).toBe(200);
      expect(events.text).toMatch(/^event: end$/m);

      const { families, text } = await scrape();
      const requests = families.get('freight_http_requests_total')!;
      expect(requests.type).toBe('COUNTER');
      const count = (method: string, route: string, status: number) =>
        value(families, 'freight_http_requests_total', {
          method,
          route,
          status_code: String(status),
        });
      // Every request this test made through the listening server is there, under its template.
      expect(count('GET', '/api/v1/jobs/:job_id', 200)).toBe(
        made.get('GET /api/v1/jobs/:job_id 200'),
      );
      expect(count('GET', '/api/v1/jobs/:job_id', 404)).toBe(1);
      expect(count('GET', '/api/v1/jobs/:job_id', 401)).toBe(1);
      expect(count('POST', '/api/v1/jobs', 201)).toBe(1);
      expect(count('GET', '/api/v1/jobs/:job_id/events', 200)).toBe(1);
      const unmatched = requests.series.filter(
        (m) => m.labels.status_code === '404' && m.labels.route !== '/api/v1/jobs/:job_id',
      );
      expect(unmatched).toHaveLength(1);
      expect(unmatched[0]!.labels.route).not.toContain('no-such-route');
      // No label value anywhere is a raw id or URL.
      expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
      expect(text).not.toContain('no-such-route');

      const latency = families.get('freight_http_request_duration_seconds')!;
      expect(latency.type).toBe('HISTOGRAM');
      expect(latency.histograms).toHaveLength(requests.series.length);
      for (const m of requests.series) {
        const h = latency.histograms.find((x) => matches(x.labels, m.labels));
        expect(h, JSON.stringify(m.labels)).toBeDefined();
        expect(h!.count).toBe(m.value);
      }
    },
  );

  it.skipIf(skip)(
    'names, types, units and histograms follow the Prometheus conventions',
    async () => {
      const { families, text, contentType } = await scrape();
      expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(families.size).toBeGreaterThan(10);
      for (const f of families.values()) {
        expect(f.name, 'prefix').toMatch(/^freight_[a-z0-9_]+$/);
        expect(f.help, `${f.name} has help`).not.toBe('');
        if (f.type === 'COUNTER') expect(f.name, 'counters end in _total').toMatch(/_total$/);
        // (prom-client's standard freight_nodejs_active_resources_total gauge is named after Node's own API.)
        else if (!/^freight_(process|nodejs)_/.test(f.name))
          expect(f.name, `${f.type.toLowerCase()} ${f.name} must not end in _total`).not.toMatch(
            /_total$/,
          );
        expect(
          ['COUNTER', 'GAUGE', 'HISTOGRAM', 'SUMMARY'],
          `${f.name} declares its type`,
        ).toContain(f.type);
        // Base units only: seconds and bytes, never milliseconds or kilobytes.
        expect(f.name).not.toMatch(
          /_(ms|milliseconds|microseconds|kb|kilobytes|mb|megabytes|minutes|hours)(_|$)/,
        );
        if (/duration|latency|_time|lag/.test(f.name) && !/_timestamp/.test(f.name))
          expect(f.name, 'times in seconds').toMatch(/_seconds(_total)?$/);
        if (/bytes|memory|heap|size/.test(f.name) && f.type !== 'COUNTER')
          expect(f.name, 'sizes in bytes').toMatch(/_bytes$|_heap_spaces?_|_count|_total$/);
        for (const m of [...f.series, ...f.histograms]) {
          for (const label of Object.keys(m.labels)) expect(label).toMatch(/^[a-z_][a-z0-9_]*$/);
        }
        if (f.type === 'HISTOGRAM')
          expect(f.histograms.length, `${f.name} has series`).toBeGreaterThan(0);
        for (const h of f.histograms) {
          // Buckets in increasing order, cumulative, ending with +Inf = the count.
          for (let i = 1; i < h.buckets.length; i++) {
            expect(h.buckets[i]![0], `${f.name} bounds increase`).toBeGreaterThan(
              h.buckets[i - 1]![0],
            );
            expect(
              h.buckets[i]![1],
              `${f.name} ${JSON.stringify(h.labels)} cumulative`,
            ).toBeGreaterThanOrEqual(h.buckets[i - 1]![1]);
          }
          expect(h.buckets.at(-1)![0]).toBe(Infinity);
          expect(h.buckets.at(-1)![1]).toBe(h.count);
          expect(h.sum).toBeGreaterThanOrEqual(0);
        }
      }
      // Every family is declared once, with TYPE and HELP.
      const typeLines = text.split('\n').filter((l) => l.startsWith('# TYPE '));
      expect(new Set(typeLines).size).toBe(typeLines.length);
      expect(typeLines.length).toBe(families.size);
    },
  );

  it.skipIf(skip)(
    `the tenant label is bounded: past ${TENANT_CAP} tenants the rest count as "other"`,
    async () => {
      // One tiny job for each of TENANT_CAP + 5 more tenants, created with the platform admin key.
      const extra = TENANT_CAP + 5;
      const ids: string[] = [];
      for (let i = 0; i < extra; i++) {
        const id = `cap-${i}-${randomUUID().slice(0, 8)}`;
        const t = await api.request('POST', '/api/v1/admin/tenants', { body: { tenant_id: id } });
        expect(t.statusCode, t.body).toBe(201);
        ids.push(id);
      }
      const jobIds: Array<[string, string]> = [];
      for (const [i, id] of ids.entries()) {
        const r = await api.request('POST', '/api/v1/jobs', {
          tenant: id,
          body: {
            source_config: `sqlite:${tiny}`,
            target_config: `sqlite:${files.file(`cap-${i}.db`)}`,
            verify: 'none',
          },
        });
        expect(r.statusCode, r.body).toBe(201);
        jobIds.push([id, r.json().job_id]);
      }
      for (const [id, jobId] of jobIds) await api.waitForJob(id, api.adminKey, jobId);

      const { families } = await waitFor(
        async () => {
          const s = await scrape();
          const rows = s.families
            .get('freight_rows_total')!
            .series.filter((m) => m.labels.outcome === 'written');
          return rows.reduce((n, m) => n + m.value, 0) === ROWS - 1 + extra * 2 ? s : null;
        },
        10_000,
        'every tiny job in freight_rows_total',
      );
      const rows = families
        .get('freight_rows_total')!
        .series.filter((m) => m.labels.outcome === 'written');
      const tenants = new Set(rows.map((m) => m.labels.tenant));
      expect(tenants.size).toBe(TENANT_CAP + 1);
      expect(tenants.has('other')).toBe(true);
      // The first TENANT_CAP tenants keep their own label; the rest (6 jobs of 2 rows) are "other".
      expect(value(families, 'freight_rows_total', { tenant: 'other', outcome: 'written' })).toBe(
        (extra + 1 - TENANT_CAP) * 2,
      );
      expect(value(families, 'freight_rows_total', { tenant: tenant.id, outcome: 'written' })).toBe(
        ROWS - 1,
      );
      for (const family of ['freight_batches_total', 'freight_rows_total']) {
        const values = new Set(families.get(family)!.series.map((m) => m.labels.tenant));
        expect(values.size, family).toBeLessThanOrEqual(TENANT_CAP + 1);
      }
    },
  );
});
