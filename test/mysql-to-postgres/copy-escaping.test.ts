import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasService } from '../helpers/services.js';
import { openFixture, type Fixture, type Migration } from './fixture.js';

/**
 * MYSQL_TO_POSTGRES.md, "Writing with COPY": text-format COPY must escape backslash, tab, newline
 * and carriage return, and must never read a literal `\N` as NULL or a `\.` line as end of data.
 * Each value is compared on both sides by MD5 (and fetched where short).
 */

const up = (await hasService('mysql')) && (await hasService('postgres'));

const BIG = ('line\t\\N\r\n\\.\n"q" é😀 '.repeat(40) + '\n').repeat(1100); // ~1 MB of every troublemaker

const VALUES: ReadonlyArray<readonly [string, string | null]> = [
  ['backslash', 'back\\slash'],
  ['lone backslash', '\\'],
  ['trailing backslash', 'ends with \\'],
  ['tab', 'tab\there'],
  ['newline', 'new\nline'],
  ['carriage return', 'carriage\rreturn'],
  ['crlf', 'crlf\r\n'],
  ['literal \\N', '\\N'],
  ['literal \\\\N', '\\\\N'],
  ['\\N inside', 'a\\Nb'],
  ['NULL word', 'NULL'],
  ['exactly \\.', '\\.'],
  ['\\. line inside', 'first\n\\.\nlast'],
  ['\\. line at the end', 'first\n\\.'],
  ['escape-looking text', '\\t\\n\\r\\x41\\101'],
  ['quotes', `it's "quoted" \`tick\``],
  ['emoji and 4-byte UTF-8', '😀 𝄞 🀄 \u{10FFFF} é ß 中文'],
  ['control characters', '\u0001\u0002\u001b\u007f'],
  ['spaces', '  padded  '],
  ['empty string', ''],
  ['NULL', null],
  ['1 MB', BIG],
];

/** Keys that travel through batch bounds, the store and DELETE … = ANY(...) on a rerun. */
const KEYS = [
  'a\\b',
  'tab\tkey',
  '\\N',
  '\\.',
  "q'uote",
  'line\nbreak',
  'cr\rkey',
  'z',
  'é',
  '😀',
  '"dq"',
  'N',
];

