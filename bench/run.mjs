#!/usr/bin/env node
// `npm run bench`: Freight against pgloader and against the practical limit (a MariaDB → psql COPY
// pipe) on the standard data set, bench.users (1,000,000 rows). See bench/README.md.
//
// Plain Node ESM on purpose: no build step of its own, only the project's installed `pg` and
// `mysql2`, and the CLIs `mariadb`, `psql`, `pgloader` and GNU `/usr/bin/time`.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import pg from 'pg';

// ---------------------------------------------------------------------------------------------
// Settings

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const workDir = path.join(repoRoot, 'bench', '.work');
const logDir = path.join(workDir, 'logs');

const ROWS = 1_000_000;
const TARGETS = { vsPgloader: 2, vsPipe: 0.9, rssMB: 250, twoVsOne: 1 };

const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root' };
const POSTGRES = { host: '127.0.0.1', port: 5432, user: 'postgres', adminDb: 'test' };
const SOURCE_URL = `mysql://${MARIADB.user}@${MARIADB.host}:${MARIADB.port}/bench`;
const pgUrl = (db) => `postgresql://${POSTGRES.user}@${POSTGRES.host}:${POSTGRES.port}/${db}`;
const DB = {
  freight: 'bench_freight',
  pgloader: 'bench_pgloader',
  pipe: 'bench_pipe',
  workers1: 'bench_workers1',
  workers2: 'bench_workers2',
};
const ALL_CONTENDERS = ['freight', 'pgloader', 'pipe', 'workers1', 'workers2'];
const REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
/** Distributed runs: batches each `freight worker` runs at once (the CLI's default on 2 cores is 4). */
const WORKER_CONCURRENCY = 4;
/** Distributed runs: the job's own concurrency (batches of it at once across all workers). */
const JOB_CONCURRENCY = Number(process.env.BENCH_JOB_CONCURRENCY || 4);

const env = process.env;
const dataSql = path.resolve(
  env.BENCH_DATA_SQL || path.resolve(repoRoot, '../shared/bench/users.sql'),
);
const rounds = positiveInt('BENCH_ROUNDS', env.BENCH_ROUNDS, 2);
const freightExtraArgs = (env.BENCH_FREIGHT_ARGS ?? '').split(/\s+/).filter(Boolean);
const timeoutSeconds = positiveInt('BENCH_TIMEOUT_S', env.BENCH_TIMEOUT_S, 1800);
const forceReload = truthy(env.BENCH_RELOAD);
const fingerprints = env.BENCH_FINGERPRINT === undefined ? true : truthy(env.BENCH_FINGERPRINT);
const CONTENDERS = (env.BENCH_CONTENDERS ?? ALL_CONTENDERS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const c of CONTENDERS)
  if (!ALL_CONTENDERS.includes(c))
    fail(`BENCH_CONTENDERS: unknown contender ${c} (known: ${ALL_CONTENDERS.join(', ')})`);
if (!CONTENDERS.includes('freight') || !CONTENDERS.includes('pipe'))
  fail('BENCH_CONTENDERS must include freight and pipe (the ratios are measured against them)');

function positiveInt(name, value, fallback) {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    fail(`${name} must be a positive integer (got ${JSON.stringify(value)})`);
  return n;
}

function truthy(value) {
  return ['1', 'true', 'yes'].includes(String(value ?? '').toLowerCase());
}

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const log = (line = '') => process.stdout.write(`${line}\n`);
const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const fmtS = (s) => s.toFixed(2);
const kibToMB = (kib) => (kib * 1024) / 1e6; // GNU time's %M is KiB; targets are in decimal MB

function onPath(cmd) {
  return (
    spawnSync('bash', ['-c', 'command -v "$1"', 'bash', cmd], { encoding: 'utf8' }).status === 0
  );
}

function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').find((l) => l.trim()) ?? '?';
}

function tail(file, lines = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Child process groups still running, so Ctrl-C and timeouts can stop the whole tree. */
const live = new Set();
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  process.stderr.write('\nbench: interrupted; stopping the running contender\n');
  for (const pid of live) killGroup(pid, 'SIGTERM');
  setTimeout(() => {
    for (const pid of live) killGroup(pid, 'SIGKILL');
    process.exit(130);
  }, 5000).unref();
});

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Runs `cmd args` under GNU time (for the peak RSS) in its own process group, with stdout and
 * stderr going straight to files. Resolves with the exit code, the wall time in seconds (spawn to
 * exit, measured here) and the peak RSS in KiB of the largest process in the tree.
 */
function runTimed({
  name,
  cmd,
  args,
  extraEnv = {},
  unsetEnv = [],
  stdinFile,
  cwd = repoRoot,
  onSpawn,
}) {
  const stdoutFile = path.join(logDir, `${name}.stdout`);
  const stderrFile = path.join(logDir, `${name}.stderr`);
  const rssFile = path.join(logDir, `${name}.rss`);
  fs.rmSync(rssFile, { force: true });
  const childEnv = { ...env, ...extraEnv };
  for (const key of unsetEnv) delete childEnv[key];
  const stdin = stdinFile ? fs.openSync(stdinFile, 'r') : 'ignore';
  const out = fs.openSync(stdoutFile, 'w');
  const err = fs.openSync(stderrFile, 'w');
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...args], {
      cwd,
      env: childEnv,
      stdio: [stdin, out, err],
      detached: true,
    });
    live.add(child.pid);
    onSpawn?.(child);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGTERM');
      setTimeout(() => killGroup(child.pid, 'SIGKILL'), 10_000).unref();
    }, timeoutSeconds * 1000);
    const finish = (code, signal, spawnError) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      clearTimeout(timer);
      live.delete(child.pid);
      for (const fd of [out, err, stdin]) if (typeof fd === 'number') fs.closeSync(fd);
      let rssKiB = null;
      try {
        const last = fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop();
        if (/^\d+$/.test(last)) rssKiB = Number(last);
      } catch {
        // no rss file: time itself did not run
      }
      resolve({ code, signal, seconds, rssKiB, timedOut, spawnError, stdoutFile, stderrFile });
    };
    child.on('error', (e) => finish(null, null, e));
    child.on('exit', (code, signal) => finish(code, signal, null));
  });
}

