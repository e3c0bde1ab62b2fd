import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlDatabase, createPgSchema, tempDir } from '../helpers/databases.js';
import { freight } from '../helpers/cli.js';
import { hasService } from '../helpers/services.js';

const up = (await hasService('mysql')) && (await hasService('postgres'));

describe.skipIf(!up)('freight migrate (the command, as a user runs it)', () => {
  let mysql: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let pg: Awaited<ReturnType<typeof createPgSchema>>;
  const home = tempDir();
  const env = { FREIGHT_HOME: home.dir };
  const ROWS = 120_000;

  beforeAll(async () => {
    mysql = await createMysqlDatabase();
    pg = await createPgSchema();
    await mysql.query(`CREATE TABLE items (
      id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
      sku VARCHAR(40) NOT NULL UNIQUE,
      price DECIMAL(10,2) NOT NULL,
      note TEXT NULL,
      created DATETIME(3) NOT NULL)`);
    await mysql.query(`INSERT INTO items (sku, price, note, created)
      SELECT CONCAT('sku-', seq), seq / 100, IF(seq % 7 = 0, NULL, CONCAT('line\\t', seq, '\\n\\\\')),
             TIMESTAMP('2020-01-01') + INTERVAL seq SECOND
      FROM seq_1_to_${ROWS}`);
    await mysql.query(`CREATE TABLE small (k VARCHAR(10) PRIMARY KEY, v INT)`);
    await mysql.query(`INSERT INTO small VALUES ('a', 1), ('B', 2), ('c', 3)`);
  });
  afterAll(async () => {
    await mysql?.drop();
    await pg?.drop();
    home.remove();
  });

  it('prints help', async () => {
    const r = await freight(['--help'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('migrate');
    const m = await freight(['migrate', '--help'], env);
    expect(m.stdout).toContain('--batch-size');
    expect(m.stdout).toContain('--resume');
  });

  it('survives SIGKILL mid-run: --resume finishes with every row exactly once and a matching checksum', async () => {
    const target = `${pg.url.replace(/schema=[^&]+/, `schema=${pg.name}`)}`;
    let jobId = '';
    const first = await freight(
      [
        'migrate',
        mysql.url,
        target,
        '--tables',
        'items',
        '--batch-size',
        '2000',
        '--concurrency',
        '2',
        '--no-progress',
      ],
      env,
      {
        onSpawn: (child) => {
          // Kill it hard once some batches have committed on the target.
          const poll = setInterval(async () => {
            const m = /job ([0-9a-f-]{36})/.exec(first_stderr());
            if (m) jobId = m[1]!;
            try {
              const { rows } = await pg.query(`SELECT count(*)::int AS n FROM "${pg.name}".items`);
              if (rows[0].n >= 20_000) {
                clearInterval(poll);
                child.kill('SIGKILL');
              }
            } catch {
              // table not created yet
            }
          }, 50);
          let err = '';
          child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
          const first_stderr = () => err;
          child.on('close', () => clearInterval(poll));
        },
      },
    );
    expect(first.signal).toBe('SIGKILL');
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    const partial = (await pg.query(`SELECT count(*)::int AS n FROM "${pg.name}".items`)).rows[0].n;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(ROWS);

    const resumed = await freight(
      ['migrate', '--resume', jobId, '--json', '--verify', 'checksum'],
      env,
    );
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(resumed.stdout);
    expect(summary.status).toBe('completed');
    expect(summary.tables[0]).toMatchObject({
      name: `${mysql.name}.items`,
      source_rows: ROWS,
      target_rows: ROWS,
      validation: 'passed',
    });
    const check = await pg.query(
      `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, sum(price)::text AS s FROM "${pg.name}".items`,
    );
    expect(check.rows[0]).toEqual({
      n: ROWS,
      d: ROWS,
      s: String((ROWS * (ROWS + 1)) / 2 / 100) + '.00',
    });
    // The unique index on sku was built after the load, and the identity continues after the data.
    const idx = await pg.query(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'items'`,
      [pg.name],
    );
    expect(idx.rows.map((r) => r.indexdef).join('\n')).toMatch(/UNIQUE INDEX .* \(sku\)/);
    // Next identity = max(AUTO_INCREMENT, max(id) + 1); InnoDB reserves ids ahead for INSERT … SELECT.
    const autoInc = (await mysql.query(
      `SELECT AUTO_INCREMENT AS a FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${mysql.name}' AND TABLE_NAME = 'items'`,
    )) as Array<{ a: number }>;
    const next = await pg.query(
      `INSERT INTO "${pg.name}".items (sku, price, created) VALUES ('new', 1, now()) RETURNING id`,
    );
    expect(Number(next.rows[0].id)).toBe(Math.max(Number(autoInc[0]!.a), ROWS + 1));
  });

  it('retries batches whose PostgreSQL connection is terminated mid-load and still copies every row once', async () => {
    const schema = `${pg.name}_kill`;
    await pg.query(`CREATE SCHEMA "${schema}"`);
    const target = pg.url.replace(/schema=[^&]+/, `schema=${schema}`);
    let killed = 0;
    const result = await freight(
      [
        'migrate',
        mysql.url,
        target,
        '--tables',
        'items',
        '--batch-size',
        '5000',
        '--json',
        '--max-retries',
        '5',
      ],
      env,
      {
        onSpawn: (child) => {
          const poll = setInterval(async () => {
            const r = await pg.query(
              `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
                WHERE application_name = 'freight' AND query ILIKE 'COPY%' AND state = 'active'
                  AND position($1 in query) > 0`,
              [`"${schema}"`],
            );
            killed += r.rows.filter((x) => x.ok).length;
            if (killed >= 3) clearInterval(poll);
          }, 30);
          child.on('close', () => clearInterval(poll));
        },
      },
    );
    expect(killed).toBeGreaterThanOrEqual(1);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect(JSON.parse(result.stdout).status).toBe('completed');
    const check = await pg.query(
      `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${schema}".items`,
    );
    expect(check.rows[0]).toEqual({ n: ROWS, d: ROWS });
  });

  it('prints a per-table summary like pgloader', async () => {
    const schema = `${pg.name}_sum`;
    const r = await freight(
      [
        'migrate',
        mysql.url,
        pg.url.replace(/schema=[^&]+/, `schema=${schema}`),
        '--tables',
        'small',
        '--no-progress',
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/table name\s+read\s+written\s+failed\s+batches\s+duration\s+rows\/s/);
    expect(r.stdout).toMatch(/\.small\s+3\s+3\s+0\s+1\s/);
    expect(r.stdout).toContain('completed');
  });

  it.each([
    [
      'an unreachable source',
      ['mysql://root@127.0.0.1:1/nope', 'postgresql://postgres@127.0.0.1:5432/test'],
      /CONNECTION_FAILED: cannot reach the source: .*ECONNREFUSED/,
    ],
    [
      'a wrong password',
      [
        'mysql://root:wrong-pw-123@127.0.0.1:3306/test',
        'postgresql://postgres@127.0.0.1:5432/test',
      ],
      /(AUTH_FAILED|CONNECTION_FAILED).*Access denied/,
    ],
    [
      'a missing database',
      ['mysql://root@127.0.0.1:3306/no_such_db_x', 'postgresql://postgres@127.0.0.1:5432/test'],
      /DATABASE_NOT_FOUND.*no_such_db_x/,
    ],
    [
      'a missing table',
      ['MYSQL', 'postgresql://postgres@127.0.0.1:5432/test', '--tables', 'ghost'],
      /TABLE_NOT_FOUND: table ghost does not exist/,
    ],
    [
      'a malformed URL',
      ['mysql:/\\bad', 'postgresql://postgres@127.0.0.1:5432/test'],
      /CONNECTION_CONFIG_INVALID/,
    ],
    [
      'an unsupported target',
      ['MYSQL', 'mysql://root@127.0.0.1:3306/test'],
      /UNSUPPORTED: mysql cannot be a target/,
    ],
  ])('fails with a message naming the problem for %s', async (_what, args, message) => {
    const r = await freight(
      [
        'migrate',
        ...args.map((a) => (a === 'MYSQL' ? mysql.url : a)),
        '--no-progress',
        '--max-retries',
        '1',
      ],
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at .*\(.*\.js:\d+:\d+\)/);
    expect(r.stderr + r.stdout).not.toContain('wrong-pw-123');
  });

  it('rejects unknown FREIGHT_ variables at start-up, naming them', async () => {
    const r = await freight(['migrate', mysql.url, pg.url], { ...env, FREIGHT_CONCURENCY: '4' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CONFIG_INVALID: unknown environment variable FREIGHT_CONCURENCY/);
  });
});
