import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlSource } from '../../src/connectors/mysql/mysql-source.js';
import { parseConnectionUrl } from '../../src/domain/connection.js';
import type { Row, SourceTable } from '../../src/engine/ports.js';
import { hasService, SERVICES } from '../helpers/services.js';
import { openFixture, type Fixture, type Migration } from './fixture.js';

/**
 * MYSQL_TO_POSTGRES.md, "Reading from MySQL with mysql2 without corrupting data": the driver
 * settings, checked on the values the MariaDB source hands the engine and on what lands in
 * PostgreSQL.
 */

const up = (await hasService('mysql')) && (await hasService('postgres'));

const IDS = ['9007199254740992', '9007199254740993', '9007199254740994'];
const JSON_DOC = '{"n": 12345678901234567890, "x": 1.50, "tiny": 1.0000000000000000000001}';

describe.skipIf(!up)('reading MariaDB values without the driver changing them', () => {
  let fx: Fixture;
  let source: MysqlSource;
  let table: SourceTable;
  let rows: Row[];
  let m: Migration;

  const column = (name: string) => table.columns.findIndex((c) => c.name === name);
  const rowOf = (id: string) => rows.find((r) => r[column('id')] === id)!;

  beforeAll(async () => {
    fx = await openFixture('ftread');
    await fx.mysql.query(`
      CREATE TABLE readings (
        id BIGINT PRIMARY KEY, b BIGINT, bu BIGINT UNSIGNED, dec30 DECIMAL(30,10),
        dt6 DATETIME(6), ts6 TIMESTAMP(6) NULL, j JSON, f FLOAT, d DOUBLE
      );
      SET time_zone = '+09:00';
      INSERT INTO readings VALUES
        (${IDS[0]}, -9007199254740993, 18446744073709551615, 12345678901234567890.0123456789,
         '2024-02-29 23:59:59.999999', '2024-02-29 23:59:59.999999', '${JSON_DOC}', 3.14, 0.1),
        (${IDS[1]}, 9007199254740993, 9007199254740993, -0.0000000001,
         '1000-01-01 00:00:00.000001', '1970-01-01 09:00:01.000001', '[9007199254740993]', 3.1415927, 0.30000000000000004),
        (${IDS[2]}, NULL, NULL, NULL, NULL, NULL, NULL, 16777217, NULL);
      SET time_zone = '+00:00';
    `);
    source = new MysqlSource(
      parseConnectionUrl(fx.mysql.url) as ConstructorParameters<typeof MysqlSource>[0],
      { poolSize: 2 },
    );
    table = await source.describeTable({ schema: fx.mysql.name, name: 'readings' });
    rows = [];
    for await (const chunk of source.readRows(
      table,
      table.columns.map((c) => c.name),
      ['id'],
      null,
    ))
      rows.push(...chunk);
    // Batches of one row: every batch bound is a key beyond 2^53.
    m = await fx.migrate({ batchSize: 1 });
  });

  afterAll(async () => {
    await source?.close();
    await fx?.cleanup();
  });

  it('reads BIGINT and BIGINT UNSIGNED as exact decimal strings, keys included', async () => {
    expect(rows.map((r) => r[column('id')])).toEqual(IDS);
    expect(rowOf(IDS[1]!)[column('b')]).toBe('9007199254740993');
    expect(rowOf(IDS[0]!)[column('b')]).toBe('-9007199254740993');
    expect(rowOf(IDS[0]!)[column('bu')]).toBe('18446744073709551615');
    expect(rowOf(IDS[0]!)[column('dec30')]).toBe('12345678901234567890.0123456789');

    expect(m.status).toBe('completed');
    expect(m.table('readings').validation).toBe('passed');
    expect(
      m.events.filter((e) => e.type === 'batch-finished' && e.status === 'succeeded'),
    ).toHaveLength(3);
    const { rows: target } = await fx.pg.query(
      `SELECT id::text, b::text, bu::text, dec30::text FROM readings ORDER BY id`,
    );
    expect(target).toEqual([
      {
        id: IDS[0],
        b: '-9007199254740993',
        bu: '18446744073709551615',
        dec30: '12345678901234567890.0123456789',
      },
      { id: IDS[1], b: '9007199254740993', bu: '9007199254740993', dec30: '-0.0000000001' },
      { id: IDS[2], b: null, bu: null, dec30: null },
    ]);
  });

  it('reads text as its UTF-8 bytes when asked (ReadHints.utf8Bytes), converting other character sets', async () => {
    await fx.mysql.query(`
      CREATE TABLE texts (
        k VARCHAR(10) PRIMARY KEY, u TEXT, l VARCHAR(10) CHARACTER SET latin1, e ENUM('é', 'b'),
        j JSON, c CHAR(4)
      );
      INSERT INTO texts VALUES ('é1', 'tab\\there 😀', 'café', 'é', '{"a": "é"}', 'ab  '),
        ('k2', NULL, NULL, NULL, NULL, NULL);
    `);
    const texts = await source.describeTable({ schema: fx.mysql.name, name: 'texts' });
    const names = texts.columns.map((c) => c.name);
    const read: Row[] = [];
    for await (const chunk of source.readRows(texts, names, ['k'], null, undefined, {
      utf8Bytes: new Set(['u', 'l', 'e', 'j', 'c']),
    }))
      read.push(...chunk);
    const [first, second] = read;
    // The key stays a string; every asked column arrives as the UTF-8 bytes of its text.
    expect(first![0]).toBe('é1');
    expect(first!.slice(1).map((v) => Buffer.isBuffer(v))).toEqual([true, true, true, true, true]);
    expect(first!.slice(1).map((v) => (v as Buffer).toString('utf8'))).toEqual([
      'tab\there 😀', // MariaDB read \t in the literal as a tab
      'café',
      'é',
      '{"a": "é"}',
      'ab',
    ]);
    expect((first![2] as Buffer).toString('hex')).toBe('636166c3a9');
    expect(second).toEqual(['k2', null, null, null, null, null]);
  });

  it('keeps DATETIME(6) microseconds', async () => {
    expect(rowOf(IDS[0]!)[column('dt6')]).toBe('2024-02-29 23:59:59.999999');
    expect(rowOf(IDS[1]!)[column('dt6')]).toBe('1000-01-01 00:00:00.000001');
    const { rows: target } = await fx.pg.query(`SELECT dt6::text AS v FROM readings ORDER BY id`);
    expect(target.map((r: { v: string | null }) => r.v)).toEqual([
      '2024-02-29 23:59:59.999999',
      '1000-01-01 00:00:00.000001',
      null,
    ]);
  });

  it('reads JSON as its text, so numbers beyond 2^53 and trailing zeros survive', async () => {
    expect(rowOf(IDS[0]!)[column('j')]).toBe(JSON_DOC);
    expect(rowOf(IDS[1]!)[column('j')]).toBe('[9007199254740993]');
    const { rows: target } = await fx.pg.query(
      `SELECT (j->'n')::text AS n, (j->'x')::text AS x, (j->'tiny')::text AS tiny FROM readings WHERE j IS NOT NULL AND jsonb_typeof(j) = 'object'`,
    );
    expect(target).toEqual([
      { n: '12345678901234567890', x: '1.50', tiny: '1.0000000000000000000001' },
    ]);
    expect(await fx.pgValue(`SELECT j::text FROM readings WHERE id = $1`, [IDS[1]])).toBe(
      '[9007199254740993]',
    );
  });

  it('reads FLOAT as the exact binary32 value MariaDB stored, not its 6-digit text nor a different double', async () => {
    const f = rows.map((r) => r[column('f')]);
    for (const v of f) {
      expect(typeof v).toBe('number');
      expect(Math.fround(v as number)).toBe(v);
    }
    expect(f).toEqual([Math.fround(3.14), Math.fround(3.1415927), 16777216]);
    expect(rowOf(IDS[1]!)[column('d')]).toBe(0.30000000000000004);
    const { rows: target } = await fx.pg.query(
      `SELECT f::text AS f, d::text AS d FROM readings ORDER BY id`,
    );
    expect(target).toEqual([
      { f: '3.14', d: '0.1' },
      { f: '3.1415927', d: '0.30000000000000004' },
      { f: '1.6777216e+07', d: null },
    ]);
  });

  it("reads TIMESTAMP in UTC whatever the server's global and the inserting session's time zones are", async () => {
    // Inserted under +09:00: 2024-02-29 23:59:59.999999 +09:00 is 14:59:59.999999 UTC.
    expect(rowOf(IDS[0]!)[column('ts6')]).toBe('2024-02-29 14:59:59.999999');
    expect(rowOf(IDS[1]!)[column('ts6')]).toBe('1970-01-01 00:00:01.000001');

    const [[{ tz }]] = (await fx.mysql.conn.query(
      `SELECT @@global.time_zone AS tz`,
    )) as unknown as [[{ tz: string }]];
    await fx.mysql.conn.query(`SET GLOBAL time_zone = '-07:00'`);
    let fresh: MysqlSource | null = null;
    try {
      // A plain new connection now sees the instants in -07:00 ...
      const plain = await mysql.createConnection({
        ...SERVICES.mysql,
        database: fx.mysql.name,
        dateStrings: true,
      });
      const [seen] = (await plain.query(
        `SELECT CAST(ts6 AS CHAR) AS v FROM readings WHERE id = ${IDS[0]}`,
      )) as unknown as [[{ v: string }]];
      await plain.end();
      expect(seen[0].v).toBe('2024-02-29 07:59:59.999999');
      // ... while a new source (new connections) still reads UTC, and so does a migration.
      fresh = new MysqlSource(
        parseConnectionUrl(fx.mysql.url) as ConstructorParameters<typeof MysqlSource>[0],
        { poolSize: 1 },
      );
      const read: Row[] = [];
      for await (const chunk of fresh.readRows(table, ['id', 'ts6'], ['id'], null))
        read.push(...chunk);
      expect(read.map((r) => r[1])).toEqual([
        '2024-02-29 14:59:59.999999',
        '1970-01-01 00:00:01.000001',
        null,
      ]);
      await fx.pg.query(`DROP TABLE readings`);
      const again = await fx.migrate();
      expect(again.status).toBe('completed');
      expect(again.table('readings').validation).toBe('passed');
    } finally {
      await fresh?.close();
      await fx.mysql.conn.query(`SET GLOBAL time_zone = ?`, [tz]);
    }
    const { rows: target } = await fx.pg.query(`SELECT ts6::text AS v FROM readings ORDER BY id`);
    expect(target.map((r: { v: string | null }) => r.v)).toEqual([
      '2024-02-29 14:59:59.999999+00',
      '1970-01-01 00:00:01.000001+00',
      null,
    ]);
    expect(
      await fx.pgValue(
        `SELECT ts6 = '2024-02-29 23:59:59.999999+09:00'::timestamptz FROM readings WHERE id = $1`,
        [IDS[0]],
      ),
    ).toBe(true);
  });
});

