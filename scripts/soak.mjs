#!/usr/bin/env node
// Soak test (`npm run soak`; not part of the default suite): a distributed installation made of real
// processes — `freight serve --no-worker` and 2 × `freight worker`, a fresh PostgreSQL store schema,
// a BullMQ queue of its own — runs 50 concurrent jobs from 5 tenants that copy MariaDB tables into
// PostgreSQL. It asserts that every job completed with exact counts (job validation, and the target
// tables counted independently), and reports the wall time, the throughput and each process's peak
// memory. Bounded in time (SOAK_TIMEOUT_MS, default 10 minutes); exits 1 on any mismatch.
//
// Needs PostgreSQL, MariaDB and Redis (DEVELOPERS.md; TEST_PG_HOST, TEST_MYSQL_HOST, TEST_REDIS_HOST
// … override the addresses) and a built dist/ (`npm run soak` builds first).
//
// Knobs: SOAK_JOBS (50), SOAK_TENANTS (5), SOAK_WORKERS (2), SOAK_WORKER_CONCURRENCY (4),
// SOAK_TABLES (10 source tables of 20,000–50,000 rows), SOAK_BATCH_SIZE (5000), SOAK_KEEP=1 keeps
// the databases for inspection.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(REPO, 'bin/freight.js');
const env = process.env;
const num = (name, dflt) => (env[name] ? Number(env[name]) : dflt);

const PG = {
  host: env.TEST_PG_HOST ?? '127.0.0.1',
  port: num('TEST_PG_PORT', 5432),
  user: 'postgres',
  database: 'test',
};
const MY = {
  host: env.TEST_MYSQL_HOST ?? '127.0.0.1',
  port: num('TEST_MYSQL_PORT', 3306),
  user: 'root',
};
const REDIS_URL = `redis://${env.TEST_REDIS_HOST ?? '127.0.0.1'}:${num('TEST_REDIS_PORT', 6379)}`;
const PG_URL = `postgresql://${PG.user}@${PG.host}:${PG.port}/${PG.database}`;

const JOBS = num('SOAK_JOBS', 50);
const TENANTS = num('SOAK_TENANTS', 5);
const WORKERS = num('SOAK_WORKERS', 2);
const WORKER_CONCURRENCY = num('SOAK_WORKER_CONCURRENCY', 4);
const TABLES = num('SOAK_TABLES', 10);
const BATCH_SIZE = num('SOAK_BATCH_SIZE', 5000);
const TIMEOUT_MS = num('SOAK_TIMEOUT_MS', 10 * 60_000);
const KEEP = env.SOAK_KEEP === '1';
const ADMIN_KEY = `soak-admin-${randomBytes(12).toString('hex')}`;

