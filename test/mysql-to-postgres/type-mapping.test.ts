import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasService } from '../helpers/services.js';
import { openFixture, type Fixture, type Migration } from './fixture.js';

/**
 * MYSQL_TO_POSTGRES.md, "Default type mapping": one test per row, each against a real MariaDB
 * table migrated by a real job into a real PostgreSQL schema, then read back with SQL.
 */

const up = (await hasService('mysql')) && (await hasService('postgres'));

const SCHEMA = `
CREATE TABLE ints (
  id INT PRIMARY KEY,
  t TINYINT, tu TINYINT UNSIGNED, s SMALLINT, su SMALLINT UNSIGNED,
  m MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, i3u INT(3) UNSIGNED,
  b BIGINT, bu BIGINT UNSIGNED, y YEAR
);
INSERT INTO ints VALUES
  (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, 0, -9223372036854775808, 0, 1901),
  (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 4294967295, 9223372036854775807, 18446744073709551615, 2155),
  (3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9007199254740993, 9007199254740993, 0),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE flags (
  id INT PRIMARY KEY, ok TINYINT(1), yes BOOL, odd TINYINT(1), on_by_default TINYINT(1) NOT NULL DEFAULT 1
);
INSERT INTO flags VALUES (1, 0, 1, 0, 0), (2, 1, 0, 2, 1), (3, NULL, NULL, 1, 1);

CREATE TABLE ai_counter (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10)) AUTO_INCREMENT = 1000;
INSERT INTO ai_counter VALUES (1, 'a'), (2, 'b'), (3, 'c');
CREATE TABLE ai_max (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10));
INSERT INTO ai_max VALUES (5, 'a'), (42, 'b');
CREATE TABLE ai_empty (id SMALLINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10)) AUTO_INCREMENT = 500;
CREATE TABLE ai_big (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10));
INSERT INTO ai_big (v) VALUES ('a'), ('b');
CREATE TABLE ai_huge (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10));
INSERT INTO ai_huge VALUES (18446744073709551614, 'top'), (1, 'low');
CREATE TABLE ai_far (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10)) AUTO_INCREMENT = 10000000000000000000;
INSERT INTO ai_far (id, v) VALUES (1, 'low');

CREATE TABLE fk_parent (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(10));
INSERT INTO fk_parent (name) VALUES ('p1'), ('p2');
CREATE TABLE fk_child (
  id INT PRIMARY KEY, parent_id BIGINT UNSIGNED,
  CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES fk_parent (id) ON DELETE CASCADE
);
INSERT INTO fk_child VALUES (1, 1), (2, 2), (3, NULL);

CREATE TABLE decimals (id INT PRIMARY KEY, d38 DECIMAL(38,10), d52 DECIMAL(5,2), d65 DECIMAL(65,30), d10 DECIMAL(10,0));
INSERT INTO decimals VALUES
  (1, 1234567890123456789012345678.0123456789, 1.50, 12345678901234567890123456789012345.123456789012345678901234567890, 9999999999),
  (2, -9999999999999999999999999999.9999999999, -999.99, -0.000000000000000000000000000001, -9999999999),
  (3, 0, 0, 0, 0);

CREATE TABLE floats (id INT PRIMARY KEY, f FLOAT, d DOUBLE);
INSERT INTO floats VALUES (1, 16777217, 0.30000000000000004), (2, 3.1415927, 1.2345678901234567e300),
  (3, 0.1, -0e0), (4, -3.4028234e38, 2.2250738585072014e-308), (5, NULL, NULL);

CREATE TABLE bits (id INT PRIMARY KEY, b1 BIT(1), b10 BIT(10), b64 BIT(64));
INSERT INTO bits VALUES (1, b'1', b'101', b'1111111111111111111111111111111111111111111111111111111111111111'),
  (2, b'0', b'1000000000', b'0'), (3, NULL, NULL, NULL);

CREATE TABLE strings (
  id INT PRIMARY KEY, c CHAR(10), v VARCHAR(10), tt TINYTEXT, t TEXT, mt MEDIUMTEXT, lt LONGTEXT,
  l1 VARCHAR(5) CHARACTER SET latin1
);

CREATE TABLE nul_text (id INT PRIMARY KEY, t TEXT);

CREATE TABLE binaries (id INT PRIMARY KEY, bn BINARY(4), vb VARBINARY(10), tb TINYBLOB, bb BLOB, mb MEDIUMBLOB, lb LONGBLOB);

CREATE TABLE enums (id INT PRIMARY KEY, e ENUM('small', 'it''s', 'large'), clean ENUM('a', 'b') NOT NULL);
INSERT INTO enums VALUES (1, 'small', 'a'), (2, 'it''s', 'b'), (3, 'bogus', 'a'), (4, NULL, 'b');

CREATE TABLE sets (id INT PRIMARY KEY, s SET('read', 'write', 'admin'));
INSERT INTO sets VALUES (1, 'read,admin'), (2, ''), (3, NULL), (4, 'write');

CREATE TABLE dates (id INT PRIMARY KEY, d DATE, d_nn DATE NOT NULL DEFAULT '0000-00-00', dt DATETIME NULL);
INSERT INTO dates VALUES
  (1, '2020-02-29', '1000-01-01', '2020-01-01 10:00:00'),
  (2, '0000-00-00', '0000-00-00', '0000-00-00 00:00:00'),
  (3, '2020-00-15', '2020-01-00', '2020-00-00 10:00:00'),
  (4, '2020-02-30', '9999-12-31', '2021-02-29 10:00:00');

CREATE TABLE times (
  id INT PRIMARY KEY, dt0 DATETIME, dt3 DATETIME(3), dt6 DATETIME(6), ts6 TIMESTAMP(6) NULL, ts0 TIMESTAMP NULL,
  t0 TIME, t6 TIME(6)
);

CREATE TABLE durations (id INT PRIMARY KEY, d TIME, d6 TIME(6));
INSERT INTO durations VALUES (1, '-838:59:59', '838:59:59.000000'), (2, '25:00:00', '-00:00:01.5'), (3, '12:00:00', '00:00:00');

CREATE TABLE docs (id INT PRIMARY KEY, j JSON, plain LONGTEXT);

CREATE TABLE shapes (id INT PRIMARY KEY, g GEOMETRY, p POINT NOT NULL, SPATIAL INDEX shapes_p (p));
INSERT INTO shapes VALUES
  (1, ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))'), ST_GeomFromText('POINT(1.5 -2.25)')),
  (2, NULL, POINT(0, 0));

CREATE TABLE computed (
  id INT PRIMARY KEY, a INT, b INT,
  total INT AS (a + b) STORED,
  label VARCHAR(30) AS (CONCAT(a, '-', b)) VIRTUAL,
  KEY computed_total (total),
  KEY computed_label (label)
);
INSERT INTO computed (id, a, b) VALUES (1, 2, 3), (2, 10, NULL);

CREATE TABLE stamps (
  id INT PRIMARY KEY,
  note VARCHAR(20) DEFAULT 'it''s',
  path VARCHAR(20) DEFAULT 'C:\\\\dir\\tx',
  qty INT NOT NULL DEFAULT 5,
  created DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  zero DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00'
);
INSERT INTO stamps VALUES (1, 'x', 'p', 1, '2020-01-01 00:00:00.000', '2020-01-01 00:00:00', '2020-01-01 00:00:00');

CREATE TABLE UserAccounts (id INT PRIMARY KEY, UserName VARCHAR(20), KEY UserName_Index (UserName));
INSERT INTO UserAccounts VALUES (1, 'alice');
CREATE TABLE \`user\` (id INT PRIMARY KEY, \`order\` INT, \`select\` VARCHAR(5));
INSERT INTO \`user\` VALUES (1, 7, 'x');
CREATE TABLE \`${'T'.repeat(64)}\` (id INT PRIMARY KEY, \`${'é'.repeat(40)}\` INT);
INSERT INTO \`${'T'.repeat(64)}\` VALUES (1, 2);
`;

