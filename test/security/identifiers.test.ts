import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { createMysqlDatabase, createPgSchema, uniqueName } from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';
import { expectError } from './support.js';

/**
 * Identifiers from users and from databases are data, never SQL (DESIGN.md §6): `tables` entries
 * that try to break out of quoting are refused or match nothing, and real MariaDB and PostgreSQL
 * tables and columns whose names hold quotes, backticks, semicolons, comment markers, spaces,
 * unicode and SQL keywords migrate to PostgreSQL under exactly those names — and nothing else
 * (the canary tables `x` and `users` on both sides) is touched.
 */

const up = (await hasService('postgres')) && (await hasService('mysql'));

const myq = (name: string) => `\`${name.replaceAll('`', '``')}\``;
const pgq = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Hostile names, all lower-case (so the target's lower-casing keeps them as they are) and under 63 bytes. */
const TABLES = [
  'we"ird table',
  "it's; drop table x; --",
  'back`tick',
  'select',
  'naïve_表_données',
  '$1 %s ? /* */ \\n',
  'users"; drop table users; --',
];
const COLUMNS = [
  'col "dq"',
  "col 'sq'",
  'col`bt',
  'order',
  'from; drop table x',
  'ünïcødé 列',
  'sp ace',
  '--dash',
  'a.b',
  '?',
  '$1',
];
/** Values with the same characters, so quoting of values is exercised on the way too. */
const valueFor = (table: number, column: number, row: number) =>
  `t${table}c${column}r${row} '"\`;--\\ ${TABLES[table]!.slice(0, 6)}`;

function expectedRows(t: number) {
  return [1, 2, 3].map((row) => ({
    id: row,
    ...Object.fromEntries(COLUMNS.map((c, ci) => [c, valueFor(t, ci, row)])),
  }));
}

describe.skipIf(!up)('identifier injection', () => {
  let api: TestApi;
  let tenant: Awaited<ReturnType<TestApi['tenant']>>;
  let my: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let pgSource: Awaited<ReturnType<typeof createPgSchema>>;
  let pgTarget: Awaited<ReturnType<typeof createPgSchema>>;
  /** A target schema whose own name is hostile; created by the test, dropped by pgTarget's connection. */
  const hostileSchema = `${uniqueName('fsecid')} "sch"; drop schema public; --`;

  async function pgCanaries(schema: string) {
    const r = await pgTarget.query(
      `SELECT (SELECT count(*) FROM ${pgq(schema)}.x)::int AS x, (SELECT count(*) FROM ${pgq(schema)}.users)::int AS users`,
    );
    return r.rows[0];
  }
  async function myCanaries() {
    const r = (await my.query(
      'SELECT (SELECT count(*) FROM x) AS x, (SELECT count(*) FROM users) AS users',
    )) as Array<{ x: number; users: number }>;
    return { x: Number(r[0]!.x), users: Number(r[0]!.users) };
  }

  beforeAll(async () => {
    if (!up) return;
    api = await startTestApi('sqlite');
    tenant = await api.tenant();
    my = await createMysqlDatabase('fsecid');
    pgSource = await createPgSchema('fsecids');
    pgTarget = await createPgSchema('fsecidt');
    await pgTarget.query(`CREATE SCHEMA ${pgq(hostileSchema)}`);

    // Canaries on every side.
    await my.query('CREATE TABLE x (id INT PRIMARY KEY, v TEXT)');
    await my.query("INSERT INTO x VALUES (1, 'canary')");
    await my.query('CREATE TABLE users (id INT PRIMARY KEY, v TEXT)');
    await my.query("INSERT INTO users VALUES (1, 'canary'), (2, 'canary')");
    for (const schema of [pgTarget.name, hostileSchema, pgSource.name]) {
      await pgTarget.query(
        `CREATE TABLE ${pgq(schema)}.x (id int PRIMARY KEY, v text); INSERT INTO ${pgq(schema)}.x VALUES (1, 'canary')`,
      );
      await pgTarget.query(
        `CREATE TABLE ${pgq(schema)}.users (id int PRIMARY KEY, v text); INSERT INTO ${pgq(schema)}.users VALUES (1, 'canary'), (2, 'canary')`,
      );
    }

    // The hostile tables, on MariaDB and on PostgreSQL, with the same rows.
    for (const [t, table] of TABLES.entries()) {
      await my.query(
        `CREATE TABLE ${myq(table)} (id INT PRIMARY KEY, ${COLUMNS.map((c) => `${myq(c)} VARCHAR(200)`).join(', ')}) CHARACTER SET utf8mb4`,
      );
      await pgSource.query(
        `CREATE TABLE ${pgq(pgSource.name)}.${pgq(table)} (id int PRIMARY KEY, ${COLUMNS.map((c) => `${pgq(c)} varchar(200)`).join(', ')})`,
      );
      for (const row of expectedRows(t)) {
        const values = [row.id, ...COLUMNS.map((c) => (row as Record<string, unknown>)[c])];
        await my.query(
          `INSERT INTO ${myq(table)} VALUES (${values.map(() => '?').join(', ')})`,
          values,
        );
        await pgSource.query(
          `INSERT INTO ${pgq(pgSource.name)}.${pgq(table)} VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')})`,
          values,
        );
      }
    }
  });

  afterAll(async () => {
    if (!up) return;
    await api?.close();
    await pgTarget?.query(`DROP SCHEMA IF EXISTS ${pgq(hostileSchema)} CASCADE`).catch(() => {});
    await my?.drop();
    await pgSource?.drop();
    await pgTarget?.drop();
  });

  async function run(body: Record<string, unknown>) {
    const r = await api.request('POST', '/api/v1/jobs', {
      key: tenant.keys.engineer,
      tenant: tenant.id,
      body,
    });
    expect(r.statusCode, r.body).toBe(201);
    return api.waitForJob(tenant.id, tenant.keys.viewer, r.json().job_id);
  }

  async function expectArrivedExactly(schema: string) {
    const tables = await pgTarget.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [schema],
    );
    expect(tables.rows.map((r) => r.table_name).sort()).toEqual([...TABLES, 'users', 'x'].sort());
    for (const [t, table] of TABLES.entries()) {
      const columns = await pgTarget.query(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
        [schema, table],
      );
      expect(
        columns.rows.map((r) => r.column_name),
        table,
      ).toEqual(['id', ...COLUMNS]);
      const rows = await pgTarget.query(`SELECT * FROM ${pgq(schema)}.${pgq(table)} ORDER BY id`);
      expect(rows.rows, table).toEqual(expectedRows(t));
    }
    expect(await pgCanaries(schema)).toEqual({ x: 1, users: 2 });
  }

  it('MariaDB → PostgreSQL: tables and columns named with quotes, backticks, semicolons, comments, spaces, unicode and keywords arrive under exactly those names, with their rows', async () => {
    const job = await run({
      source_config: {
        type: 'mariadb',
        host: '127.0.0.1',
        port: 3306,
        database: my.name,
        user: 'root',
      },
      target_config: {
        type: 'postgresql',
        host: '127.0.0.1',
        port: 5432,
        database: 'test',
        user: 'postgres',
        schema: pgTarget.name,
      },
      tables: TABLES,
      verify: 'checksum',
    });
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.tables.map((t: { table: string }) => t.table).sort()).toEqual(
      TABLES.map((t) => `${my.name}.${t}`).sort(),
    );
    expect(
      job.tables.every((t: { validation: string }) => /pass|ok|match/i.test(t.validation)),
      JSON.stringify(job.tables.map((t: { validation: string }) => t.validation)),
    ).toBe(true);
    await expectArrivedExactly(pgTarget.name);
    expect(await myCanaries()).toEqual({ x: 1, users: 2 });
  });

  it('PostgreSQL → PostgreSQL into a schema whose own name is hostile: the same names arrive, nothing else changes', async () => {
    const job = await run({
      source_config: `postgresql://postgres@127.0.0.1:5432/test?schema=${encodeURIComponent(pgSource.name)}`,
      target_config: {
        type: 'postgresql',
        host: '127.0.0.1',
        port: 5432,
        database: 'test',
        user: 'postgres',
        schema: hostileSchema,
      },
      tables: TABLES,
    });
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    await expectArrivedExactly(hostileSchema);
    expect(await pgCanaries(pgSource.name)).toEqual({ x: 1, users: 2 });
    expect(await pgCanaries(pgTarget.name)).toEqual({ x: 1, users: 2 });
    const schemas = await pgTarget.query(
      `SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = 'public'`,
    );
    expect(schemas.rows[0].n).toBe(1);
  });

  it('`tables` entries that try to break out of quoting match no table: validate=true answers 400 TABLE_NOT_FOUND, a job fails naming the table; canaries intact', async () => {
    const injections = [
      'users"; DROP TABLE x; --',
      "users'; DROP TABLE x; --",
      'users`; DROP TABLE x; --',
      'x` WHERE 1=0 UNION SELECT 1 --',
      'users/**/OR/**/1=1',
      'a.b.c',
      `${my?.name ?? 'db'}.x; DROP TABLE users`,
      'information_schema.tables',
      'mysql.user',
      '..',
      '%',
      '*',
      'x'.repeat(129),
    ];
    const source = {
      type: 'mariadb',
      host: '127.0.0.1',
      port: 3306,
      database: my.name,
      user: 'root',
    };
    const target = {
      type: 'postgresql',
      host: '127.0.0.1',
      port: 5432,
      database: 'test',
      user: 'postgres',
      schema: pgTarget.name,
    };
    for (const name of injections) {
      const checked = await api.request('POST', '/api/v1/jobs', {
        key: tenant.keys.engineer,
        tenant: tenant.id,
        body: { source_config: source, target_config: target, tables: [name], validate: true },
      });
      const error = expectError(checked, 400, 'TABLE_NOT_FOUND', name);
      expect(error.details).toEqual({ field: 'source_config' });
    }
    // Without validate the jobs are created, and fail on their first step naming the table.
    for (const name of injections.slice(0, 6)) {
      const job = await run({
        source_config: source,
        target_config: target,
        tables: [name],
        max_retries: 0,
      });
      expect(job.status).toBe('failed');
      expect(job.error).toMatchObject({
        code: 'TABLE_NOT_FOUND',
        message: expect.stringContaining(`table ${name} does not exist`),
      });
    }
    expect(await myCanaries()).toEqual({ x: 1, users: 2 });
    expect(await pgCanaries(pgTarget.name)).toEqual({ x: 1, users: 2 });
    const mysqlUsers = (await my.query('SELECT count(*) AS n FROM mysql.user')) as Array<{
      n: number;
    }>;
    expect(Number(mysqlUsers[0]!.n)).toBeGreaterThan(0);
  });

  it('`tables` entries the schema refuses: control characters, empty, too long, too many, not strings — 400 naming the field', async () => {
    const base = {
      source_config: `mysql://root@127.0.0.1:3306/${my.name}`,
      target_config: `postgresql://postgres@127.0.0.1:5432/test?schema=${pgTarget.name}`,
    };
    const bad: Array<[string, unknown]> = [
      ['a NUL byte', ['users\u0000; DROP TABLE x']],
      ['a newline', ['users\n; DROP TABLE x']],
      ['an escape character', ['users\u001b[2J']],
      ['DEL', ['users\u007f']],
      ['an empty name', ['']],
      ['130 characters', ['y'.repeat(130)]],
      ['1001 tables', Array.from({ length: 1001 }, (_, i) => `t${i}`)],
      ['100 000 tables', Array.from({ length: 100_000 }, (_, i) => `t${i}`)],
      ['an empty list', []],
      ['a number', [42]],
      ['an object', [{ name: 'x' }]],
      ['a string, not a list', 'x'],
      ['null', null],
    ];
    for (const [what, tables] of bad) {
      const r = await api.request('POST', '/api/v1/jobs', {
        key: tenant.keys.engineer,
        tenant: tenant.id,
        body: { ...base, tables },
      });
      const error = expectError(r, 400, 'VALIDATION_FAILED', what);
      expect(String(error.details?.field), what).toMatch(/^tables/);
    }
    expect(await myCanaries()).toEqual({ x: 1, users: 2 });
  });
});
