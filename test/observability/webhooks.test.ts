import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { tempDir } from '../helpers/databases.js';
import { connectHttp, listTools, ToolChecker } from '../helpers/mcp.js';
import { hasService } from '../helpers/services.js';
import {
  client,
  listen,
  sleep,
  startDistributedApi,
  startWorker,
  waitFor,
  waitForJob,
  type Child,
  type Client,
  type Distributed,
} from './harness.js';

/**
 * Webhooks for job outcomes against a real receiver on 127.0.0.1: a generic webhook signed with
 * HMAC (verified here as a receiver would), a Slack-compatible one, a receiver failing with 500s
 * then recovering (retried with backoff; each failure in the delivery log and the server log), a
 * receiver that never answers and one that answers 410 (neither blocks the job or other
 * deliveries; a permanent 4xx is not retried), the same through MCP tools, and exactly one
 * delivery per outcome with two processes running notifiers.
 */

const pgUp = await hasService('postgres');
const redisUp = pgUp && (await hasService('redis'));

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A webhook receiver: answers each path as told (a status, a list of statuses in turn, or never). */
async function startReceiver() {
  const received: Received[] = [];
  const behaviour = new Map<string, number[] | 'hang'>();
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body, at: Date.now() });
      const plan = behaviour.get(path) ?? [200];
      if (plan === 'hang') return;
      const n = counts.get(path) ?? 0;
      counts.set(path, n + 1);
      res
        .writeHead(plan[Math.min(n, plan.length - 1)]!, { 'content-type': 'text/plain' })
        .end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    received,
    at: (path: string) => received.filter((r) => r.path === path),
    answer(path: string, plan: number[] | 'hang') {
      behaviour.set(path, plan);
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** A small SQLite source: `rows` rows in one table. */
function makeSource(file: string, rows: number): string {
  const db = new Database(file);
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO items VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) insert.run(i, `item ${i}`);
  })();
  db.close();
  return `sqlite:${file}`;
}

type Tenant = Awaited<ReturnType<TestApi['tenant']>>;