const EMOJI10 = '😀'.repeat(10);

describe.skipIf(!up)('MySQL → PostgreSQL type mapping', () => {
  let fx: Fixture;
  let m: Migration;

  /** `column::text` of every row of a PostgreSQL table, by id. */
  const texts = async (table: string, column: string): Promise<Record<string, string | null>> => {
    const { rows } = await fx.pg.query(
      `SELECT id::text AS id, (${column})::text AS v FROM ${table} ORDER BY ${table}.id`,
    );
    return Object.fromEntries(rows.map((r: { id: string; v: string | null }) => [r.id, r.v]));
  };
  const isNullable = async (table: string, column: string) =>
    fx.pgValue(
      `SELECT is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3`,
      [fx.pg.name, table, column],
    );
  const checkDef = async (table: string) => {
    const { rows } = await fx.pg.query(
      `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'c' ORDER BY conname`,
      [`"${fx.pg.name}"."${table}"`],
    );
    return rows.map((r: { def: string }) => r.def);
  };
  /** The SQLSTATE PostgreSQL rejects `sql` with, or null when it accepts it (rolled back either way). */
  const pgRejects = async (sql: string) => {
    await fx.pg.query('BEGIN');
    try {
      await fx.pg.query(sql);
      return null;
    } catch (error) {
      return (error as { code?: string }).code ?? 'error';
    } finally {
      await fx.pg.query('ROLLBACK');
    }
  };

  beforeAll(async () => {
    fx = await openFixture('ftmap');
    const q = fx.mysql.query;
    // Legacy data: invalid dates and the ENUM error value need a lenient session.
    await q(`SET SESSION sql_mode = 'ALLOW_INVALID_DATES'`);
    await q(SCHEMA);
    await q('INSERT INTO strings VALUES ?', [
      [
        [1, EMOJI10, EMOJI10, 'tiny', 'text', 'medium', 'long', 'café'],
        [2, 'abc', 'é', '', 'tab\there', 'x'.repeat(70_000), '𝄞 clef', 'ÿ'],
        [3, null, null, null, null, null, null, null],
      ],
    ]);
    await q('INSERT INTO nul_text VALUES ?', [
      [
        [1, 'before'],
        [2, 'a\u0000b'],
        [3, 'after'],
      ],
    ]);
    await q('INSERT INTO binaries VALUES ?', [
      [
        [
          1,
          Buffer.from('ab'),
          Buffer.from([0, 0xff, 0]),
          Buffer.from([0]),
          Buffer.from([0x5c, 0x0a, 0x0d, 0x09, 0x00]),
          Buffer.alloc(70_000, 7),
          Buffer.from('\\N'),
        ],
        [
          2,
          Buffer.alloc(4),
          Buffer.alloc(0),
          Buffer.alloc(0),
          Buffer.from([0x00, 0x00]),
          Buffer.from([0xde, 0xad, 0xbe, 0xef]),
          Buffer.alloc(0),
        ],
        [3, null, null, null, null, null, null],
      ],
    ]);
    await q(`SET time_zone = '+05:30'`);
    await q('INSERT INTO times VALUES ?', [
      [
        [
          1,
          '2021-03-04 05:06:07',
          '2021-03-04 05:06:07.123',
          '2021-03-04 05:06:07.123456',
          '2021-06-01 12:00:00.500001',
          '2038-01-19 08:44:07',
          '12:34:56',
          '23:59:59.999999',
        ],
        [
          2,
          '1000-01-01 00:00:00',
          '9999-12-31 23:59:59.999',
          '2000-01-01 00:00:00.000001',
          '1970-01-01 05:30:01',
          '2000-02-29 00:00:00',
          '00:00:00',
          '00:00:00.000001',
        ],
      ],
    ]);
    await q(`SET time_zone = '+00:00'`);
    await q('INSERT INTO docs VALUES ?', [
      [
        [
          1,
          '{"big": 12345678901234567890, "price": 1.50, "nested": [1, {"x": null}], "s": "é\\n"}',
          '{"not": "json-checked"}',
        ],
        [2, '{"bad": "a\\u0000b"}', 'fine'],
        [3, '[]', 'also fine'],
        [4, null, null],
        // Valid JSON for MariaDB, beyond jsonb's numeric range: PostgreSQL rejects it (isolated by bisection).
        [5, '{"n": 1e200000}', 'overflow'],
      ],
    ]);
    await q(`SET SESSION sql_mode = DEFAULT`);
    m = await fx.migrate();
  });

  afterAll(async () => {
    await fx?.cleanup();
  });

  it('finishes with only the expected record errors, and every table passes checksum validation', () => {
    // The batches holding a failed record (nul_text, docs) are marked failed; no index, identity,
    // trigger, generated column or foreign key failed (those would be listed after the counts).
    expect(m.error?.message).toMatch(/^2 of \d+ batch\(es\) failed; 3 record\(s\) failed$/);
    expect(m.status).toBe('completed_with_errors');
    const failed = m.logs
      .filter((l) => l.status === 'failed')
      .map((l) => `${l.table.split('.')[1]}:${l.recordId}`);
    expect(failed.sort()).toEqual(['docs:2', 'docs:5', 'nul_text:2']);
    for (const t of m.tables)
      expect({ table: t.name, validation: t.validation }).toEqual({
        table: t.name,
        validation: 'passed',
      });
  });

  it('TINYINT, TINYINT UNSIGNED and SMALLINT become smallint', async () => {
    const types = await fx.pgTypes('ints');
    expect([types.t, types.tu, types.s]).toEqual(['smallint', 'smallint', 'smallint']);
    expect(await texts('ints', 't')).toEqual({ 1: '-128', 2: '127', 3: '0', 4: null });
    expect(await texts('ints', 'tu')).toEqual({ 1: '0', 2: '255', 3: '1', 4: null });
    expect(await texts('ints', 's')).toEqual({ 1: '-32768', 2: '32767', 3: '2', 4: null });
  });

  it('TINYINT(1) and BOOL become boolean when the data holds only 0, 1 and NULL', async () => {
    const types = await fx.pgTypes('flags');
    expect([types.ok, types.yes, types.on_by_default]).toEqual(['boolean', 'boolean', 'boolean']);
    expect(await texts('flags', 'ok')).toEqual({ 1: 'false', 2: 'true', 3: null });
    expect(await texts('flags', 'yes')).toEqual({ 1: 'true', 2: 'false', 3: null });
    // The default 1 follows the column to boolean.
    await fx.pg.query(`INSERT INTO flags (id) VALUES (100)`);
    expect(await fx.pgValue(`SELECT on_by_default::text FROM flags WHERE id = 100`)).toBe('true');
    await fx.pg.query(`DELETE FROM flags WHERE id = 100`);
  });

  it('TINYINT(1) holding 2 stays smallint, so 2 never turns into true', async () => {
    expect((await fx.pgTypes('flags')).odd).toBe('smallint');
    expect(await texts('flags', 'odd')).toEqual({ 1: '0', 2: '2', 3: '1' });
    expect(m.table('flags').notes.some((n) => n.startsWith('odd:') && /TINYINT\(1\)/.test(n))).toBe(
      true,
    );
  });

  it('SMALLINT UNSIGNED, MEDIUMINT (±UNSIGNED) and INT become integer', async () => {
    const types = await fx.pgTypes('ints');
    expect([types.su, types.m, types.mu, types.i]).toEqual([
      'integer',
      'integer',
      'integer',
      'integer',
    ]);
    expect(await texts('ints', 'su')).toEqual({ 1: '0', 2: '65535', 3: '3', 4: null });
    expect(await texts('ints', 'm')).toEqual({ 1: '-8388608', 2: '8388607', 3: '4', 4: null });
    expect(await texts('ints', 'mu')).toEqual({ 1: '0', 2: '16777215', 3: '5', 4: null });
    expect(await texts('ints', 'i')).toEqual({
      1: '-2147483648',
      2: '2147483647',
      3: '6',
      4: null,
    });
  });

  it('INT UNSIGNED becomes bigint by storage type, whatever the display width', async () => {
    const types = await fx.pgTypes('ints');
    expect([types.iu, types.i3u]).toEqual(['bigint', 'bigint']);
    expect(await texts('ints', 'iu')).toEqual({ 1: '0', 2: '4294967295', 3: '7', 4: null });
    expect(await texts('ints', 'i3u')).toEqual({ 1: '0', 2: '4294967295', 3: '8', 4: null });
  });

  it('BIGINT becomes bigint with every digit kept', async () => {
    expect((await fx.pgTypes('ints')).b).toBe('bigint');
    expect(await texts('ints', 'b')).toEqual({
      1: '-9223372036854775808',
      2: '9223372036854775807',
      3: '9007199254740993',
      4: null,
    });
  });

  it('BIGINT UNSIGNED becomes numeric(20,0) with its maximum exact', async () => {
    expect((await fx.pgTypes('ints')).bu).toBe('numeric(20,0)');
    expect(await texts('ints', 'bu')).toEqual({
      1: '0',
      2: '18446744073709551615',
      3: '9007199254740993',
      4: null,
    });
  });

  it('AUTO_INCREMENT becomes an identity whose next value is max(AUTO_INCREMENT, max(id) + 1)', async () => {
    const identity = async (table: string) =>
      fx.pgValue(
        `SELECT identity_generation FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = 'id'`,
        [fx.pg.name, table],
      );
    for (const table of ['ai_counter', 'ai_max', 'ai_empty'])
      expect(await identity(table)).toBe('BY DEFAULT');
    expect(await texts('ai_counter', 'id')).toEqual({ 1: '1', 2: '2', 3: '3' });
    // The source counter (1000) is ahead of the data: it wins.
    expect(await fx.pgValue(`INSERT INTO ai_counter (v) VALUES ('new') RETURNING id::text`)).toBe(
      '1000',
    );
    // Explicit ids pushed the counter to 43 = max(id) + 1.
    expect(await fx.pgValue(`INSERT INTO ai_max (v) VALUES ('new') RETURNING id::text`)).toBe('43');
    // An empty table keeps the source's counter.
    expect((await fx.pgTypes('ai_empty')).id).toBe('smallint');
    expect(await fx.pgValue(`INSERT INTO ai_empty (v) VALUES ('new') RETURNING id::text`)).toBe(
      '500',
    );
  });

  it('BIGINT UNSIGNED AUTO_INCREMENT becomes a bigint identity when every value fits, else numeric(20,0) without identity', async () => {
    expect((await fx.pgTypes('ai_big')).id).toBe('bigint');
    expect(await fx.pgValue(`INSERT INTO ai_big (v) VALUES ('c') RETURNING id::text`)).toBe('3');
    expect(
      m
        .table('ai_big')
        .notes.some((n) => /BIGINT UNSIGNED AUTO_INCREMENT → bigint identity/.test(n)),
    ).toBe(true);

    expect((await fx.pgTypes('ai_huge')).id).toBe('numeric(20,0)');
    expect(await texts('ai_huge', 'id')).toEqual({
      1: '1',
      '18446744073709551614': '18446744073709551614',
    });
    expect(
      m
        .table('ai_huge')
        .notes.some((n) =>
          /^id: BIGINT UNSIGNED AUTO_INCREMENT holds values beyond bigint/.test(n),
        ),
    ).toBe(true);

    // The data fits, but the counter it must go on from does not.
    expect((await fx.pgTypes('ai_far')).id).toBe('numeric(20,0)');
    expect(await texts('ai_far', 'id')).toEqual({ 1: '1' });
    expect(
      m
        .table('ai_far')
        .notes.some((n) =>
          /^id: BIGINT UNSIGNED AUTO_INCREMENT counts from 10000000000000000000 beyond bigint/.test(
            n,
          ),
        ),
    ).toBe(true);
    const identities = await fx.pg.query(
      `SELECT table_name, is_identity FROM information_schema.columns WHERE table_schema = $1 AND table_name IN ('ai_huge', 'ai_far') AND column_name = 'id' ORDER BY 1`,
      [fx.pg.name],
    );
    expect(identities.rows).toEqual([
      { table_name: 'ai_far', is_identity: 'NO' },
      { table_name: 'ai_huge', is_identity: 'NO' },
    ]);
  });

  it('types both ends of a foreign key alike and recreates the foreign key', async () => {
    expect((await fx.pgTypes('fk_parent')).id).toBe('bigint');
    expect((await fx.pgTypes('fk_child')).parent_id).toBe('bigint');
    expect(await texts('fk_child', 'parent_id')).toEqual({ 1: '1', 2: '2', 3: null });
    const def = await fx.pgValue(
      `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'f'`,
      [`"${fx.pg.name}".fk_child`],
    );
    expect(def).toMatch(
      /^FOREIGN KEY \(parent_id\) REFERENCES .*fk_parent\(id\) ON UPDATE RESTRICT ON DELETE CASCADE$/,
    );
    expect(
      m.table('fk_child').notes.some((n) => /parent_id: typed int64 like fk_parent\.id/.test(n)),
    ).toBe(true);
  });

  it('DECIMAL(p,s) becomes numeric(p,s) with every digit kept', async () => {
    const types = await fx.pgTypes('decimals');
    expect([types.d38, types.d52, types.d65, types.d10]).toEqual([
      'numeric(38,10)',
      'numeric(5,2)',
      'numeric(65,30)',
      'numeric(10,0)',
    ]);
    expect(await texts('decimals', 'd38')).toEqual({
      1: '1234567890123456789012345678.0123456789',
      2: '-9999999999999999999999999999.9999999999',
      3: '0.0000000000',
    });
    expect(await texts('decimals', 'd52')).toEqual({ 1: '1.50', 2: '-999.99', 3: '0.00' });
    expect(await texts('decimals', 'd65')).toEqual({
      1: '12345678901234567890123456789012345.123456789012345678901234567890',
      2: '-0.000000000000000000000000000001',
      3: '0.000000000000000000000000000000',
    });
    expect(await texts('decimals', 'd10')).toEqual({ 1: '9999999999', 2: '-9999999999', 3: '0' });
  });

  it('FLOAT becomes real and DOUBLE double precision, each value the same binary number', async () => {
    const types = await fx.pgTypes('floats');
    expect([types.f, types.d]).toEqual(['real', 'double precision']);
    // FLOAT keeps what MariaDB stored: 16777217 is stored as 16777216, -3.4028234e38 as -FLT_MAX.
    expect(await texts('floats', 'f')).toEqual({
      1: '1.6777216e+07',
      2: '3.1415927',
      3: '0.1',
      4: '-3.4028235e+38',
      5: null,
    });
    // The same binary32 values: widened to double on both sides, they print alike.
    const source = (await fx.mysql.query(
      `SELECT id, f + 0 AS f FROM floats ORDER BY id`,
    )) as Array<{ id: number; f: number | null }>;
    expect(await texts('floats', 'f::float8')).toEqual(
      Object.fromEntries(source.map((r) => [r.id, r.f === null ? null : String(r.f)])),
    );
    expect(await texts('floats', 'd')).toEqual({
      1: '0.30000000000000004',
      2: '1.2345678901234567e+300',
      // MariaDB stores -0e0 as +0 (atan2 below): PostgreSQL holds the same 0.
      3: '0',
      4: '2.2250738585072014e-308',
      5: null,
    });
    const [sourceSign] = (await fx.mysql.query(
      `SELECT ATAN2(d, -1) > 0 AS positive FROM floats WHERE id = 3`,
    )) as Array<{ positive: number }>;
    expect(sourceSign!.positive).toBe(1);
    expect(await fx.pgValue(`SELECT atan2(d, -1) > 0 FROM floats WHERE id = 3`)).toBe(true);
  });

  it('BIT(1) becomes boolean and BIT(n) becomes bit(n), left-padded to n bits', async () => {
    const types = await fx.pgTypes('bits');
    expect([types.b1, types.b10, types.b64]).toEqual(['boolean', 'bit(10)', 'bit(64)']);
    expect(await texts('bits', 'b1')).toEqual({ 1: 'true', 2: 'false', 3: null });
    expect(await texts('bits', 'b10')).toEqual({ 1: '0000000101', 2: '1000000000', 3: null });
    expect(await texts('bits', 'b64')).toEqual({ 1: '1'.repeat(64), 2: '0'.repeat(64), 3: null });
  });

  it('CHAR(n) and VARCHAR(n) become varchar(n), lengths counted in characters', async () => {
    const types = await fx.pgTypes('strings');
    expect([types.c, types.v]).toEqual(['character varying(10)', 'character varying(10)']);
    expect(await texts('strings', 'c')).toEqual({ 1: EMOJI10, 2: 'abc', 3: null });
    expect(await texts('strings', 'v')).toEqual({ 1: EMOJI10, 2: 'é', 3: null });
    expect(await fx.pgValue(`SELECT char_length(v) FROM strings WHERE id = 1`)).toBe(10);
  });

  it('TINYTEXT … LONGTEXT become text', async () => {
    const types = await fx.pgTypes('strings');
    expect([types.tt, types.t, types.mt, types.lt]).toEqual(['text', 'text', 'text', 'text']);
    expect(types.l1).toBe('character varying(5)');
    expect(await texts('strings', 'l1')).toEqual({ 1: 'café', 2: 'ÿ', 3: null });
    expect(await texts('strings', 'tt')).toEqual({ 1: 'tiny', 2: '', 3: null });
    expect(await texts('strings', 't')).toEqual({ 1: 'text', 2: 'tab\there', 3: null });
    expect(await texts('strings', 'md5(mt)')).toEqual({
      1: md5('medium'),
      2: md5('x'.repeat(70_000)),
      3: null,
    });
    expect(await texts('strings', 'lt')).toEqual({ 1: 'long', 2: '𝄞 clef', 3: null });
  });

  it('a NUL byte in text is a record error: the row is logged with its key and the others are copied', async () => {
    expect(await texts('nul_text', 't')).toEqual({ 1: 'before', 3: 'after' });
    const logs = m.logsOf('nul_text');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ recordId: '2', status: 'failed', errorCode: 'DATA_ERROR' });
    expect(logs[0]!.errorMessage).toMatch(/column t: .*NUL byte/);
    expect(await fx.store.failedRecordIds(m.jobId, `${fx.mysql.name}.nul_text`)).toEqual(['2']);
  });

  it('BINARY, VARBINARY and BLOBs become bytea, byte for byte (NUL bytes and BINARY padding included)', async () => {
    const types = await fx.pgTypes('binaries');
    expect(Object.values(types).slice(1)).toEqual([
      'bytea',
      'bytea',
      'bytea',
      'bytea',
      'bytea',
      'bytea',
    ]);
    expect(await texts('binaries', `encode(bn, 'hex')`)).toEqual({
      1: '61620000',
      2: '00000000',
      3: null,
    });
    for (const column of ['bn', 'vb', 'tb', 'bb', 'mb', 'lb']) {
      const source = (await fx.mysql.query(
        `SELECT id, LOWER(HEX(${column})) AS v FROM binaries ORDER BY id`,
      )) as Array<{ id: number; v: string | null }>;
      const target = await texts('binaries', `encode(${column}, 'hex')`);
      expect({ column, values: target }).toEqual({
        column,
        values: Object.fromEntries(source.map((r) => [r.id, r.v])),
      });
    }
  });

  it("ENUM becomes text with a CHECK of its values, plus the error value '' when the data holds it", async () => {
    const types = await fx.pgTypes('enums');
    expect([types.e, types.clean]).toEqual(['text', 'text']);
    expect(await texts('enums', 'e')).toEqual({ 1: 'small', 2: "it's", 3: '', 4: null });
    const checks = await checkDef('enums');
    expect(checks).toHaveLength(2);
    expect(checks.find((c) => c.includes('clean'))).toMatch(/'a'::text, 'b'::text/);
    expect(checks.find((c) => c.includes('clean'))).not.toMatch(/''::text/);
    expect(checks.find((c) => !c.includes('clean'))).toMatch(
      /'small'::text, 'it''s'::text, 'large'::text, ''::text/,
    );
    expect(await pgRejects(`INSERT INTO enums VALUES (10, 'medium', 'a')`)).toBe('23514');
    expect(await pgRejects(`INSERT INTO enums VALUES (10, 'small', '')`)).toBe('23514');
  });

  it("SET becomes text[] with a subset CHECK, and '' becomes '{}'", async () => {
    expect((await fx.pgTypes('sets')).s).toBe('text[]');
    expect(await texts('sets', 's')).toEqual({ 1: '{read,admin}', 2: '{}', 3: null, 4: '{write}' });
    expect(await pgRejects(`INSERT INTO sets VALUES (10, '{read,root}')`)).toBe('23514');
    expect(await pgRejects(`INSERT INTO sets VALUES (10, '{write,read}')`)).toBeNull();
  });

  it('DATE becomes date; zero, partial and invalid dates become NULL with a warning logged per record', async () => {
    const types = await fx.pgTypes('dates');
    expect([types.d, types.d_nn, types.dt]).toEqual([
      'date',
      'date',
      'timestamp(0) without time zone',
    ]);
    expect(await texts('dates', 'd')).toEqual({ 1: '2020-02-29', 2: null, 3: null, 4: null });
    expect(await texts('dates', 'd_nn')).toEqual({
      1: '1000-01-01',
      2: null,
      3: null,
      4: '9999-12-31',
    });
    expect(await texts('dates', 'dt')).toEqual({
      1: '2020-01-01 10:00:00',
      2: null,
      3: null,
      4: null,
    });
    const logs = m.logsOf('dates');
    expect(logs.map((l) => [l.recordId, l.status, l.errorCode])).toEqual([
      ['2', 'warning', 'VALUE_POLICY'],
      ['3', 'warning', 'VALUE_POLICY'],
      ['4', 'warning', 'VALUE_POLICY'],
    ]);
    expect(logs[0]!.errorMessage).toMatch(
      /column d: zero date '0000-00-00', written as NULL \(policy\)/,
    );
    expect(logs[1]!.errorMessage).toMatch(/partial date '2020-00-15'/);
    expect(logs[2]!.errorMessage).toMatch(/invalid date '2020-02-30'/);
  });

  it("a NOT NULL DEFAULT '0000-00-00' column becomes nullable, without the default", async () => {
    expect(await isNullable('dates', 'd_nn')).toBe('YES');
    expect(
      await fx.pgValue(
        `SELECT column_default FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'dates' AND column_name = 'd_nn'`,
        [fx.pg.name],
      ),
    ).toBeNull();
    expect(
      m
        .table('dates')
        .notes.some((n) => /d_nn: zero-date default dropped and NOT NULL relaxed/.test(n)),
    ).toBe(true);
  });

  it('DATETIME(p) becomes timestamp(p) without time zone, naive and with its microseconds', async () => {
    const types = await fx.pgTypes('times');
    expect([types.dt0, types.dt3, types.dt6]).toEqual([
      'timestamp(0) without time zone',
      'timestamp(3) without time zone',
      'timestamp(6) without time zone',
    ]);
    // Inserted while the MariaDB session was at +05:30: a DATETIME does not move.
    expect(await texts('times', 'dt0')).toEqual({
      1: '2021-03-04 05:06:07',
      2: '1000-01-01 00:00:00',
    });
    expect(await texts('times', 'dt3')).toEqual({
      1: '2021-03-04 05:06:07.123',
      2: '9999-12-31 23:59:59.999',
    });
    expect(await texts('times', 'dt6')).toEqual({
      1: '2021-03-04 05:06:07.123456',
      2: '2000-01-01 00:00:00.000001',
    });
  });

  it('TIMESTAMP(p) becomes timestamptz(p) holding the same instant, whatever the inserting session time zone', async () => {
    const types = await fx.pgTypes('times');
    expect([types.ts6, types.ts0]).toEqual([
      'timestamp(6) with time zone',
      'timestamp(0) with time zone',
    ]);
    expect(await texts('times', 'ts6')).toEqual({
      1: '2021-06-01 06:30:00.500001+00',
      2: '1970-01-01 00:00:01+00',
    });
    expect(await texts('times', 'ts0')).toEqual({
      1: '2038-01-19 03:14:07+00',
      2: '2000-02-28 18:30:00+00',
    });
    expect(
      await fx.pgValue(
        `SELECT ts6 = '2021-06-01 12:00:00.500001+05:30'::timestamptz FROM times WHERE id = 1`,
      ),
    ).toBe(true);
    const [epochs] = (await fx.mysql.query(
      `SELECT UNIX_TIMESTAMP(ts6) AS e FROM times WHERE id = 1`,
    )) as Array<{ e: string }>;
    expect(await fx.pgValue(`SELECT extract(epoch FROM ts6)::text FROM times WHERE id = 1`)).toBe(
      String(epochs!.e),
    );
  });

  it('TIME(p) becomes time(p) while values stay within a day', async () => {
    const types = await fx.pgTypes('times');
    expect([types.t0, types.t6]).toEqual([
      'time(0) without time zone',
      'time(6) without time zone',
    ]);
    expect(await texts('times', 't0')).toEqual({ 1: '12:34:56', 2: '00:00:00' });
    expect(await texts('times', 't6')).toEqual({ 1: '23:59:59.999999', 2: '00:00:00.000001' });
  });

  it('TIME becomes interval when values leave 0–24 h, exact to ±838:59:59', async () => {
    const types = await fx.pgTypes('durations');
    expect([types.d, types.d6]).toEqual(['interval', 'interval']);
    expect(await texts('durations', 'd')).toEqual({
      1: '-838:59:59',
      2: '25:00:00',
      3: '12:00:00',
    });
    expect(await texts('durations', 'd6')).toEqual({
      1: '838:59:59',
      2: '-00:00:01.5',
      3: '00:00:00',
    });
    expect(await fx.pgValue(`SELECT extract(epoch FROM d)::text FROM durations WHERE id = 1`)).toBe(
      '-3020399.000000',
    );
    expect(m.table('durations').notes.some((n) => /d: TIME values leave 00:00–24:00/.test(n))).toBe(
      true,
    );
  });

  it('YEAR becomes smallint', async () => {
    expect((await fx.pgTypes('ints')).y).toBe('smallint');
    expect(await texts('ints', 'y')).toEqual({ 1: '1901', 2: '2155', 3: '0', 4: null });
  });

  it('JSON (MariaDB: LONGTEXT with a json_valid CHECK) becomes jsonb with big numbers exact', async () => {
    const types = await fx.pgTypes('docs');
    expect([types.j, types.plain]).toEqual(['jsonb', 'text']);
    expect(await fx.pgValue(`SELECT (j->'big')::text FROM docs WHERE id = 1`)).toBe(
      '12345678901234567890',
    );
    expect(await fx.pgValue(`SELECT (j->'price')::text FROM docs WHERE id = 1`)).toBe('1.50');
    expect(await fx.pgValue(`SELECT j->>'s' FROM docs WHERE id = 1`)).toBe('é\n');
    expect(
      await fx.pgValue(
        `SELECT j = '{"s": "é\\n", "big": 12345678901234567890, "price": 1.50, "nested": [1, {"x": null}]}'::jsonb FROM docs WHERE id = 1`,
      ),
    ).toBe(true);
    expect(await texts('docs', 'j')).toMatchObject({ 3: '[]', 4: null });
    expect(await texts('docs', 'plain')).toMatchObject({
      1: '{"not": "json-checked"}',
      3: 'also fine',
    });
  });

  it('\\u0000 inside JSON is a record error, logged with its key', async () => {
    expect(Object.keys(await texts('docs', 'j'))).toEqual(['1', '3', '4']);
    const logs = m.logsOf('docs');
    expect(logs.map((l) => [l.recordId, l.status, l.errorCode])).toEqual([
      ['2', 'failed', 'DATA_ERROR'],
      ['5', 'failed', 'DATA_ERROR'],
    ]);
    expect(logs[0]!.errorMessage).toMatch(/column j: JSON contains \\u0000/);
    // PostgreSQL's own error for the row it rejected.
    expect(logs[1]!.errorMessage).toMatch(/value overflows numeric format/);
  });

  it('GEOMETRY becomes bytea holding the WKB (ST_AsBinary) when PostGIS is absent', async () => {
    expect(
      await fx.pgValue(`SELECT count(*)::int FROM pg_extension WHERE extname = 'postgis'`),
    ).toBe(0);
    const types = await fx.pgTypes('shapes');
    expect([types.g, types.p]).toEqual(['bytea', 'bytea']);
    for (const column of ['g', 'p']) {
      const source = (await fx.mysql.query(
        `SELECT id, LOWER(HEX(ST_AsBinary(${column}))) AS v FROM shapes ORDER BY id`,
      )) as Array<{ id: number; v: string | null }>;
      expect(await texts('shapes', `encode(${column}, 'hex')`)).toEqual(
        Object.fromEntries(source.map((r) => [r.id, r.v])),
      );
    }
    expect(await texts('shapes', `encode(p, 'hex')`)).toMatchObject({
      1: '0101000000000000000000f83f00000000000002c0',
    });
    const notes = m.table('shapes').notes;
    expect(
      notes.some((n) =>
        /g: the target has no geometry type, so the column is bytes \(WKB\)/.test(n),
      ),
    ).toBe(true);
    expect(notes.some((n) => /SPATIAL index not carried/.test(n))).toBe(true);
  });

  it('generated columns are not copied, but recreated when the expression translates', async () => {
    const types = await fx.pgTypes('computed');
    expect(Object.keys(types)).toEqual(['id', 'a', 'b', 'total']);
    expect(
      await fx.pgValue(
        `SELECT attgenerated FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'total'`,
        [`"${fx.pg.name}".computed`],
      ),
    ).toBe('s');
    expect(await texts('computed', 'total')).toEqual({ 1: '5', 2: null });
    await fx.pg.query(`UPDATE computed SET a = 100 WHERE id = 1`);
    expect(await texts('computed', 'total')).toEqual({ 1: '103', 2: null });
    expect(
      m.table('computed').notes.some((n) => /^label: generated column not recreated/.test(n)),
    ).toBe(true);
  });

  it('indexes a recreated generated column, and leaves out (with a note) an index on one not recreated', async () => {
    const { rows } = await fx.pg.query(
      `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'computed' ORDER BY 1`,
      [fx.pg.name],
    );
    expect(rows.map((r: { indexname: string }) => r.indexname)).toEqual([
      'computed_computed_total',
      'computed_pkey',
    ]);
    expect(rows[0].indexdef).toMatch(/\(total\)$/);
    expect(m.table('computed').notes).toContain(
      'index computed_label not carried: column label is not on the target',
    );
    expect(m.table('computed').error).toBeNull();
  });

  it('CURRENT_TIMESTAMP(n) defaults become CURRENT_TIMESTAMP, literal defaults are kept and zero-date defaults dropped', async () => {
    const { rows } = await fx.pg.query(
      `SELECT column_name, column_default, is_nullable FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = 'stamps' ORDER BY ordinal_position`,
      [fx.pg.name],
    );
    const byName = Object.fromEntries(
      rows.map((r: { column_name: string; column_default: string | null; is_nullable: string }) => [
        r.column_name,
        r,
      ]),
    );
    expect(byName.created?.column_default).toBe('CURRENT_TIMESTAMP');
    expect(byName.updated?.column_default).toBe('CURRENT_TIMESTAMP');
    expect(byName.zero).toMatchObject({ column_default: null, is_nullable: 'YES' });
    await fx.pg.query(`INSERT INTO stamps (id) VALUES (2)`);
    const { rows: inserted } = await fx.pg.query(
      `SELECT note, path, qty, created IS NOT NULL AS c, now() - updated < interval '1 minute' AS u, zero FROM stamps WHERE id = 2`,
    );
    expect(inserted[0]).toEqual({
      note: "it's",
      path: 'C:\\dir\tx',
      qty: 5,
      c: true,
      u: true,
      zero: null,
    });
  });

  it('ON UPDATE CURRENT_TIMESTAMP becomes a trigger: the column moves on update unless the UPDATE sets it', async () => {
    expect(await texts('stamps', 'updated')).toMatchObject({ 1: '2020-01-01 00:00:00+00' });
    await fx.pg.query(`UPDATE stamps SET note = 'y' WHERE id = 1`);
    expect(
      await fx.pgValue(`SELECT now() - updated < interval '1 minute' FROM stamps WHERE id = 1`),
    ).toBe(true);
    await fx.pg.query(
      `UPDATE stamps SET note = 'z', updated = '2001-02-03 04:05:06+00' WHERE id = 1`,
    );
    expect(await texts('stamps', 'updated')).toMatchObject({ 1: '2001-02-03 04:05:06+00' });
    // The DATETIME(3) without ON UPDATE does not move.
    expect(await texts('stamps', 'created')).toMatchObject({ 1: '2020-01-01 00:00:00' });
  });

  it('lower-cases identifiers that stay unique and quotes reserved words', async () => {
    expect(await fx.pgTypes('useraccounts')).toEqual({
      id: 'integer',
      username: 'character varying(20)',
    });
    expect(await fx.pgValue(`SELECT username FROM useraccounts WHERE id = 1`)).toBe('alice');
    expect(
      await fx.pgValue(
        `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'useraccounts' AND indexname <> 'useraccounts_pkey'`,
        [fx.pg.name],
      ),
    ).toBe('useraccounts_username_index');
    expect(await fx.pgTypes('user')).toEqual({
      id: 'integer',
      order: 'integer',
      select: 'character varying(5)',
    });
    const { rows } = await fx.pg.query(`SELECT "order", "select" FROM "user"`);
    expect(rows).toEqual([{ order: 7, select: 'x' }]);
  });

  it('truncates identifiers to 63 bytes without splitting a character', async () => {
    // 64 ASCII characters → 63; 40 two-byte characters (80 bytes) → 31 characters (62 bytes).
    expect(await fx.pgTypes('t'.repeat(63))).toEqual({
      id: 'integer',
      ['é'.repeat(31)]: 'integer',
    });
    expect(await fx.pgValue(`SELECT "${'é'.repeat(31)}" FROM "${'t'.repeat(63)}"`)).toBe(2);
  });
});

