import http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobEvent } from '../engine/events.js';
import type { JobQueue } from '../queue/job-queue.js';
import type { MetadataStore } from '../store/store.js';

/** At most this many distinct tenant label values; the rest are counted as "other". */
const MAX_TENANTS = 100;

/**
 * Prometheus metrics (ENABLE_METRICS=true, served on METRICS_PORT): HTTP requests by route and
 * status with latency, rows and batches per tenant, batch durations, queue depth, live workers,
 * jobs by state. Names are prefixed `freight_`; units in names (seconds, _total for counters);
 * the tenant label is bounded so a platform with many tenants cannot explode cardinality.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<'method' | 'route' | 'status_code'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  private readonly rows: Counter<'tenant' | 'outcome'>;
  private readonly batches: Counter<'tenant' | 'status'>;
  private readonly batchDuration: Histogram<'status'>;
  private readonly tenants = new Set<string>();
  private readonly jobTenants = new Map<string, string>();

  constructor(
    private readonly store: MetadataStore,
    queue: JobQueue,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'freight_' });
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: 'freight_http_requests_total',
      help: 'HTTP requests answered, by route pattern and status code.',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'freight_http_request_duration_seconds',
      help: 'HTTP request latency, by route pattern and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.rows = new Counter({
      name: 'freight_rows_total',
      help: 'Rows processed by batches this process ran, by tenant and outcome (written, failed).',
      labelNames: ['tenant', 'outcome'],
      registers,
    });
    this.batches = new Counter({
      name: 'freight_batches_total',
      help: 'Batches this process finished, by tenant and status (succeeded, failed, retrying, released).',
      labelNames: ['tenant', 'status'],
      registers,
    });
    this.batchDuration = new Histogram({
      name: 'freight_batch_duration_seconds',
      help: 'Time to copy one batch, by outcome.',
      labelNames: ['status'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    const store_ = store;
    new Gauge({
      name: 'freight_queue_tasks',
      help: 'Tasks in the queue, by state (waiting, delayed, active).',
      labelNames: ['state'],
      registers,
      async collect() {
        const c = await queue.counts().catch(() => null);
        if (!c) return;
        this.set({ state: 'waiting' }, c.waiting);
        this.set({ state: 'delayed' }, c.delayed);
        this.set({ state: 'active' }, c.active);
      },
    });
    new Gauge({
      name: 'freight_workers_alive',
      help: 'Workers whose heartbeat is less than 15 s old.',
      registers,
      async collect() {
        const workers = await store_
          .listWorkers(new Date(Date.now() - 15_000).toISOString())
          .catch(() => []);
        this.set(workers.length);
      },
    });
    const jobStates = [
      'pending',
      'planning',
      'running',
      'cancelling',
      'completed',
      'completed_with_errors',
      'failed',
      'cancelled',
    ];
    new Gauge({
      name: 'freight_jobs',
      help: 'Jobs on the platform, by state.',
      labelNames: ['state'],
      registers,
      async collect() {
        const stats = await store_.jobStats(null).catch(() => []);
        const totals: Record<string, number> = Object.fromEntries(jobStates.map((s) => [s, 0]));
        for (const s of stats)
          for (const [k, v] of Object.entries(s.jobsByStatus)) totals[k] = (totals[k] ?? 0) + v;
        for (const [state, n] of Object.entries(totals)) this.set({ state }, n);
      },
    });
  }

  /** Records one answered HTTP request. `route` is the route pattern (never the raw URL). */
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
    const labels = { method, route, status_code: String(statusCode) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  /** Feeds job events from this process's worker. */
  onJobEvent = (jobId: string, event: JobEvent): void => {
    if (event.type !== 'batch-finished') return;
    void this.tenantOf(jobId).then((tenant) => {
      this.batches.inc({ tenant, status: event.status });
      if (event.rowsWritten) this.rows.inc({ tenant, outcome: 'written' }, event.rowsWritten);
      if (event.rowsFailed) this.rows.inc({ tenant, outcome: 'failed' }, event.rowsFailed);
      if (event.durationMs !== undefined)
        this.batchDuration.observe({ status: event.status }, event.durationMs / 1000);
    });
  };

  private async tenantOf(jobId: string): Promise<string> {
    let tenant = this.jobTenants.get(jobId);
    if (!tenant) {
      tenant = (await this.store.getJob(jobId).catch(() => null))?.tenantId ?? 'unknown';
      if (this.jobTenants.size > 10_000) this.jobTenants.clear();
      this.jobTenants.set(jobId, tenant);
    }
    if (this.tenants.has(tenant)) return tenant;
    if (this.tenants.size >= MAX_TENANTS) return 'other';
    this.tenants.add(tenant);
    return tenant;
  }

  /** Serves /metrics on its own port; resolves with a function that stops it. */
  async serve(
    port: number,
    host = '0.0.0.0',
  ): Promise<{ port: number; close: () => Promise<void> }> {
    const server = http.createServer((req, res) => {
      if (req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    const address = server.address();
    return {
      port: typeof address === 'object' && address ? address.port : port,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
}