const verify = (secret: string, timestamp: string, body: string) =>
  `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;

describe('webhooks of a server with its own worker', () => {
  const files = tempDir();
  const logStream = new PassThrough();
  let logText = '';
  logStream.on('data', (d: Buffer) => (logText += d.toString()));
  const logLines = () =>
    logText
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, any>);
  let api: TestApi;
  let base: string;
  let call: Client;
  let receiver: Receiver;
  let source: string;

  beforeAll(async () => {
    receiver = await startReceiver();
    source = makeSource(files.file('items.db'), 300);
    api = await startTestApi('sqlite', { log: { level: 'info', stream: logStream } });
    base = await listen(api.proc);
    call = client(base);
  });
  afterAll(async () => {
    await api?.close();
    await receiver?.close();
    files.remove();
  });

  /** Creates a webhook through the API; the 201 answer. */
  const createHook = async (tenant: Tenant, body: Record<string, unknown>) => {
    const r = await call('POST', '/api/v1/webhooks', {
      key: tenant.keys.engineer,
      tenant: tenant.id,
      body,
    });
    expect(r.status, r.text).toBe(201);
    return r.json;
  };
  /** Runs a job to its end; the job as GET shows it, and how long it took from creation. */
  const runJob = async (tenant: Tenant, src = source) => {
    const created = await call('POST', '/api/v1/jobs', {
      key: tenant.keys.engineer,
      tenant: tenant.id,
      body: {
        source_config: src,
        target_config: `sqlite:${files.file(`${randomUUID()}.db`)}`,
        batch_size: 100,
        max_retries: 0,
      },
    });
    expect(created.status, created.text).toBe(201);
    const t0 = Date.now();
    const job = await waitForJob(call, tenant.keys.viewer, tenant.id, created.json.job_id, 30_000);
    return { job, ms: Date.now() - t0 };
  };
  const deliveries = async (tenant: Tenant, hookId: string) => {
    const r = await call('GET', `/api/v1/webhooks/${hookId}/deliveries`, {
      key: tenant.keys.viewer,
      tenant: tenant.id,
    });
    expect(r.status, r.text).toBe(200);
    return r.json.deliveries as any[];
  };

  it('a generic webhook: the signing secret is shown once, and each outcome is POSTed as JSON signed with HMAC-SHA256(secret, timestamp + "." + body)', async () => {
    const tenant = await api.tenant();
    const hook = await createHook(tenant, {
      url: `${receiver.base}/generic`,
      kind: 'generic',
      description: 'ops channel',
    });
    expect(hook).toMatchObject({
      kind: 'generic',
      events: ['completed', 'completed_with_errors', 'failed', 'cancelled'],
      description: 'ops channel',
    });
    expect(hook.signing_secret).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    const secret: string = hook.signing_secret;
    const listed = await call('GET', '/api/v1/webhooks', {
      key: tenant.keys.viewer,
      tenant: tenant.id,
    });
    expect(listed.status).toBe(200);
    expect(listed.json.webhooks.map((w: any) => w.webhook_id)).toEqual([hook.webhook_id]);
    expect(listed.text).not.toContain(secret);

    const { job } = await runJob(tenant);
    expect(job.status).toBe('completed');
    const [got] = await waitFor(
      () => (receiver.at('/generic').length > 0 ? receiver.at('/generic') : null),
      10_000,
      'the generic delivery',
    );
    expect(got!.headers['content-type']).toBe('application/json');
    expect(got!.headers['x-freight-event']).toBe('job.completed');
    const timestamp = String(got!.headers['x-freight-timestamp']);
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
    // As a receiver checks it: over the raw body, with the secret from the create answer.
    expect(got!.headers['x-freight-signature']).toBe(verify(secret, timestamp, got!.body));
    expect(got!.headers['x-freight-signature']).not.toBe(
      verify(`${secret}x`, timestamp, got!.body),
    );
    expect(got!.headers['x-freight-signature']).not.toBe(
      verify(secret, String(Number(timestamp) + 1), got!.body),
    );
    expect(got!.body).not.toContain(secret);

    const payload = JSON.parse(got!.body);
    expect(payload).toMatchObject({
      event: 'job.completed',
      job: {
        job_id: job.job_id,
        tenant_id: tenant.id,
        status: 'completed',
        error: null,
        source: job.source,
        target: job.target,
        rows_written: job.progress.rows_written,
        rows_failed: job.progress.rows_failed,
        started_at: job.started_at,
        finished_at: job.finished_at,
      },
    });
    expect(payload.job.rows_written).toBe(300);
    expect(Date.parse(payload.created_at)).toBeGreaterThanOrEqual(Date.parse(job.finished_at));

    // The delivery log: one delivery, delivered at the first attempt.
    const log = await waitFor(
      async () => {
        const d = await deliveries(tenant, hook.webhook_id);
        return d[0]?.status === 'delivered' ? d : null;
      },
      5000,
      'the delivery to be recorded',
    );
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({
      job_id: job.job_id,
      event: 'completed',
      status: 'delivered',
      attempts: 1,
      last_status_code: 200,
      last_error: null,
    });
    expect(String(got!.headers['x-freight-delivery'])).toBe(String(log[0].delivery_id));
    expect(JSON.stringify(log)).not.toContain(secret);

    // Exactly once, and only for subscribed outcomes: a failing job now goes to a hook that asked for failures only.
    const failedOnly = await createHook(tenant, {
      url: `${receiver.base}/failed-only`,
      events: ['failed'],
    });
    const { job: failed } = await runJob(tenant, `sqlite:${files.file('missing.db')}`);
    expect(failed.status).toBe('failed');
    const [fail] = await waitFor(
      () => (receiver.at('/failed-only').length > 0 ? receiver.at('/failed-only') : null),
      10_000,
      'the failed-only delivery',
    );
    expect(JSON.parse(fail!.body)).toMatchObject({
      event: 'job.failed',
      job: { job_id: failed.job_id, status: 'failed', error: { code: failed.error.code } },
    });
    expect(fail!.headers['x-freight-signature']).toBe(
      verify(failedOnly.signing_secret, String(fail!.headers['x-freight-timestamp']), fail!.body),
    );
    await waitFor(
      () => receiver.at('/generic').length >= 2,
      10_000,
      'the failed outcome at the generic hook',
    );
    await sleep(1500);
    expect(receiver.at('/generic').map((r) => JSON.parse(r.body).event)).toEqual([
      'job.completed',
      'job.failed',
    ]);
    expect(receiver.at('/failed-only')).toHaveLength(1);
  });

  it('a slack webhook gets an incoming-webhook message: text and blocks, no signature', async () => {
    const tenant = await api.tenant();
    const hook = await createHook(tenant, {
      url: `${receiver.base}/slack/T000/B000/XXXXSECRETTOKEN`,
      kind: 'slack',
    });
    expect(hook.signing_secret).toBeNull();
    expect(hook.url).not.toContain('XXXXSECRETTOKEN');
    const { job } = await runJob(tenant);
    const [got] = await waitFor(
      () =>
        receiver.at('/slack/T000/B000/XXXXSECRETTOKEN').length > 0
          ? receiver.at('/slack/T000/B000/XXXXSECRETTOKEN')
          : null,
      10_000,
      'the slack delivery',
    );
    expect(got!.headers['content-type']).toBe('application/json');
    expect(got!.headers['x-freight-signature']).toBeUndefined();
    const message = JSON.parse(got!.body);
    expect(typeof message.text).toBe('string');
    expect(message.text).toContain(job.job_id);
    expect(message.text).toMatch(/completed/);
    expect(message.text).toContain('300 rows written');
    expect(Array.isArray(message.blocks)).toBe(true);
    expect(message.blocks[0]).toEqual({
      type: 'section',
      text: { type: 'mrkdwn', text: message.text },
    });
    for (const block of message.blocks) {
      expect(['section', 'context', 'header', 'divider']).toContain(block.type);
      if (block.type === 'context')
        for (const e of block.elements)
          expect(e).toMatchObject({ type: 'mrkdwn', text: expect.any(String) });
    }
    expect(message.blocks.at(-1).elements[0].text).toContain(tenant.id);
    // Nothing else at the top level that Slack would reject.
    expect(Object.keys(message).sort()).toEqual(['blocks', 'text']);
  });

  it('a receiver answering 500, 500, then 200: retried with growing delays, each failure in the delivery log and the server log; the job never waited', async () => {
    const tenant = await api.tenant();
    receiver.answer('/flaky', [500, 500, 200]);
    const hook = await createHook(tenant, { url: `${receiver.base}/flaky` });
    const { job, ms } = await runJob(tenant);
    expect(job.status).toBe('completed');
    // The job's end did not wait for the receiver: it was over before the second attempt.
    const seen: any[] = [];
    await waitFor(
      async () => {
        const [d] = await deliveries(tenant, hook.webhook_id);
        // One entry per state of the delivery (a claim for the next attempt may touch other fields).
        const state = (x: any) => x && `${x.status}/${x.attempts}/${x.last_status_code}`;
        if (d && state(seen.at(-1)) !== state(d)) seen.push(d);
        return d?.status === 'delivered';
      },
      20_000,
      'the flaky delivery to succeed',
      50,
    );
    const attempts = receiver.at('/flaky');
    expect(attempts).toHaveLength(3);
    expect(Date.parse(job.finished_at)).toBeLessThan(attempts[1]!.at);
    expect(ms).toBeLessThan(10_000);
    // Backoff: about 0.5–1 s after the first failure, 1–2 s after the second (the loop ticks every second).
    const gap1 = attempts[1]!.at - attempts[0]!.at;
    const gap2 = attempts[2]!.at - attempts[1]!.at;
    expect(gap1).toBeGreaterThanOrEqual(450);
    expect(gap2).toBeGreaterThanOrEqual(950);
    expect(gap2).toBeLessThan(6000);
    // All three were the same delivery, with the same body.
    expect(new Set(attempts.map((a) => a.headers['x-freight-delivery'])).size).toBe(1);
    expect(new Set(attempts.map((a) => a.body)).size).toBe(1);

    // The delivery log showed each failure while it waited for the next attempt.
    // (A claim counts its attempt before sending: 'pending' with the final attempt number is
    // the successful attempt in flight, not a failure.)
    const failures = seen.filter(
      (d) =>
        d.status === 'pending' && d.last_status_code === 500 && d.attempts < seen.at(-1).attempts,
    );
    expect(failures.map((d) => d.attempts)).toEqual([1, 2]);
    for (const f of failures) {
      expect(f.last_error).toBe('HTTP 500');
      expect(Date.parse(f.next_attempt_at)).toBeGreaterThan(Date.parse(f.created_at));
    }
    expect(seen.at(-1)).toMatchObject({ status: 'delivered', attempts: 3, last_status_code: 200 });

    // And the server log has a structured warning for each.
    const warnings = logLines().filter((l) => l.webhook_id === hook.webhook_id);
    expect(warnings.map((l) => [l.level, l.attempt, l.status_code])).toEqual([
      [40, 1, 500],
      [40, 2, 500],
    ]);
    for (const w of warnings)
      expect(w).toMatchObject({
        job_id: job.job_id,
        tenant_id: tenant.id,
        delivery_id: failures[0].delivery_id,
        error: 'HTTP 500',
        next_attempt_at: expect.any(String),
      });
  });

  it('a receiver that never answers holds up neither the job nor the deliveries to others; a permanent 4xx is not retried', async () => {
    const slow = await api.tenant();
    receiver.answer('/hang', 'hang');
    await createHook(slow, { url: `${receiver.base}/hang` });
    const { job: slowJob, ms } = await runJob(slow);
    expect(slowJob.status).toBe('completed');
    expect(ms).toBeLessThan(10_000);
    await waitFor(() => receiver.at('/hang').length > 0, 10_000, 'the hanging delivery to start');

    // While that one waits for an answer, another tenant's outcome is delivered at once.
    const other = await api.tenant();
    receiver.answer('/gone', [410]);
    const gone = await createHook(other, { url: `${receiver.base}/gone` });
    await createHook(other, { url: `${receiver.base}/other` });
    const started = Date.now();
    const { job } = await runJob(other);
    await waitFor(
      () => receiver.at('/other').length > 0,
      5000,
      'the delivery to the healthy receiver',
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(JSON.parse(receiver.at('/other')[0]!.body).job.job_id).toBe(job.job_id);

    // 410 Gone: given up at once, logged as such, and never tried again.
    const [d] = await waitFor(
      async () => {
        const list = await deliveries(other, gone.webhook_id);
        return list[0]?.status === 'failed' ? list : null;
      },
      5000,
      'the 410 delivery to fail',
    );
    expect(d).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_status_code: 410,
      last_error: 'HTTP 410',
      delivered_at: null,
    });
    await sleep(2500);
    expect(receiver.at('/gone')).toHaveLength(1);
    expect(logLines().find((l) => l.webhook_id === gone.webhook_id)).toMatchObject({
      level: 40,
      status_code: 410,
      msg: expect.stringMatching(/failed for good/),
    });
    expect(receiver.at('/hang')).toHaveLength(1);
  });

  it('the same through MCP: create_webhook, list_webhooks, list_webhook_deliveries, delete_webhook', async () => {
    const tenant = await api.tenant();
    const viewer = await connectHttp(`${base}/mcp`, { key: tenant.keys.viewer, tenant: tenant.id });
    const viewerTools = (await listTools(viewer)).map((t) => t.name);
    expect(viewerTools).toEqual(
      expect.arrayContaining(['list_webhooks', 'list_webhook_deliveries']),
    );
    expect(viewerTools).not.toContain('create_webhook');
    expect(viewerTools).not.toContain('delete_webhook');
    await viewer.close();

    const engineer = await connectHttp(`${base}/mcp`, {
      key: tenant.keys.engineer,
      tenant: tenant.id,
    });
    const tools = await new ToolChecker(engineer).init();
    const hook = await tools.ok('create_webhook', {
      url: `${receiver.base}/mcp-hook`,
      kind: 'generic',
      events: ['completed'],
    });
    expect(hook.signing_secret).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect((await tools.ok('list_webhooks')).webhooks.map((w: any) => w.webhook_id)).toEqual([
      hook.webhook_id,
    ]);
    const { job } = await runJob(tenant);
    const [got] = await waitFor(
      () => (receiver.at('/mcp-hook').length > 0 ? receiver.at('/mcp-hook') : null),
      10_000,
      'the delivery',
    );
    expect(got!.headers['x-freight-signature']).toBe(
      verify(hook.signing_secret, String(got!.headers['x-freight-timestamp']), got!.body),
    );
    const log = await waitFor(
      async () => {
        const r = await tools.ok('list_webhook_deliveries', { webhook_id: hook.webhook_id });
        return r.deliveries[0]?.status === 'delivered' ? r : null;
      },
      5000,
      'the delivery in the log',
    );
    expect(log).toMatchObject({
      webhook_id: hook.webhook_id,
      next_cursor: null,
      deliveries: [{ job_id: job.job_id, status: 'delivered', attempts: 1 }],
    });
    expect(await tools.fail('create_webhook', { url: 'ftp://example.com/x' })).toMatch(/http/);
    expect(await tools.ok('delete_webhook', { webhook_id: hook.webhook_id })).toEqual({
      webhook_id: hook.webhook_id,
      deleted: true,
    });
    expect(await tools.fail('list_webhook_deliveries', { webhook_id: hook.webhook_id })).toMatch(
      /404|not found/i,
    );
    expect((await tools.ok('list_webhooks')).webhooks).toEqual([]);
    await engineer.close();
  });
});

describe('webhooks with two processes running notifiers (distributed)', () => {
  const skip = !redisUp;
  const files = tempDir();
  let cluster: Distributed;
  let worker: Child;
  let receiver: Receiver;

  beforeAll(async () => {
    if (skip) return;
    receiver = await startReceiver();
    cluster = await startDistributedApi();
    worker = await startWorker(cluster.env, 2);
  });
  afterAll(async () => {
    if (skip) return;
    await worker?.stop();
    await cluster?.close();
    await receiver?.close();
    files.remove();
  });

  it.skipIf(skip)(
    'the API and a `freight worker` both see each outcome; the receiver gets exactly one delivery per job',
    async () => {
      expect(cluster.proc.worker).toBeNull();
      const admin = cluster.adminKey;
      const id = `wh-${randomUUID().slice(0, 8)}`;
      expect(
        (
          await cluster.call('POST', '/api/v1/admin/tenants', {
            key: admin,
            body: { tenant_id: id },
          })
        ).status,
      ).toBe(201);
      const key = (
        await cluster.call('POST', '/api/v1/admin/keys', {
          key: admin,
          body: { tenant_id: id, role: 'engineer' },
        })
      ).json.key;
      const hook = await cluster.call('POST', '/api/v1/webhooks', {
        key,
        tenant: id,
        body: { url: `${receiver.base}/once` },
      });
      expect(hook.status, hook.text).toBe(201);
      const src = makeSource(files.file('d.db'), 200);
      const jobs: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await cluster.call('POST', '/api/v1/jobs', {
          key,
          tenant: id,
          body: {
            source_config: src,
            target_config: `sqlite:${files.file(`out-${i}.db`)}`,
            batch_size: 50,
          },
        });
        expect(r.status, r.text).toBe(201);
        jobs.push(r.json.job_id);
      }
      for (const j of jobs)
        expect((await waitForJob(cluster.call, key, id, j)).status).toBe('completed');
      await waitFor(() => receiver.at('/once').length >= 3, 15_000, 'three deliveries');
      // Both processes' notifiers have had time to act on every outcome (they tick every second).
      await sleep(2500);
      const got = receiver.at('/once').map((r) => JSON.parse(r.body).job.job_id);
      expect(got.sort()).toEqual([...jobs].sort());
      const log = await cluster.call('GET', `/api/v1/webhooks/${hook.json.webhook_id}/deliveries`, {
        key,
        tenant: id,
      });
      expect(log.json.deliveries.map((d: any) => [d.status, d.attempts])).toEqual([
        ['delivered', 1],
        ['delivered', 1],
        ['delivered', 1],
      ]);
      expect(worker.alive, worker.stderr).toBe(true);
    },
  );
});