describe.skipIf(!up)('COPY escaping from MariaDB into PostgreSQL', () => {
  let fx: Fixture;
  let first: Migration;
  let second: Migration;

  /** id → md5 of the text on the MariaDB side. */
  const sourceMd5 = async (table: string, column: string, key = 'id') => {
    const rows = (await fx.mysql.query(
      `SELECT ${key} AS k, MD5(${column}) AS h FROM ${table}`,
    )) as Array<{ k: unknown; h: string | null }>;
    return Object.fromEntries(rows.map((r) => [String(r.k), r.h]));
  };
  const targetMd5 = async (table: string, column: string, key = 'id') => {
    const { rows } = await fx.pg.query(
      `SELECT ${key}::text AS k, md5(${column}) AS h FROM ${table}`,
    );
    return Object.fromEntries(rows.map((r: { k: string; h: string | null }) => [r.k, r.h]));
  };

  beforeAll(async () => {
    fx = await openFixture('ftcopy');
    await fx.mysql.query(`
      CREATE TABLE texts (id INT PRIMARY KEY, label VARCHAR(40), v LONGTEXT, vc VARCHAR(100), ch CHAR(40));
      CREATE TABLE keyed (k VARCHAR(50) PRIMARY KEY, v TEXT);
      CREATE TABLE bytes (id INT PRIMARY KEY, b BLOB);
      CREATE TABLE structured (
        id INT PRIMARY KEY, j JSON, e ENUM('a\\\\b', 'q"x', 'it''s', 'tab\\tval'), s SET('x\\\\y', 'w"v', 'it''s', '{}')
      );
    `);
    await fx.mysql.query('INSERT INTO texts VALUES ?', [
      VALUES.map(([label, v], i) => {
        const short = v !== null && v.length <= 100 ? v : null;
        // CHAR drops trailing spaces on read: keep it to values without them.
        const char = short !== null && short.length <= 40 && !/ $/.test(short) ? short : null;
        return [i + 1, label, v, short, char];
      }),
    ]);
    // The same texts beside a SET column (text[], no binary encoder): written as COPY text, where
    // texts (every column type binary-capable) goes as COPY BINARY.
    await fx.mysql.query(`
      CREATE TABLE texts_via_text (id INT PRIMARY KEY, v LONGTEXT, vc VARCHAR(100), s SET('x'));
      INSERT INTO texts_via_text SELECT id, v, vc, IF(id % 2 = 0, 'x', NULL) FROM texts;
    `);
    await fx.mysql.query('INSERT INTO keyed VALUES ?', [KEYS.map((k) => [k, `value of ${k}`])]);
    await fx.mysql.query('INSERT INTO bytes VALUES ?', [
      [
        [1, Buffer.from(Array.from({ length: 256 }, (_, i) => i))],
        [2, Buffer.from('\\N')],
        [3, Buffer.from('\\.\n')],
        [4, Buffer.from([0x09, 0x0a, 0x0d, 0x5c, 0x00])],
      ],
    ]);
    await fx.mysql.query('INSERT INTO structured VALUES ?', [
      [
        [
          1,
          '{"k": "back\\\\slash \\t tab \\n nl \\"q\\" \\\\N \\\\.", "\\\\N": null}',
          'a\\b',
          'x\\y,w"v',
        ],
        [2, '["\\\\.", "line\\n\\\\.\\nend", "😀"]', 'q"x', "it's,{}"],
        [3, '"\\\\N"', 'tab\tval', ''],
        [4, null, null, null],
      ],
    ]);
    // Batches of two rows: text keys become batch bounds.
    first = await fx.migrate({ batchSize: 2 });
    // A second job into the existing tables: every batch replaces what the first one wrote.
    second = await fx.migrate({ batchSize: 2 });
  });

  afterAll(async () => {
    await fx?.cleanup();
  });

  it('completes, and checksum validation passes on every table, twice', () => {
    for (const m of [first, second]) {
      expect({ status: m.status, error: m.error }).toEqual({ status: 'completed', error: null });
      for (const t of m.tables)
        expect({ table: t.name, validation: t.validation }).toEqual({
          table: t.name,
          validation: 'passed',
        });
    }
    expect(second.tables.every((t) => !t.createdByJob)).toBe(true);
  });

  it('carries every troublesome text exactly (MD5 on both sides)', async () => {
    expect(await fx.pgValue(`SELECT count(*)::int FROM texts`)).toBe(VALUES.length);
    expect(await targetMd5('texts', 'v')).toEqual(await sourceMd5('texts', 'v'));
    expect(await targetMd5('texts', 'vc')).toEqual(await sourceMd5('texts', 'vc'));
    expect(await targetMd5('texts', 'ch')).toEqual(await sourceMd5('texts', 'ch'));
    expect(await fx.pgValue(`SELECT count(*)::int FROM texts_via_text`)).toBe(VALUES.length);
    expect(await targetMd5('texts_via_text', 'v')).toEqual(await sourceMd5('texts', 'v'));
    expect(await targetMd5('texts_via_text', 'vc')).toEqual(await sourceMd5('texts', 'vc'));
  });

  it('fetches each short value back unchanged', async () => {
    const { rows } = await fx.pg.query(`SELECT label, vc FROM texts ORDER BY id`);
    const expected = VALUES.map(([label, v]) => ({
      label,
      vc: v !== null && v.length <= 100 ? v : null,
    }));
    expect(rows).toEqual(expected);
  });

  it('never turns a literal \\N string into NULL, nor the empty string into NULL', async () => {
    const { rows } = await fx.pg.query(
      `SELECT label, v IS NULL AS is_null, length(v) AS len FROM texts WHERE label IN ('literal \\N', 'empty string', 'NULL', 'NULL word') ORDER BY id`,
    );
    expect(rows).toEqual([
      { label: 'literal \\N', is_null: false, len: 2 },
      { label: 'NULL word', is_null: false, len: 4 },
      { label: 'empty string', is_null: false, len: 0 },
      { label: 'NULL', is_null: true, len: null },
    ]);
  });

  it('does not end the data at a \\. value or a \\. line: rows after it arrive', async () => {
    expect(await fx.pgValue(`SELECT v FROM texts WHERE label = 'exactly \\.'`)).toBe('\\.');
    expect(await fx.pgValue(`SELECT v FROM texts WHERE label = '\\. line inside'`)).toBe(
      'first\n\\.\nlast',
    );
    expect(await fx.pgValue(`SELECT v FROM texts WHERE label = '\\. line at the end'`)).toBe(
      'first\n\\.',
    );
    expect(await fx.pgValue(`SELECT label FROM texts ORDER BY id DESC LIMIT 1`)).toBe('1 MB');
  });

  it('carries a 1 MB text exactly', async () => {
    expect(await fx.pgValue(`SELECT length(v) FROM texts WHERE label = '1 MB'`)).toBe(
      [...BIG].length,
    );
    expect(await fx.pgValue(`SELECT octet_length(v) FROM texts WHERE label = '1 MB'`)).toBe(
      Buffer.byteLength(BIG),
    );
    expect(await fx.pgValue(`SELECT v = $1 FROM texts WHERE label = '1 MB'`, [BIG])).toBe(true);
  });

  it('keeps text keys exact through batch bounds and a rerun that replaces them', async () => {
    const { rows } = await fx.pg.query(`SELECT k, v FROM keyed`);
    expect(rows.map((r: { k: string }) => r.k).sort()).toEqual([...KEYS].sort());
    for (const r of rows as Array<{ k: string; v: string }>) expect(r.v).toBe(`value of ${r.k}`);
    expect(
      first.events.filter((e) => e.type === 'batch-finished' && e.table.endsWith('.keyed')).length,
    ).toBe(KEYS.length / 2);
  });

  it('carries bytes that look like COPY escapes exactly', async () => {
    expect(await targetMd5('bytes', 'b')).toEqual(await sourceMd5('bytes', 'b'));
    expect(await fx.pgValue(`SELECT encode(b, 'hex') FROM bytes WHERE id = 4`)).toBe('090a0d5c00');
  });

  it('escapes JSON, ENUM and SET values with backslashes, quotes and tabs', async () => {
    expect(
      await fx.pgValue(`SELECT j = $1::jsonb FROM structured WHERE id = 1`, [
        '{"k": "back\\\\slash \\t tab \\n nl \\"q\\" \\\\N \\\\.", "\\\\N": null}',
      ]),
    ).toBe(true);
    expect(await fx.pgValue(`SELECT j->>'k' FROM structured WHERE id = 1`)).toBe(
      'back\\slash \t tab \n nl "q" \\N \\.',
    );
    expect(await fx.pgValue(`SELECT j->>1 FROM structured WHERE id = 2`)).toBe('line\n\\.\nend');
    expect(await fx.pgValue(`SELECT j #>> '{}' FROM structured WHERE id = 3`)).toBe('\\N');
    const { rows } = await fx.pg.query(`SELECT id, e, s FROM structured ORDER BY id`);
    expect(rows).toEqual([
      { id: 1, e: 'a\\b', s: ['x\\y', 'w"v'] },
      { id: 2, e: 'q"x', s: ["it's", '{}'] },
      { id: 3, e: 'tab\tval', s: [] },
      { id: 4, e: null, s: null },
    ]);
  });
});