describe.skipIf(!up)('the data probe of a large table, scanned in key ranges at once', () => {
  let fx: Fixture;
  let source: MysqlSource;
  const N = 120_000;
  const DIGITS = `(${Array.from({ length: 10 }, (_, i) => `SELECT ${i} AS i`).join(' UNION ALL ')})`;

  beforeAll(async () => {
    fx = await openFixture('ftprobe');
    await fx.mysql.query(`
      CREATE TABLE flags (id INT PRIMARY KEY, f TINYINT(1), g TINYINT(1), e ENUM('a','b'), h ENUM('a','b'));
      INSERT INTO flags
        SELECT n * 3, n % 2, n % 2, IF(n % 3 = 0, 'a', 'b'), 'a' FROM (
          SELECT 1 + a.i + 10 * b.i + 100 * c.i + 1000 * d.i + 10000 * e.i + 100000 * f.i AS n
          FROM ${DIGITS} a, ${DIGITS} b, ${DIGITS} c, ${DIGITS} d, ${DIGITS} e, ${DIGITS} f
        ) s WHERE n <= ${N};
      SET SESSION sql_mode = '';
      -- Each stray value sits in a different part of the key range: the last row, the middle, the first.
      UPDATE flags SET f = 2 WHERE id = ${N * 3};
      UPDATE flags SET e = 'zzz' WHERE id = ${(N / 2) * 3};
      UPDATE flags SET g = NULL WHERE id = 3;
      ANALYZE TABLE flags;
    `);
    source = new MysqlSource(
      parseConnectionUrl(fx.mysql.url) as ConstructorParameters<typeof MysqlSource>[0],
      { poolSize: 4 },
    );
  }, 60_000);

  afterAll(async () => {
    await source?.close();
    await fx?.cleanup();
  });

  it('finds a value that breaks a type decision wherever it lies, and finds none where there is none', async () => {
    const table = await source.describeTable({ schema: fx.mysql.name, name: 'flags' });
    expect(table.estimatedRows).toBeGreaterThanOrEqual(100_000);
    const results = await source.probe(table, [
      { kind: 'only-01', column: 'f' },
      { kind: 'only-01', column: 'g' },
      { kind: 'has-empty', column: 'e' },
      { kind: 'has-empty', column: 'h' },
      { kind: 'max', column: 'id' },
    ]);
    // f has a 2 in its last row; g only 0, 1 and NULL; e has the error value '' in the middle; h none.
    expect(results).toEqual([false, true, true, false, String(N * 3)]);
  });

  it('streams a large range with backpressure, and lets a reader stop early or be aborted', async () => {
    const table = await source.describeTable({ schema: fx.mysql.name, name: 'flags' });
    const read = async (signal?: AbortSignal, stopAfter = Infinity) => {
      let rows = 0;
      let chunks = 0;
      let last = 0;
      for await (const chunk of source.readRows(table, ['id'], ['id'], null, signal)) {
        // A slow consumer: the connection is paused while a chunk waits.
        await new Promise((r) => setImmediate(r));
        for (const [id] of chunk) {
          expect(Number(id)).toBeGreaterThan(last);
          last = Number(id);
        }
        rows += chunk.length;
        if (++chunks >= stopAfter) break;
      }
      return rows;
    };
    expect(await read()).toBe(N);
    // Leaving after one chunk discards that connection; the pool goes on serving reads.
    expect(await read(undefined, 1)).toBeLessThan(N);
    const controller = new AbortController();
    const aborted = read(controller.signal);
    setTimeout(() => controller.abort(), 20);
    await expect(aborted).rejects.toThrow(/abort/i);
    for (let i = 0; i < 5; i++) expect(await read(undefined, 2)).toBeGreaterThan(0);
    expect(await source.countRows(table)).toBe(N);
  });
});