const run = randomBytes(4).toString('hex');
const names = {
  source: `soak_${run}`,
  store: `soak_store_${run}`,
  queue: `soak-${run}`,
  target: (i) => `soak_${run}_j${String(i + 1).padStart(2, '0')}`,
  tenant: (i) => `soak-${run}-t${i + 1}`,
};
/** Source tables: 20,000 … 50,000 rows, evenly spread. */
const tableRows = Array.from({ length: TABLES }, (_, i) =>
  Math.round(20_000 + (30_000 * i) / Math.max(1, TABLES - 1)),
);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line) =>
  process.stdout.write(`[soak ${((Date.now() - T0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
const T0 = Date.now();
const failures = [];
const fail = (message) => {
  failures.push(message);
  log(`✗ ${message}`);
};

// ── processes ──────────────────────────────────────────────────────────────────────────────

const processes = [];

function startProcess(name, args, childEnv) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = {
    name,
    child,
    pid: child.pid,
    out: '',
    alive: true,
    peakRssKb: 0,
    hwmKb: 0,
    samples: 0,
    rssSumKb: 0,
    exit: null,
  };
  const append = (d) => {
    p.out += d.toString();
    if (p.out.length > 400_000) p.out = p.out.slice(-200_000);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  p.exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      p.alive = false;
      p.exit = { code, signal };
      resolve(p.exit);
    }),
  );
  processes.push(p);
  return p;
}

async function waitForOutput(p, regex, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = regex.exec(p.out);
    if (m) return m;
    if (!p.alive)
      throw new Error(`${p.name} exited (${JSON.stringify(p.exit)}):\n${p.out.slice(-4000)}`);
    if (Date.now() > deadline)
      throw new Error(`${p.name}: no ${regex} after ${timeoutMs} ms:\n${p.out.slice(-4000)}`);
    await sleep(50);
  }
}

/** VmRSS and VmHWM (the kernel's peak resident set) of a live process, in kB. */
function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

function sampleMemory() {
  for (const p of processes) {
    if (!p.alive) continue;
    const m = memoryOf(p.pid);
    if (!m) continue;
    p.peakRssKb = Math.max(p.peakRssKb, m.rss);
    p.hwmKb = Math.max(p.hwmKb, m.hwm);
    p.samples++;
    p.rssSumKb += m.rss;
  }
}

// ── HTTP ───────────────────────────────────────────────────────────────────────────────────

let BASE = '';
async function http(method, url, { body, key = ADMIN_KEY, tenant } = {}) {
  const headers = { authorization: `Bearer ${key}` };
  if (tenant) headers['x-tenant-id'] = tenant;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${BASE}${url}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json, text };
}

// ── main ───────────────────────────────────────────────────────────────────────────────────

const home = mkdtempSync(path.join(tmpdir(), 'freight-soak-'));
let my;
let pgc;
let sampler;

async function main() {
  if (!existsSync(path.join(REPO, 'dist/cli/main.js')))
    throw new Error('dist/ is missing: run `npm run build` (npm run soak does)');
  log(
    `run ${run}: ${JOBS} jobs from ${TENANTS} tenants on ${WORKERS} workers × concurrency ${WORKER_CONCURRENCY}; ${TABLES} source tables of ${tableRows[0]}–${tableRows.at(-1)} rows; batch size ${BATCH_SIZE}`,
  );

  // Services, and the source data set.
  my = await mysql.createConnection({
    ...MY,
    multipleStatements: true,
    charset: 'utf8mb4',
    timezone: 'Z',
  });
  pgc = new pg.Client(PG_URL);
  await pgc.connect();
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
  await redis.ping();
  redis.disconnect();

  const tLoad = Date.now();
  await my.query(
    `CREATE DATABASE \`${names.source}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
  );
  await my.query(`USE \`${names.source}\``);
  await my.query("SET time_zone = '+00:00'");
  const sourceCounts = [];
  for (let t = 0; t < TABLES; t++) {
    const name = `t${String(t + 1).padStart(2, '0')}`;
    await my.query(`CREATE TABLE ${name} (
      id BIGINT NOT NULL PRIMARY KEY,
      code VARCHAR(40) NOT NULL,
      amount DECIMAL(14,4) NULL,
      at DATETIME(6) NOT NULL,
      note TEXT NULL,
      n INT NULL)`);
    await my.query(`INSERT INTO ${name}
      SELECT seq * 3, CONCAT('c-', seq, IF(seq % 13 = 0, ' ✓ é', '')), IF(seq % 7 = 0, NULL, seq / 7),
             TIMESTAMP('2022-01-01') + INTERVAL seq SECOND + INTERVAL seq MICROSECOND,
             IF(seq % 4 = 0, NULL, CONCAT('tab\\there ', seq, '\\nnew line \\\\ back')), IF(seq % 5 = 0, NULL, seq % 1000)
      FROM seq_1_to_${tableRows[t]}`);
    const [[row]] = await my.query(`SELECT COUNT(*) AS n FROM ${name}`);
    sourceCounts.push({ name, rows: Number(row.n) });
  }
  log(
    `source database ${names.source}: ${sourceCounts.reduce((n, t) => n + t.rows, 0).toLocaleString('en')} rows in ${TABLES} tables (${Date.now() - tLoad} ms)`,
  );

  // The installation.
  const childEnv = {
    PATH: env.PATH ?? '',
    HOME: env.HOME ?? '/tmp',
    DATABASE_URL: PG_URL,
    FREIGHT_DB_SCHEMA: names.store,
    REDIS_URL,
    FREIGHT_QUEUE_NAME: names.queue,
    FREIGHT_SECRET_KEY: `soak-secret-${randomBytes(16).toString('hex')}`,
    FREIGHT_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    FREIGHT_HOME: home,
    FREIGHT_TENANT_CONCURRENCY: String(Math.max(2, WORKER_CONCURRENCY)),
    FREIGHT_LOG_LEVEL: 'warn',
    FREIGHT_RATE_LIMIT: '1000000',
    PORT: '0',
    HOST: '127.0.0.1',
  };
  const api = startProcess('api', ['serve', '--no-worker'], childEnv);
  BASE = (await waitForOutput(api, /API on (http:\/\/[^\s]+?)(?= |\))/))[1];
  for (let i = 0; i < WORKERS; i++) {
    const w = startProcess(
      `worker-${i + 1}`,
      ['worker', '--concurrency', String(WORKER_CONCURRENCY)],
      childEnv,
    );
    w.workerId = (await waitForOutput(w, /worker (\S+) running/))[1];
  }
  sampler = setInterval(sampleMemory, 250);
  log(
    `API ${BASE} (pid ${api.pid}); workers ${processes
      .slice(1)
      .map((p) => `${p.workerId} (pid ${p.pid})`)
      .join(', ')}`,
  );

  // Tenants, each with an engineer key.
  const tenants = [];
  for (let i = 0; i < TENANTS; i++) {
    const id = names.tenant(i);
    const t = await http('POST', '/api/v1/admin/tenants', { body: { tenant_id: id } });
    if (t.status !== 201) throw new Error(`create tenant: ${t.status} ${t.text}`);
    const k = await http('POST', '/api/v1/admin/keys', {
      body: { tenant_id: id, role: 'engineer' },
    });
    if (k.status !== 201) throw new Error(`create key: ${k.status} ${k.text}`);
    tenants.push({ id, key: k.json.key });
  }

  // 50 jobs, created concurrently: job i belongs to tenant i % TENANTS and copies table i % TABLES
  // into a target schema of its own.
  for (let i = 0; i < JOBS; i++) await pgc.query(`CREATE SCHEMA "${names.target(i)}"`);
  const tStart = Date.now();
  const jobs = await Promise.all(
    Array.from({ length: JOBS }, async (_, i) => {
      const tenant = tenants[i % TENANTS];
      const table = sourceCounts[i % TABLES];
      const r = await http('POST', '/api/v1/jobs', {
        key: tenant.key,
        tenant: tenant.id,
        body: {
          source_config: `mysql://${MY.user}@${MY.host}:${MY.port}/${names.source}`,
          target_config: `${PG_URL}?schema=${names.target(i)}`,
          tables: [table.name],
          batch_size: BATCH_SIZE,
          concurrency: 4,
          verify: 'checksum',
          started_by: 'soak',
        },
      });
      if (r.status !== 201) throw new Error(`create job ${i + 1}: ${r.status} ${r.text}`);
      return { i, id: r.json.job_id, tenant, table, schema: names.target(i) };
    }),
  );
  log(`${JOBS} jobs created in ${Date.now() - tStart} ms`);

  // Wait for every job to end (bounded).
  const terminal = new Set(['completed', 'completed_with_errors', 'failed', 'cancelled']);
  const statusOf = new Map();
  let lastReport = 0;
  let peakDepth = 0;
  for (;;) {
    for (const tenant of tenants) {
      const r = await http('GET', '/api/v1/jobs?limit=100', { key: tenant.key, tenant: tenant.id });
      if (r.status !== 200) throw new Error(`list jobs: ${r.status} ${r.text}`);
      for (const j of r.json.jobs) statusOf.set(j.job_id, j);
    }
    const done = jobs.filter((j) => terminal.has(statusOf.get(j.id)?.status)).length;
    const status = await http('GET', '/api/v1/workers/status', { tenant: 'platform' });
    const q = status.json?.queue ?? {};
    peakDepth = Math.max(peakDepth, (q.waiting ?? 0) + (q.delayed ?? 0) + (q.active ?? 0));
    if (done === JOBS) break;
    if (Date.now() - tStart > TIMEOUT_MS) {
      fail(`only ${done}/${JOBS} jobs ended within ${TIMEOUT_MS / 1000} s`);
      break;
    }
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      const written = [...statusOf.values()].reduce(
        (n, j) => n + (j.progress?.rows_written ?? 0),
        0,
      );
      const byState = {};
      for (const j of jobs) {
        const s = statusOf.get(j.id)?.status ?? '?';
        byState[s] = (byState[s] ?? 0) + 1;
      }
      log(
        `${done}/${JOBS} ended ${JSON.stringify(byState)}; ${written.toLocaleString('en')} rows written; queue waiting ${q.waiting} delayed ${q.delayed} active ${q.active}; ` +
          `${status.json?.workers_alive} workers, ${status.json?.processing_rate?.rows_per_second} rows/s (last minute)`,
      );
    }
    await sleep(1000);
  }
  const wallMs = Date.now() - tStart;
  sampleMemory();

  // Every job: completed, validated, and its target table holding exactly the source's rows.
  let totalRows = 0;
  const durations = [];
  for (const j of jobs) {
    const r = await http('GET', `/api/v1/jobs/${j.id}`, { key: j.tenant.key, tenant: j.tenant.id });
    const job = r.json;
    const label = `job ${j.i + 1} (${j.id}, tenant ${j.tenant.id}, ${j.table.name})`;
    if (r.status !== 200) {
      fail(`${label}: GET ${r.status}`);
      continue;
    }
    if (job.status !== 'completed') fail(`${label}: ${job.status} ${JSON.stringify(job.error)}`);
    const t = job.tables?.[0];
    if (
      !t ||
      t.source_rows !== j.table.rows ||
      t.target_rows !== j.table.rows ||
      t.validation !== 'passed' ||
      t.rows_failed !== 0
    ) {
      fail(
        `${label}: table ${JSON.stringify(t && { source_rows: t.source_rows, target_rows: t.target_rows, validation: t.validation, rows_failed: t.rows_failed })}, expected ${j.table.rows} rows`,
      );
    }
    if (job.progress?.batches?.failed)
      fail(`${label}: ${job.progress.batches.failed} failed batch(es)`);
    try {
      const { rows } = await pgc.query(
        `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${j.schema}"."${j.table.name}"`,
      );
      if (rows[0].n !== j.table.rows || rows[0].d !== j.table.rows)
        fail(
          `${label}: target has ${rows[0].n} rows (${rows[0].d} distinct ids), source ${j.table.rows}`,
        );
    } catch (error) {
      fail(`${label}: counting the target: ${error.message}`);
    }
    totalRows += j.table.rows;
    if (job.started_at && job.finished_at)
      durations.push((Date.parse(job.finished_at) - Date.parse(job.created_at)) / 1000);
  }
  const finalStatus = (await http('GET', '/api/v1/workers/status', { tenant: 'platform' })).json;
  const stats = (await http('GET', '/api/v1/stats/tenants')).json;

  // Stop: workers gracefully (SIGTERM → exit 0), then the API.
  sampleMemory();
  clearInterval(sampler);
  const workers = processes.filter((p) => p.name.startsWith('worker'));
  for (const w of workers) w.child.kill('SIGTERM');
  for (const w of workers) {
    const exit = await Promise.race([w.exited, sleep(40_000).then(() => null)]);
    if (!exit || exit.code !== 0)
      fail(`${w.name} did not exit 0 on SIGTERM: ${JSON.stringify(exit)}\n${w.out.slice(-3000)}`);
  }
  api.child.kill('SIGTERM');
  const apiExit = await Promise.race([api.exited, sleep(20_000).then(() => null)]);
  if (!apiExit || apiExit.code !== 0)
    fail(`the API did not exit 0 on SIGTERM: ${JSON.stringify(apiExit)}`);

  // Report.
  durations.sort((a, b) => a - b);
  const pct = (p) =>
    durations[Math.min(durations.length - 1, Math.floor((p / 100) * durations.length))]?.toFixed(1);
  const mb = (kb) => `${(kb / 1024).toFixed(0)} MiB`;
  const lines = [
    '',
    '── soak report ─────────────────────────────────────────────────────────────',
    `jobs            ${JOBS} (${TENANTS} tenants × ${JOBS / TENANTS}), ${jobs.filter((j) => statusOf.get(j.id)?.status === 'completed').length} completed`,
    `rows            ${totalRows.toLocaleString('en')} copied and verified (checksum validation + independent counts)`,
    `wall time       ${(wallMs / 1000).toFixed(1)} s (first job created → last job ended)`,
    `throughput      ${Math.round(totalRows / (wallMs / 1000)).toLocaleString('en')} rows/s overall`,
    `job durations   min ${durations[0]?.toFixed(1)} s, median ${pct(50)} s, p90 ${pct(90)} s, max ${durations.at(-1)?.toFixed(1)} s (created → finished)`,
    `queue           peak depth ${peakDepth} tasks; at the end ${JSON.stringify(finalStatus?.queue)}`,
    ...(stats?.tenants ?? [])
      .filter((t) => t.tenant_id?.startsWith(`soak-${run}`))
      .map(
        (t) =>
          `tenant ${t.tenant_id.padEnd(20)} ${t.total_jobs} jobs ${JSON.stringify(t.jobs_by_status)}, success rate ${t.success_rate}, ${t.records_processed.toLocaleString('en')} rows, ` +
          `avg job ${t.average_duration_seconds} s at ${t.rows_per_second} rows/s`,
      ),
    'process         pid       peak RSS (VmHWM)   max sampled RSS   mean RSS',
    ...processes.map(
      (p) =>
        `${p.name.padEnd(15)} ${String(p.pid).padEnd(9)} ${mb(p.hwmKb).padEnd(18)} ${mb(p.peakRssKb).padEnd(17)} ${p.samples ? mb(p.rssSumKb / p.samples) : 'n/a'}`,
    ),
    `result          ${failures.length === 0 ? 'PASS' : `FAIL (${failures.length} problem(s))`}`,
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

async function cleanup() {
  clearInterval(sampler);
  for (const p of processes) if (p.alive) p.child.kill('SIGKILL');
  await Promise.all(processes.map((p) => p.exited));
  if (KEEP) {
    log(
      `kept: MariaDB ${names.source}, PostgreSQL schemas ${names.store} and ${names.target(0)}…, queue ${names.queue}`,
    );
    return;
  }
  try {
    if (pgc) {
      await pgc.query(`DROP SCHEMA IF EXISTS "${names.store}" CASCADE`);
      for (let i = 0; i < JOBS; i++)
        await pgc.query(`DROP SCHEMA IF EXISTS "${names.target(i)}" CASCADE`);
      await pgc.end();
    }
    if (my) {
      await my.query(`DROP DATABASE IF EXISTS \`${names.source}\``);
      await my.end();
    }
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(
        cursor,
        'MATCH',
        `bull:${names.queue}:*`,
        'COUNT',
        1000,
      );
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  } catch (error) {
    log(`cleanup: ${error.message}`);
  }
  rmSync(home, { recursive: true, force: true });
}

let code;
try {
  await main();
  code = failures.length === 0 ? 0 : 1;
} catch (error) {
  log(`soak failed: ${error.stack ?? error}`);
  for (const p of processes) log(`--- ${p.name} output (tail)\n${p.out.slice(-3000)}`);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