describe.skipIf(!up)('MySQL → PostgreSQL identifiers that collide', () => {
  let fx: Fixture;
  // 64 characters each (MariaDB's limit), equal in their first 63.
  const long = 'a'.repeat(62);

  beforeAll(async () => {
    fx = await openFixture('ftident');
    await fx.mysql.query(`
      CREATE TABLE \`Name\` (id INT PRIMARY KEY, \`Value\` INT);
      CREATE TABLE \`name\` (id INT PRIMARY KEY, \`Value\` INT);
      INSERT INTO \`Name\` VALUES (1, 10);
      INSERT INTO \`name\` VALUES (1, 20);
      CREATE TABLE \`${long}_1\` (id INT PRIMARY KEY);
      CREATE TABLE \`${long}_2\` (id INT PRIMARY KEY);
      CREATE TABLE wide (id INT PRIMARY KEY, \`${long}_l\` INT, \`${long}_r\` INT);
    `);
  });

  afterAll(async () => {
    await fx?.cleanup();
  });

  it('keeps the case of names that lower-casing would merge (tables Name and name)', async () => {
    // MariaDB compares column names case-insensitively, so only table names can differ by case alone.
    // Each table's own columns still fold (Value → value): they do not collide within their table.
    const m = await fx.migrate({ tables: ['Name', 'name'] });
    expect(m.status).toBe('completed');
    const { rows } = await fx.pg.query(
      `SELECT (SELECT value FROM "Name") AS upper, (SELECT value FROM "name") AS lower`,
    );
    expect(rows).toEqual([{ upper: 10, lower: 20 }]);
  });

  it('fails the plan, naming both tables, when two names collide after truncation to 63 bytes', async () => {
    const m = await fx.migrate({ tables: [`${long}_1`, `${long}_2`] });
    expect(m.status).toBe('failed');
    expect(m.error?.code).toBe('SCHEMA_CONFLICT');
    expect(m.error?.message).toContain(`"${long}_1"`);
    expect(m.error?.message).toContain(`"${long}_2"`);
    expect(m.error?.message).toContain('63 bytes');
    expect(
      await fx.pgValue(
        `SELECT count(*)::int FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'aaaa%'`,
        [fx.pg.name],
      ),
    ).toBe(0);
  });

  it('fails the plan, naming both columns, when two column names collide after truncation to 63 bytes', async () => {
    const m = await fx.migrate({ tables: ['wide'] });
    expect(m.status).toBe('failed');
    expect(m.error?.code).toBe('SCHEMA_CONFLICT');
    expect(m.error?.message).toContain(`"${long}_l"`);
    expect(m.error?.message).toContain(`"${long}_r"`);
    expect(await fx.pgValue(`SELECT to_regclass($1) IS NULL`, [`"${fx.pg.name}".wide`])).toBe(true);
  });
});

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}