/** Plain spawn for the untimed chores (loading the data set, installing pgloader). */
function run(cmd, args, { stdinFile, logName } = {}) {
  const logFile = path.join(logDir, `${logName}.log`);
  const fd = fs.openSync(logFile, 'w');
  const stdin = stdinFile ? fs.openSync(stdinFile, 'r') : 'ignore';
  const r = spawnSync(cmd, args, { cwd: repoRoot, stdio: [stdin, fd, fd] });
  fs.closeSync(fd);
  if (typeof stdin === 'number') fs.closeSync(stdin);
  return { status: r.status, error: r.error, logFile };
}

function exitProblem(result, label) {
  if (result.spawnError) return `${label} could not start: ${result.spawnError.message}`;
  if (result.timedOut) return `${label} timed out after ${timeoutSeconds} s (BENCH_TIMEOUT_S)`;
  if (result.signal) return `${label} was killed by ${result.signal}`;
  if (result.code !== 0) return `${label} exited with code ${result.code}`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL and MariaDB access

async function withPg(database, fn) {
  const client = new pg.Client({ ...POSTGRES, database });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const quoteIdent = (s) => `"${s.replaceAll('"', '""')}"`;

async function resetDatabase(db) {
  await withPg(POSTGRES.adminDb, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(db)} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${quoteIdent(db)}`);
  });
}

async function checkpoint() {
  await withPg(POSTGRES.adminDb, (c) => c.query('CHECKPOINT'));
}

/** Where `users` ended up in `db` (Freight: public; pgloader: the source schema name, bench). */
async function findUsersTable(c) {
  const r = await c.query(
    `SELECT table_schema FROM information_schema.tables
      WHERE table_name = 'users' AND table_schema NOT IN ('pg_catalog', 'information_schema')
      ORDER BY table_schema`,
  );
  if (r.rows.length !== 1) {
    return {
      error: `expected one table named users, found ${r.rows.length} (${r.rows.map((x) => x.table_schema).join(', ')})`,
    };
  }
  return {
    schema: r.rows[0].table_schema,
    qualified: `${quoteIdent(r.rows[0].table_schema)}.users`,
  };
}

/**
 * Post-run checks every contender must pass: exactly ROWS rows, a valid primary key on (id) and a
 * valid unique index on (email); where the id is an identity/serial, its sequence is past ROWS.
 */
async function verifyTarget(db, { sequence }) {
  return withPg(db, async (c) => {
    const problems = [];
    const table = await findUsersTable(c);
    if (table.error) return { problems: [table.error] };
    const count = Number((await c.query(`SELECT count(*) AS n FROM ${table.qualified}`)).rows[0].n);
    if (count !== ROWS) problems.push(`row count ${fmtInt(count)}, expected ${fmtInt(ROWS)}`);
    const idx = await c.query(
      `SELECT i.indisprimary AS primary, i.indisunique AS unique, i.indisvalid AS valid,
              array_agg(a.attname::text ORDER BY k.ord) AS cols
         FROM pg_index i
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = $1::regclass
        GROUP BY i.indexrelid, i.indisprimary, i.indisunique, i.indisvalid`,
      [table.qualified],
    );
    const has = (pred) => idx.rows.some((r) => r.valid && pred(r));
    const primaryKey = has((r) => r.primary && r.cols.join() === 'id');
    const uniqueEmail = has((r) => r.unique && r.cols.join() === 'email');
    if (!primaryKey) problems.push('no valid primary key on (id)');
    if (!uniqueEmail) problems.push('no valid unique index on (email)');
    let sequenceLast = null;
    if (sequence) {
      const seq = (await c.query(`SELECT pg_get_serial_sequence($1, 'id') AS s`, [table.qualified]))
        .rows[0].s;
      if (!seq) problems.push('id has no identity/serial sequence');
      else {
        sequenceLast = Number((await c.query(`SELECT last_value FROM ${seq}`)).rows[0].last_value);
        if (sequenceLast < ROWS)
          problems.push(`id sequence at ${sequenceLast}, not reset past ${ROWS}`);
      }
    }
    // No background autovacuum of this finished table while the next contender is being timed.
    await c.query(`ALTER TABLE ${table.qualified} SET (autovacuum_enabled = false)`);
    return { problems, schema: table.schema, count, primaryKey, uniqueEmail, sequenceLast };
  });
}

/**
 * An order-independent fingerprint of each column's content (sum over rows of a 60-bit slice of
 * md5(id | value-as-text)), with values normalised so that the three contenders' column type
 * choices compare equal: jsonb text for JSON, UTC for timestamps, text for the enum.
 */
const FINGERPRINT_COLUMNS = {
  email: 'email::text',
  name: 'name::text',
  is_active: 'is_active::boolean::text',
  age: 'age::text',
  balance: 'balance::text',
  created_at: 'created_at::timestamp::text',
  updated_at: 'updated_at::timestamptz::text',
  profile: 'profile::jsonb::text',
  bio: 'bio::text',
  plan: 'plan::text',
};

async function fingerprint(db) {
  return withPg(db, async (c) => {
    await c.query(`SET TimeZone = 'UTC'`);
    const table = await findUsersTable(c);
    if (table.error) return null;
    const sums = Object.entries(FINGERPRINT_COLUMNS)
      .map(
        ([k, e]) =>
          `sum(('x' || left(md5(id::text || '|' || coalesce(${e}, '\\N')), 15))::bit(60)::bigint)::text AS ${k}`,
      )
      .join(',\n');
    return (await c.query(`SELECT count(*)::text AS rows, ${sums} FROM ${table.qualified}`))
      .rows[0];
  });
}

async function withMariadb(fn) {
  const conn = await mysql.createConnection({ ...MARIADB, charset: 'utf8mb4' });
  try {
    return await fn(conn);
  } finally {
    await conn.end();
  }
}

async function sourceRowCount() {
  return withMariadb(async (conn) => {
    const [t] = await conn.query(
      `SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'bench' AND table_name = 'users'`,
    );
    if (Number(t[0].n) === 0) return null;
    const [r] = await conn.query('SELECT COUNT(*) AS n FROM bench.users');
    return Number(r[0].n);
  });
}

// ---------------------------------------------------------------------------------------------
// Preflight and the data set

function preflight() {
  // Start from an empty log directory and no old Freight homes, so nothing stale is mistaken
  // for this run's output.
  fs.rmSync(logDir, { recursive: true, force: true });
  fs.rmSync(path.join(workDir, 'freight-home'), { recursive: true, force: true });
  fs.mkdirSync(logDir, { recursive: true });
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js')))
    fail('dist/ is missing: run `npm run build` first (or use `npm run bench`)');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const ensureInstalled = (cmd, pkg, present) => {
    if (present()) return;
    if (!isRoot) fail(`${cmd} is not installed; install it with: sudo apt-get install -y ${pkg}`);
    log(`${cmd} is not installed; running apt-get install -y ${pkg} ...`);
    let r = run('apt-get', ['install', '-y', pkg], { logName: `apt-${pkg}` });
    if (r.status !== 0 || !present()) {
      run('apt-get', ['update'], { logName: 'apt-update' });
      r = run('apt-get', ['install', '-y', pkg], { logName: `apt-${pkg}` });
    }
    if (r.status !== 0 || !present()) fail(`apt-get install -y ${pkg} failed; see ${r.logFile}`);
  };
  ensureInstalled('/usr/bin/time', 'time', () => fs.existsSync('/usr/bin/time'));
  ensureInstalled('pgloader', 'pgloader', () => onPath('pgloader'));
  for (const cmd of ['mariadb', 'psql']) {
    if (!onPath(cmd))
      fail(
        `${cmd} is not on PATH (install the MariaDB and PostgreSQL clients: apt-get install -y mariadb-client postgresql-client)`,
      );
  }
}

async function ensureDataset() {
  const before = forceReload ? null : await sourceRowCount();
  if (before === ROWS) {
    log(
      `data set: bench.users already has ${fmtInt(ROWS)} rows; not reloading (BENCH_RELOAD=1 forces it)`,
    );
    return { loaded: false, seconds: 0 };
  }
  if (!fs.existsSync(dataSql)) fail(`data set ${dataSql} not found (set BENCH_DATA_SQL)`);
  log(
    `data set: bench.users ${forceReload ? 'reload forced' : before === null ? 'missing' : `has ${fmtInt(before)} rows`}; ` +
      `loading ${path.relative(repoRoot, dataSql)} ...`,
  );
  const t0 = process.hrtime.bigint();
  const r = run(
    'mariadb',
    [
      '-h',
      MARIADB.host,
      '-P',
      String(MARIADB.port),
      `-u${MARIADB.user}`,
      '--default-character-set=utf8mb4',
    ],
    { stdinFile: dataSql, logName: 'load-dataset' },
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0)
    fail(`loading the data set failed (exit ${r.status}); see ${r.logFile}\n${tail(r.logFile)}`);
  const after = await sourceRowCount();
  if (after !== ROWS)
    fail(`after loading, bench.users has ${after} rows, expected ${fmtInt(ROWS)}`);
  log(`data set: loaded ${fmtInt(ROWS)} rows in ${fmtS(seconds)} s (not part of any measurement)`);
  return { loaded: true, seconds };
}

/** One full read of the source table, so the first timed run does not pay for a cold page cache. */
async function warmUp() {
  const t0 = process.hrtime.bigint();
  await withMariadb((conn) =>
    conn.query(
      'SELECT SUM(LENGTH(email) + LENGTH(name) + IFNULL(LENGTH(profile), 0) + IFNULL(LENGTH(bio), 0)) AS n FROM bench.users',
    ),
  );
  log(
    `warm-up: read bench.users once in ${fmtS(Number(process.hrtime.bigint() - t0) / 1e9)} s (not timed)`,
  );
}

// ---------------------------------------------------------------------------------------------
// (a) Freight

async function runFreight(round) {
  const db = DB.freight;
  await resetDatabase(db);
  const home = path.join(workDir, 'freight-home', `round-${round}`);
  fs.rmSync(home, { recursive: true, force: true });
  fs.mkdirSync(home, { recursive: true });
  await checkpoint();
  const args = [
    path.join(repoRoot, 'bin', 'freight.js'),
    'migrate',
    SOURCE_URL,
    pgUrl(db),
    '--tables',
    'users',
    '--json',
    '--no-progress',
    ...freightExtraArgs,
  ];
  const r = await runTimed({
    name: `round${round}-freight`,
    cmd: process.execPath,
    args,
    extraEnv: { FREIGHT_HOME: home },
    unsetEnv: ['DATABASE_URL'], // the job ledger must be the fresh SQLite store in FREIGHT_HOME
  });
  const problems = [];
  const exit = exitProblem(r, 'freight');
  if (exit) problems.push(exit);
  let summary = null;
  try {
    summary = JSON.parse(fs.readFileSync(r.stdoutFile, 'utf8'));
  } catch (e) {
    problems.push(`freight printed no JSON summary (${e.message})`);
  }
  if (summary) {
    if (summary.status !== 'completed')
      problems.push(
        `freight status ${JSON.stringify(summary.status)}, expected "completed"${summary.error ? `: ${JSON.stringify(summary.error)}` : ''}`,
      );
    if (summary.totals?.rows_written !== ROWS)
      problems.push(
        `freight totals.rows_written ${summary.totals?.rows_written}, expected ${ROWS}`,
      );
    const t = summary.tables?.[0];
    if (t && t.validation !== 'passed')
      problems.push(`freight validation ${JSON.stringify(t.validation)}, expected "passed"`);
  }
  const verify = problems.length ? null : await verifyTarget(db, { sequence: true });
  if (verify) problems.push(...verify.problems);
  return {
    ...r,
    problems,
    details: {
      command: `FREIGHT_HOME=${path.relative(repoRoot, home)} node bin/freight.js ${args.slice(1).join(' ')}`,
      job_id: summary?.job_id ?? null,
      reported_duration_ms: summary?.duration_ms ?? null,
      reported_rows_per_second: summary?.totals?.rows_per_second ?? null,
      notes: summary?.tables?.[0]?.notes ?? [],
      verify,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// (a') Freight distributed: `freight serve --no-worker` + N `freight worker` processes sharing a
// PostgreSQL metadata store and a BullMQ queue on Redis; the job is created through the REST API.
// Timed from the POST to the job's terminal state (the processes are started and registered
// before the clock starts, as a standing cluster would be). Peak RSS = the largest worker.

function signalTimedChild(timePid, signal) {
  let children = [];
  try {
    children = fs
      .readFileSync(`/proc/${timePid}/task/${timePid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // gone already
  }
  if (children.length === 0) killGroup(timePid, signal);
  for (const pid of children) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function runWorkers(round, n) {
  const name = `workers${n}`;
  const db = DB[name];
  await resetDatabase(db);
  const home = path.join(workDir, 'freight-home', `${name}-round-${round}`);
  fs.rmSync(home, { recursive: true, force: true });
  fs.mkdirSync(home, { recursive: true });
  const schema = `bench_store_${name}_r${round}`;
  await withPg(POSTGRES.adminDb, (c) =>
    c.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`),
  );
  const port = await freePort();
  const adminKey = `bench-admin-${process.pid}-${round}-${n}-0123456789abcdef`;
  const base = `http://127.0.0.1:${port}`;
  const extraEnv = {
    FREIGHT_HOME: home,
    DATABASE_URL: pgUrl(POSTGRES.adminDb),
    FREIGHT_DB_SCHEMA: schema,
    REDIS_URL,
    FREIGHT_QUEUE_NAME: `bench-${process.pid}-${name}-${round}`,
    FREIGHT_SECRET_KEY: 'bench-secret-key-0123456789abcdef',
    FREIGHT_BOOTSTRAP_ADMIN_KEY: adminKey,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  };
  const procs = [];
  const start = (label, args) => {
    const entry = { label, child: null, done: null };
    entry.done = runTimed({
      name: `round${round}-${name}-${label}`,
      cmd: process.execPath,
      args: [path.join(repoRoot, 'bin', 'freight.js'), ...args],
      extraEnv,
      unsetEnv: ['CELERY_BROKER_URL'],
      onSpawn: (child) => (entry.child = child),
    });
    procs.push(entry);
  };
  const headers = {
    authorization: `Bearer ${adminKey}`,
    'x-tenant-id': 'platform',
    'content-type': 'application/json',
  };
  const api = async (method, url, body) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers,
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${url} → ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text);
  };
  const waitFor = async (what, fn, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (procs.some((p) => p.exited))
        throw new Error(`a process exited while waiting for ${what}`);
      try {
        if (await fn()) return;
      } catch {
        // not yet
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const problems = [];
  let seconds = null;
  let job = null;
  try {
    start('api', ['serve', '--no-worker']);
    for (const p of procs) p.done.then(() => (p.exited = true));
    await waitFor('the API', async () => (await fetch(`${base}/health`)).status === 200);
    for (let i = 1; i <= n; i++)
      start(`worker${i}`, ['worker', '--concurrency', String(WORKER_CONCURRENCY)]);
    for (const p of procs) p.done.then(() => (p.exited = true));
    await waitFor(
      `${n} worker(s) to register`,
      async () => (await api('GET', '/api/v1/workers/status')).workers.length >= n,
    );
    await checkpoint();
    const t0 = process.hrtime.bigint();
    job = await api('POST', '/api/v1/jobs', {
      source_config: SOURCE_URL,
      target_config: pgUrl(db),
      tables: ['users'],
      batch_size: 10_000,
      concurrency: JOB_CONCURRENCY,
    });
    const terminal = ['completed', 'completed_with_errors', 'failed', 'cancelled'];
    for (;;) {
      job = await api('GET', `/api/v1/jobs/${job.job_id}`);
      if (terminal.includes(job.status)) break;
      if (procs.some((p) => p.exited)) throw new Error('a Freight process exited during the job');
      if (Number(process.hrtime.bigint() - t0) / 1e9 > timeoutSeconds)
        throw new Error(`the job did not finish within ${timeoutSeconds} s (BENCH_TIMEOUT_S)`);
      await new Promise((r) => setTimeout(r, 50));
    }
    seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (job.status !== 'completed')
      problems.push(`job status ${job.status}${job.error ? `: ${JSON.stringify(job.error)}` : ''}`);
    if (job.progress?.rows_written !== ROWS)
      problems.push(`job rows_written ${job.progress?.rows_written}, expected ${ROWS}`);
  } catch (e) {
    problems.push(e.message);
  } finally {
    // SIGTERM to Freight itself (the child of /usr/bin/time), so `time` lives to write the peak RSS.
    for (const p of procs) if (p.child) signalTimedChild(p.child.pid, 'SIGTERM');
  }
  const results = await Promise.all(procs.map((p) => p.done));
  const workers = results.filter((_, i) => procs[i].label.startsWith('worker'));
  const rss = workers.map((r) => r.rssKiB).filter((x) => x != null);
  const verify = problems.length ? null : await verifyTarget(db, { sequence: true });
  if (verify) problems.push(...verify.problems);
  // Which worker ran how many batches: the point of the exercise is that both took part.
  let perWorker = null;
  if (!problems.length) {
    try {
      perWorker = await withPg(
        POSTGRES.adminDb,
        async (c) =>
          (
            await c.query(
              `SELECT worker_id, COUNT(*)::int AS batches FROM ${quoteIdent(schema)}.batches WHERE job_id = $1 GROUP BY worker_id ORDER BY worker_id`,
              [job.job_id],
            )
          ).rows,
      );
    } catch {
      perWorker = null;
    }
  }
  await withPg(POSTGRES.adminDb, (c) =>
    c.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`),
  ).catch(() => {});
  return {
    seconds,
    rssKiB: rss.length ? Math.max(...rss) : null,
    problems,
    stdoutFile: results[0]?.stdoutFile,
    stderrFile: results[0]?.stderrFile,
    details: {
      command: `freight serve --no-worker + ${n} × freight worker --concurrency ${WORKER_CONCURRENCY} (PostgreSQL store, BullMQ on ${REDIS_URL}); POST /api/v1/jobs batch_size 10000, concurrency ${JOB_CONCURRENCY}`,
      job_id: job?.job_id ?? null,
      worker_rss_mb: workers.map((r) => (r.rssKiB != null ? kibToMB(r.rssKiB) : null)),
      api_rss_mb: results[0]?.rssKiB != null ? kibToMB(results[0].rssKiB) : null,
      batches_per_worker: perWorker,
      verify,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// (b) pgloader

const PGLOADER_WITH =
  'include drop, create tables, create indexes, reset sequences, workers = 4, concurrency = 2';

async function runPgloader(round) {
  const db = DB.pgloader;
  await resetDatabase(db);
  const loadFile = path.join(workDir, 'pgloader.load');
  fs.writeFileSync(
    loadFile,
    [
      'LOAD DATABASE',
      `  FROM ${SOURCE_URL}`,
      `  INTO ${pgUrl(db)}`,
      `WITH ${PGLOADER_WITH}`,
      "INCLUDING ONLY TABLE NAMES MATCHING 'users';",
      '',
    ].join('\n'),
  );
  const rootDir = path.join(workDir, 'pgloader-root');
  fs.rmSync(rootDir, { recursive: true, force: true });
  fs.mkdirSync(rootDir, { recursive: true });
  await checkpoint();
  // --dynamic-space-size first: it is an SBCL runtime option (the Debian build runs out of heap
  // on this table without it). --root-dir keeps pgloader's reject files out of /tmp.
  const args = ['--dynamic-space-size', '4096', '--root-dir', rootDir, loadFile];
  const r = await runTimed({ name: `round${round}-pgloader`, cmd: 'pgloader', args });
  const problems = [];
  const exit = exitProblem(r, 'pgloader');
  if (exit) problems.push(exit);
  const verify = await verifyTarget(db, { sequence: true }).catch((e) => ({
    problems: [`verification failed: ${e.message}`],
  }));
  problems.push(...verify.problems);
  return {
    ...r,
    problems,
    details: {
      command: `pgloader ${args.map((a) => path.relative(repoRoot, a) || a).join(' ')}`,
      load_file_with: PGLOADER_WITH,
      target_schema: verify.schema ?? null,
      verify,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// (c) the pipe: MariaDB emitting COPY text straight into psql

const copyText = (col) =>
  `REPLACE(REPLACE(REPLACE(REPLACE(${col}, '\\\\', '\\\\\\\\'), '\\t', '\\\\t'), '\\n', '\\\\n'), '\\r', '\\\\r')`;
const orNull = (expr) => `IFNULL(${expr}, '\\\\N')`;

// Column order as in the table; text columns escaped for COPY, NULLs written as \N.
const PIPE_SELECT = [
  "SET time_zone = '+00:00';",
  "SELECT CONCAT_WS('\\t',",
  [
    'id',
    copyText('email'),
    copyText('name'),
    'is_active',
    orNull('age'),
    'balance',
    'created_at',
    'updated_at',
    orNull(copyText('profile')),
    orNull(copyText('bio')),
    copyText('plan'),
  ]
    .map((e) => `  ${e}`)
    .join(',\n'),
  ') FROM bench.users;',
].join('\n');

// The column types Freight creates for bench.users (without its defaults, CHECK and trigger), and
// no indexes: those are built after the load, inside the timed span.
const PIPE_TABLE = `CREATE TABLE users (
  id bigint NOT NULL,
  email varchar(255) NOT NULL,
  name varchar(100) NOT NULL,
  is_active boolean NOT NULL,
  age integer,
  balance numeric(12,2) NOT NULL,
  created_at timestamp(0) NOT NULL,
  updated_at timestamptz(0) NOT NULL,
  profile jsonb,
  bio text,
  plan text NOT NULL
)`;
const PIPE_INDEXES = [
  'ALTER TABLE users ADD PRIMARY KEY (id)',
  'CREATE UNIQUE INDEX users_email_key ON users (email)',
];

// --quick: stream rows as they come; without it the mariadb client first buffers the whole
// result (~500 MB) in memory and the two sides of the pipe never overlap.
const PIPE_SCRIPT = [
  'mariadb -h "$MY_HOST" -P "$MY_PORT" -u"$MY_USER" --batch --raw --quick --skip-column-names --default-character-set=utf8mb4 -e "$1" \\',
  '  | PGTZ=UTC psql -X -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -v ON_ERROR_STOP=1 -c "$2"',
  'status=("${PIPESTATUS[@]}")',
  'echo "${status[*]}" > "$STATUS_FILE"',
  '[ "${status[0]}" = 0 ] && [ "${status[1]}" = 0 ]',
].join('\n');

async function runPipe(round) {
  const db = DB.pipe;
  await resetDatabase(db);
  await withPg(db, (c) => c.query(PIPE_TABLE));
  const statusFile = path.join(logDir, `round${round}-pipe.status`);
  fs.rmSync(statusFile, { force: true });
  const client = new pg.Client({ ...POSTGRES, database: db });
  await client.connect(); // connected before the clock starts, used for the index builds
  const problems = [];
  let r = { seconds: null, rssKiB: null };
  let copySeconds = null;
  let indexSeconds = null;
  let statuses = '';
  try {
    await checkpoint();
    r = await runTimed({
      name: `round${round}-pipe`,
      cmd: 'bash',
      args: ['-o', 'pipefail', '-c', PIPE_SCRIPT, 'bash', PIPE_SELECT, 'COPY users FROM STDIN'],
      extraEnv: {
        MY_HOST: MARIADB.host,
        MY_PORT: String(MARIADB.port),
        MY_USER: MARIADB.user,
        PG_HOST: POSTGRES.host,
        PG_PORT: String(POSTGRES.port),
        PG_USER: POSTGRES.user,
        PG_DB: db,
        STATUS_FILE: statusFile,
      },
    });
    copySeconds = r.seconds;
    const exit = exitProblem(r, 'the pipe');
    if (exit) problems.push(exit);
    try {
      statuses = fs.readFileSync(statusFile, 'utf8').trim();
    } catch {
      // bash did not get that far
    }
    const [mariadbExit, psqlExit] = statuses.split(' ');
    if (mariadbExit !== '0') problems.push(`mariadb exited with ${mariadbExit ?? '?'}`);
    if (psqlExit !== '0') problems.push(`psql exited with ${psqlExit ?? '?'}`);
    const copied = /^COPY (\d+)$/m.exec(fs.readFileSync(r.stdoutFile, 'utf8'));
    if (!copied || Number(copied[1]) !== ROWS)
      problems.push(
        `psql reported ${copied ? `COPY ${copied[1]}` : 'no COPY count'}, expected COPY ${ROWS}`,
      );
    if (problems.length === 0) {
      const t0 = process.hrtime.bigint();
      for (const sql of PIPE_INDEXES) await client.query(sql);
      indexSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      r.seconds += indexSeconds;
    }
  } catch (e) {
    problems.push(
      `${indexSeconds === null && copySeconds !== null ? 'index build' : 'pipe'} failed: ${e.message}`,
    );
  } finally {
    await client.end();
  }
  if (problems.length === 0)
    problems.push(...(await verifyTarget(db, { sequence: false })).problems);
  return {
    ...r,
    problems,
    details: {
      copy_seconds: copySeconds,
      index_seconds: indexSeconds,
      exit_codes: statuses || null,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  preflight();
  const started = new Date();
  const versions = {
    node: process.version,
    freight_commit:
      spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
        cwd: repoRoot,
        encoding: 'utf8',
      }).stdout.trim() || null,
    freight_src_modified:
      spawnSync('git', ['status', '--porcelain', '--', 'src'], {
        cwd: repoRoot,
        encoding: 'utf8',
      }).stdout.trim() !== '',
    pgloader: firstLine('pgloader', ['--version']),
    mariadb: await withMariadb(async (c) => (await c.query('SELECT VERSION() AS v'))[0][0].v),
    postgresql: await withPg(
      POSTGRES.adminDb,
      async (c) => (await c.query('SHOW server_version')).rows[0].server_version,
    ),
    cpus: os.availableParallelism(),
  };
  log(
    `Freight benchmark: bench.users (${fmtInt(ROWS)} rows) MariaDB → PostgreSQL, ${rounds} round${rounds === 1 ? '' : 's'}`,
  );
  log(
    `  node ${versions.node}, freight ${versions.freight_commit ?? '?'}${versions.freight_src_modified ? ' (+ uncommitted changes in src/)' : ''}, ` +
      `MariaDB ${versions.mariadb}, PostgreSQL ${versions.postgresql}, ${versions.pgloader}, ${versions.cpus} CPUs`,
  );
  if (freightExtraArgs.length)
    log(`  freight extra args (BENCH_FREIGHT_ARGS): ${freightExtraArgs.join(' ')}`);
  for (const key of Object.keys(env)
    .filter((k) => k.startsWith('FREIGHT_'))
    .sort())
    log(`  note: ${key}=${env[key]} is passed to freight`);
  const dataset = await ensureDataset();
  await warmUp();

  const runners = {
    freight: runFreight,
    pgloader: runPgloader,
    pipe: runPipe,
    workers1: (round) => runWorkers(round, 1),
    workers2: (round) => runWorkers(round, 2),
  };
  const runs = Object.fromEntries(CONTENDERS.map((c) => [c, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const name of CONTENDERS) {
      if (interrupted) break;
      process.stdout.write(`[round ${round}/${rounds}] ${name.padEnd(8)} ... `);
      let res;
      try {
        res = await runners[name](round);
      } catch (e) {
        res = {
          seconds: null,
          rssKiB: null,
          problems: [`${name} failed: ${e.message}`],
          details: {},
        };
      }
      res.round = round;
      if (res.problems.length === 0 && fingerprints) {
        res.fingerprint = await fingerprint(DB[name]);
      }
      runs[name].push(res);
      const rss = res.rssKiB != null ? `peak RSS ${fmtInt(kibToMB(res.rssKiB))} MB` : 'peak RSS ?';
      if (res.problems.length === 0) {
        const extra =
          name === 'pipe'
            ? ` (COPY ${fmtS(res.details.copy_seconds)} s + indexes ${fmtS(res.details.index_seconds)} s)`
            : '';
        log(`${fmtS(res.seconds)} s, ${fmtInt(ROWS / res.seconds)} rows/s, ${rss}${extra}  ok`);
      } else {
        log(`FAILED${res.seconds != null ? ` after ${fmtS(res.seconds)} s` : ''}`);
        for (const p of res.problems) log(`    ✗ ${p}`);
        if (res.stderrFile) {
          const t = tail(res.stderrFile, 12) || tail(res.stdoutFile, 12);
          if (t) log(t.replace(/^/gm, '    | '));
          log(
            `    logs: ${path.relative(repoRoot, res.stdoutFile)}, ${path.relative(repoRoot, res.stderrFile)}`,
          );
        }
      }
    }
  }

  // Content cross-check: every run's column fingerprints against the first clean pipe run's.
  const dataProblems = [];
  if (fingerprints) {
    const ref = runs.pipe.find((r) => r.fingerprint)?.fingerprint;
    if (!ref) dataProblems.push('no clean pipe run to compare contents against');
    else {
      for (const name of CONTENDERS) {
        for (const r of runs[name]) {
          if (!r.fingerprint) continue;
          const differ = Object.keys(r.fingerprint).filter((k) => r.fingerprint[k] !== ref[k]);
          if (differ.length) {
            const msg = `${name} round ${r.round}: column content differs from the pipe's: ${differ.join(', ')}`;
            r.problems.push(msg);
            dataProblems.push(msg);
          }
        }
      }
    }
  }

  // Results.
  const summary = {};
  for (const name of CONTENDERS) {
    const ok = runs[name].filter((r) => r.problems.length === 0);
    const best = ok.length ? Math.min(...ok.map((r) => r.seconds)) : null;
    const rss = ok.map((r) => r.rssKiB).filter((x) => x != null);
    summary[name] = {
      best_seconds: best,
      rows_per_second: best ? ROWS / best : null,
      peak_rss_mb: rss.length ? kibToMB(Math.max(...rss)) : null,
      failed_runs: runs[name].length - ok.length,
      runs: runs[name].map((r) => ({
        round: r.round,
        ok: r.problems.length === 0,
        seconds: r.seconds,
        peak_rss_mb: r.rssKiB != null ? kibToMB(r.rssKiB) : null,
        problems: r.problems,
        ...r.details,
        fingerprint: r.fingerprint ?? null,
      })),
    };
  }
  const ratio = (a, b) =>
    summary[a]?.best_seconds && summary[b]?.best_seconds
      ? summary[b].best_seconds / summary[a].best_seconds
      : null;
  const vsPgloader = ratio('freight', 'pgloader');
  const vsPipe = ratio('freight', 'pipe');
  const twoVsOne = ratio('workers2', 'workers1');
  const freightRss = summary.freight.peak_rss_mb;
  const targets = {
    freight_vs_pgloader: {
      value: vsPgloader,
      target: `>= ${TARGETS.vsPgloader}`,
      pass: vsPgloader != null && vsPgloader >= TARGETS.vsPgloader,
    },
    freight_vs_pipe: {
      value: vsPipe,
      target: `>= ${TARGETS.vsPipe}`,
      pass: vsPipe != null && vsPipe >= TARGETS.vsPipe,
    },
    freight_peak_rss_mb: {
      value: freightRss,
      target: `< ${TARGETS.rssMB}`,
      pass: freightRss != null && freightRss < TARGETS.rssMB,
    },
    ...(CONTENDERS.includes('workers1') && CONTENDERS.includes('workers2')
      ? {
          two_workers_vs_one: {
            value: twoVsOne,
            target: `>= ${TARGETS.twoVsOne}`,
            pass: twoVsOne != null && twoVsOne >= TARGETS.twoVsOne,
          },
        }
      : {}),
  };

  log();
  log(
    `Results (${fmtInt(ROWS)} rows; best of ${rounds} round${rounds === 1 ? '' : 's'}; peak RSS = largest over the clean rounds, MB = 10^6 bytes)`,
  );
  const header = ['contender', 'best s', 'rows/s', 'peak RSS', 'all rounds (s)'];
  const rows = CONTENDERS.map((name) => {
    const s = summary[name];
    return [
      name,
      s.best_seconds != null ? fmtS(s.best_seconds) : 'FAILED',
      s.rows_per_second != null ? fmtInt(s.rows_per_second) : '-',
      s.peak_rss_mb != null ? `${fmtInt(s.peak_rss_mb)} MB` : '-',
      s.runs.map((r) => (r.ok ? fmtS(r.seconds) : 'failed').padStart(6)).join(' '),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    cells
      .map((c, i) =>
        i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]),
      )
      .join('  ')
      .trimEnd();
  log(`  ${line(header)}`);
  for (const r of rows) log(`  ${line(r)}`);
  if (summary.pipe.runs.some((r) => r.copy_seconds != null)) {
    log(
      `  pipe rounds split as COPY + index builds: ${summary.pipe.runs
        .filter((r) => r.ok)
        .map((r) => `${fmtS(r.copy_seconds)} + ${fmtS(r.index_seconds)}`)
        .join(', ')} s`,
    );
  }
  if (summary.freight.runs.some((r) => r.reported_duration_ms != null)) {
    log(
      `  freight's own duration_ms: ${summary.freight.runs.map((r) => (r.reported_duration_ms != null ? fmtInt(r.reported_duration_ms) : '-')).join(', ')} (wall time includes start-up and exit)`,
    );
  }
  log();
  const verdict = (t) => (t.pass ? 'PASS' : 'FAIL');
  const x = (v) => (v == null ? 'n/a' : `${v.toFixed(2)}×`);
  log(
    `  Freight/pgloader = ${x(vsPgloader).padEnd(7)}  target ≥ ${TARGETS.vsPgloader.toFixed(2)}×   ${verdict(targets.freight_vs_pgloader)}`,
  );
  log(
    `  Freight/pipe     = ${x(vsPipe).padEnd(7)}  target ≥ ${TARGETS.vsPipe.toFixed(2)}×   ${verdict(targets.freight_vs_pipe)}`,
  );
  log(
    `  Freight peak RSS = ${(freightRss == null ? 'n/a' : `${fmtInt(freightRss)} MB`).padEnd(7)}  target < ${TARGETS.rssMB} MB  ${verdict(targets.freight_peak_rss_mb)}`,
  );
  if (targets.two_workers_vs_one) {
    log(
      `  2 workers/1      = ${x(twoVsOne).padEnd(7)}  target ≥ ${TARGETS.twoVsOne.toFixed(2)}×   ${verdict(targets.two_workers_vs_one)}  (speed-up of the distributed job with a second worker process)`,
    );
    for (const w of ['workers1', 'workers2']) {
      const r = summary[w].runs.find((x) => x.ok && x.batches_per_worker);
      if (r)
        log(
          `  ${w}: batches per worker ${r.batches_per_worker.map((b) => b.batches).join(' + ')}, worker RSS ${r.worker_rss_mb.map((m) => `${fmtInt(m)} MB`).join(', ')}, API ${fmtInt(r.api_rss_mb)} MB`,
        );
    }
  }
  log();

  const failedRuns = CONTENDERS.flatMap((n) =>
    summary[n].runs.filter((r) => !r.ok).map((r) => ({ n, r })),
  );
  if (failedRuns.length === 0) {
    log(
      `data: every run verified: ${fmtInt(ROWS)} rows, primary key (id), unique index (email)${fingerprints ? ', column contents identical across all contenders' : ''}`,
    );
  } else {
    log('FAILURES (the bench exits 1):');
    for (const { n, r } of failedRuns)
      for (const p of r.problems) log(`  ✗ ${n} round ${r.round}: ${p}`);
  }
  for (const p of dataProblems.filter((p) => !p.includes(' round '))) log(`  ✗ ${p}`);

  const report = {
    started_at: started.toISOString(),
    finished_at: new Date().toISOString(),
    rows: ROWS,
    rounds,
    versions,
    dataset: { file: dataSql, ...dataset },
    settings: {
      source: SOURCE_URL,
      freight_extra_args: freightExtraArgs,
      pgloader_with: PGLOADER_WITH,
      pipe_select: PIPE_SELECT,
      fingerprints,
    },
    contenders: summary,
    ratios: {
      freight_vs_pgloader: vsPgloader,
      freight_vs_pipe: vsPipe,
      two_workers_vs_one: twoVsOne,
    },
    targets,
    ok: failedRuns.length === 0 && dataProblems.length === 0 && !interrupted,
  };
  fs.writeFileSync(path.join(workDir, 'last-run.json'), `${JSON.stringify(report, null, 2)}\n`);
  log(
    `(written to ${path.relative(repoRoot, path.join(workDir, 'last-run.json'))}; logs in ${path.relative(repoRoot, logDir)}/)`,
  );
  return report.ok ? 0 : interrupted ? 130 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: ${e.stack ?? e}\n`);
    process.exit(1);
  },
);
