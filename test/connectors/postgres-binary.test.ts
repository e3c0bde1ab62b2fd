import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetType } from '../../src/domain/column-types.js';
import {
  BINARY_HEADER,
  BINARY_TRAILER,
  binaryKinds,
  compileBinaryEncoder,
} from '../../src/connectors/postgres/postgres-binary.js';
import { compileRowEncoder } from '../../src/connectors/postgres/postgres-copy.js';
import { SERVICES, hasService } from '../helpers/services.js';
import { uniqueName } from '../helpers/databases.js';

/**
 * COPY BINARY against PostgreSQL's own text input: every value is written once as COPY text (the
 * server parses it) and once in binary (Freight encodes it), and the two columns must read back
 * identically, value by value — including which values are refused. A binary encoder that changed
 * a value, or accepted one the server refuses as text, fails here.
 */

const pgUp = await hasService('postgres');

interface Case {
  readonly name: string;
  readonly type: TargetType;
  readonly sql: string;
  readonly values: readonly unknown[];
  /**
   * Forms no converter produces (value-codec.ts): PostgreSQL's text parser reads them (some
   * relative to today), the binary encoder refuses them as record errors instead of guessing.
   */
  readonly notCanonical?: readonly unknown[];
}

const bytes = (s: string) => Buffer.from(s, 'utf8');

const CASES: readonly Case[] = [
  {
    name: 'smallint',
    type: { kind: 'int16' },
    sql: 'smallint',
    values: [0, 1, -1, 32767, -32768, 32768, -32769, '32767', '-32768', '+5', '007', '40000', 1.5],
  },
  {
    name: 'integer',
    type: { kind: 'int32' },
    sql: 'integer',
    values: [2147483647, -2147483648, '2147483648', '-2147483649', '12', 3n],
  },
  {
    name: 'bigint',
    type: { kind: 'int64' },
    sql: 'bigint',
    values: [
      '9223372036854775807',
      '-9223372036854775808',
      '9223372036854775808',
      '-9223372036854775809',
      9007199254740991,
      -9007199254740991,
      '9007199254740993',
      '18446744073709551615',
      0,
      -1,
      12345678901234n,
      'x1',
      '',
    ],
  },
  {
    name: 'numeric',
    type: { kind: 'decimal' },
    sql: 'numeric',
    values: [
      '0',
      '-0',
      '0.00',
      '-0.000',
      '123.45',
      '-123.45',
      '0.0001',
      '0.00012',
      '1e3',
      '1.5e-7',
      '-1.23E+5',
      '.5',
      '5.',
      '+3.14',
      '99999999999999999999.999999999',
      '0.00000000001',
      '10000',
      '100000000',
      '1.00010001',
      '123456789012345678901234567890',
      '1e-20',
      '12e1000',
      '1e1001',
      'NaN',
      'abc',
      '1.2.3',
      '',
      12345,
      -0.5,
      0.1,
      1e21,
      123456789.123,
    ],
  },
  {
    name: 'numeric(12,2)',
    type: { kind: 'decimal', precision: 12, scale: 2 },
    sql: 'numeric(12,2)',
    values: [
      '123.456',
      '123.455',
      '-123.455',
      '9999999999.99',
      '9999999999.995',
      '1e10',
      '1e9',
      '0.004',
      '0.005',
    ],
  },
  {
    name: 'double precision',
    type: { kind: 'float64' },
    sql: 'double precision',
    values: [
      0,
      -0,
      1.5,
      1e308,
      5e-324,
      NaN,
      Infinity,
      -Infinity,
      0.1 + 0.2,
      '1.5',
      '-2.5e-3',
      'Infinity',
      '-inf',
      'nan',
      'one',
    ],
  },
  { name: 'boolean', type: { kind: 'boolean' }, sql: 'boolean', values: [true, false] },
  {
    name: 'text',
    type: { kind: 'text' },
    sql: 'text',
    values: [
      '',
      'abc',
      'é😀 中文',
      'tab\there\nnew\\line\r',
      '\\N',
      bytes('tab\there\nnew\\line\r'),
      bytes('é😀'),
      bytes(''),
      'a\u0000b',
      bytes('a\u0000b'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from([0xc3]),
    ],
  },
  {
    name: 'varchar(3)',
    type: { kind: 'varchar', length: 3 },
    sql: 'varchar(3)',
    values: ['abc', 'abcd', 'é😀x', bytes('é😀x'), bytes('abcd'), 'ab   '],
  },
  {
    name: 'char(3)',
    type: { kind: 'char', length: 3 },
    sql: 'char(3)',
    values: ['ab', 'abc', 'abcd', 'ab  ', bytes('a')],
  },
  {
    name: 'jsonb',
    type: { kind: 'json' },
    sql: 'jsonb',
    values: [
      '{"b":1,"a":[1,2]}',
      bytes('{"a":"\\u00e9", "n": 1.50}'),
      '{"a":"\\u0000"}',
      'not json',
      '[]',
      '"x"',
      bytes('{"dup":1,"dup":2}'),
    ],
  },
  {
    name: 'json',
    type: { kind: 'json' },
    sql: 'json',
    values: ['{"b":1,  "a":2}', bytes('{"dup":1,"dup":2}'), 'not json'],
  },
  {
    name: 'bytea',
    type: { kind: 'bytes' },
    sql: 'bytea',
    values: [Buffer.from([0, 1, 255]), Buffer.alloc(0), 'text', Buffer.from([9, 10, 13, 92])],
  },
  {
    name: 'date',
    type: { kind: 'date' },
    sql: 'date',
    values: [
      '2024-02-29',
      '2000-01-01',
      '1999-12-31',
      '2000-03-01',
      '1970-01-01',
      '0001-01-01',
      '9999-12-31',
      '1582-10-10',
      '0044-03-15 BC',
      '0001-01-01 BC',
      '0004-02-29 BC',
      'infinity',
      '-infinity',
      '2023-02-29',
      '2023-13-01',
      '0000-01-01',
    ],
    notCanonical: ['2023-1-01', 'yesterday', '20230101', 'Jan 8, 1999'],
  },
  {
    name: 'timestamp(6)',
    type: { kind: 'timestamp', precision: 6 },
    sql: 'timestamp(6)',
    values: [
      '2020-01-01 10:00:00',
      '2020-01-01 10:00:00.5',
      '2020-01-01 10:00:00.123456',
      '2020-01-01 10:00:00.000001',
      '1000-01-01 00:00:00',
      '1715-06-01 12:00:00',
      '2286-01-01 00:00:00',
      '9999-12-31 23:59:59.999999',
      '0001-01-01 00:00:00',
      '0044-03-15 12:00:00 BC',
      '2020-01-01 10:00:00+05',
      '2020-01-01 10:00:00+00:00',
      '2020-01-01',
      'infinity',
      '-infinity',
      '2020-02-30 10:00:00',
      '2020-01-01 25:00:00',
      '2020-01-01 10:61:00',
    ],
    notCanonical: ['2020-01-01 24:00:00', '2020-01-01 10:00:60', 'now', '2020-01-01T10:00:00'],
  },
  {
    name: 'timestamp(0)',
    type: { kind: 'timestamp', precision: 0 },
    sql: 'timestamp(0)',
    values: ['2020-01-01 10:00:00.5', '2020-01-01 10:00:00.499999', '2020-12-31 23:59:59.5'],
  },
  {
    name: 'timestamptz(6)',
    type: { kind: 'timestamptz', precision: 6 },
    sql: 'timestamptz(6)',
    values: [
      '2020-01-01 10:00:00+00:00',
      '2020-01-01 10:00:00.25+00:00',
      '2020-01-01 10:00:00+05:30',
      '2020-01-01 10:00:00-08',
      '2020-01-01 10:00:00-0830',
      '2020-01-01 10:00:00Z',
      '2020-01-01 10:00:00',
      '2020-01-01 00:30:00+01:00',
      '1900-06-30 23:59:59.999999+00:00',
      '0044-03-15 12:00:00+00 BC',
      '2020-01-01 10:00:00+15:59',
      '2020-01-01 10:00:00+16:00',
      'infinity',
      '-infinity',
    ],
    notCanonical: ['2020-01-01 10:00:00 America/New_York', '2020-01-01 10:00:00+05:30:15'],
  },
  {
    name: 'time(6)',
    type: { kind: 'time', precision: 6 },
    sql: 'time(6)',
    values: [
      '00:00:00',
      '23:59:59.999999',
      '12:34:56.5',
      '08:00:00.000001',
      '24:00:01',
      '12:60:00',
    ],
    notCanonical: ['24:00:00', '23:59:60', '8:00:00', '08:00', '08:00:00+02', 'allballs'],
  },
  {
    name: 'time(0)',
    type: { kind: 'time', precision: 0 },
    sql: 'time(0)',
    values: ['10:00:00.5', '10:00:00.499999', '23:59:59.4'],
  },
];

async function copyInto(client: pg.Client, sql: string, data: Buffer[]): Promise<string | null> {
  try {
    await pipeline(Readable.from(data), client.query(copyFrom(sql)));
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

describe.skipIf(!pgUp)('PostgreSQL COPY BINARY encoders agree with the server reading text', () => {
  let client: pg.Client;
  const schema = uniqueName('fbin');

  beforeAll(async () => {
    const { host, port, user, database } = SERVICES.postgres;
    client = new pg.Client({
      host,
      port,
      user,
      database,
      // Freight's session settings (postgres-pool.ts).
      options: '-c TimeZone=UTC -c DateStyle=ISO,YMD -c extra_float_digits=1',
    });
    await client.connect();
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(`SET search_path TO "${schema}"`);
  });
  afterAll(async () => {
    await client?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client?.end();
  });

  it('covers every kind it claims', () => {
    expect(binaryKinds(CASES.map((c) => c.type))).toBe(true);
    expect(binaryKinds([{ kind: 'interval' }])).toBe(false);
  });

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    for (const side of ['t', 'b']) {
      await client.query(`CREATE TABLE ${side}${i} (n int, v ${c.sql})`);
    }
    const {
      rows: [{ oid }],
    } = await client.query(
      `SELECT atttypid::int AS oid FROM pg_attribute WHERE attrelid = 'b${i}'::regclass AND attname = 'v'`,
    );
    const types: TargetType[] = [{ kind: 'int32' }, c.type];
    const text = compileRowEncoder(types);
    const binary = compileBinaryEncoder(types, [23, oid]);
    const refusedAsText: number[] = [];
    const refusedInBinary: number[] = [];
    for (const [n, v] of c.values.entries()) {
      const row = [[n, v]];
      if (await copyInto(client, `COPY t${i} (n, v) FROM STDIN`, [text(row)]))
        refusedAsText.push(n);
      let encoded: Buffer | null = null;
      try {
        encoded = binary(row);
      } catch {
        refusedInBinary.push(n);
      }
      if (
        encoded &&
        (await copyInto(client, `COPY b${i} (n, v) FROM STDIN (FORMAT binary)`, [
          BINARY_HEADER,
          encoded,
          BINARY_TRAILER,
        ]))
      )
        refusedInBinary.push(n);
    }
    for (const v of c.notCanonical ?? []) expect(() => binary([[0, v]]), String(v)).toThrow();
    const read = async (table: string) =>
      (await client.query(`SELECT n, v::text AS v FROM ${table} ORDER BY n`)).rows.map(
        (r) => `${r.n}: ${r.v}`,
      );
    const asText = await read(`t${i}`);
    expect(await read(`b${i}`)).toEqual(asText);
    expect(refusedInBinary).toEqual(refusedAsText);
    // The cases mean something: some values are written, and the refusals are the bad ones.
    expect(asText.length).toBeGreaterThan(0);
  });

  it('matches on thousands of random numerics and timestamps written in one COPY each', async () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const digits = (n: number) =>
      Array.from({ length: n }, () => Math.floor(random() * 10)).join('');
    const pad = (x: number, n: number) => String(x).padStart(n, '0');
    const rows: unknown[][] = [];
    for (let n = 0; n < 3000; n++) {
      const sign = random() < 0.3 ? '-' : '';
      const intPart = digits(Math.floor(random() * 25)) || '0';
      const frac = random() < 0.7 ? `.${digits(Math.floor(random() * 20))}` : '';
      const exp = random() < 0.2 ? `e${Math.floor(random() * 60) - 30}` : '';
      const year = 1 + Math.floor(random() * 9999);
      const month = 1 + Math.floor(random() * 12);
      const day = 1 + Math.floor(random() * 28);
      const ts = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)} ${pad(Math.floor(random() * 24), 2)}:${pad(Math.floor(random() * 60), 2)}:${pad(Math.floor(random() * 60), 2)}.${digits(1 + Math.floor(random() * 6))}`;
      const offset = `${random() < 0.5 ? '+' : '-'}${pad(Math.floor(random() * 15), 2)}:${pad(Math.floor(random() * 60), 2)}`;
      rows.push([n, `${sign}${intPart}${frac}${exp}`, ts, `${ts}${offset}`, random() * 1e6 - 5e5]);
    }
    const types: TargetType[] = [
      { kind: 'int32' },
      { kind: 'decimal' },
      { kind: 'timestamp', precision: 6 },
      { kind: 'timestamptz', precision: 6 },
      { kind: 'float64' },
    ];
    const ddl = '(n int, d numeric, ts timestamp(6), tz timestamptz(6), f double precision)';
    await client.query(`CREATE TABLE rt ${ddl}`);
    await client.query(`CREATE TABLE rb ${ddl}`);
    expect(await copyInto(client, 'COPY rt FROM STDIN', [compileRowEncoder(types)(rows)])).toBe(
      null,
    );
    const binary = compileBinaryEncoder(types, [23, 1700, 1114, 1184, 701]);
    expect(
      await copyInto(client, 'COPY rb FROM STDIN (FORMAT binary)', [
        BINARY_HEADER,
        binary(rows),
        BINARY_TRAILER,
      ]),
    ).toBe(null);
    const { rows: diff } = await client.query(
      `SELECT count(*)::int AS n FROM rt FULL JOIN rb USING (n)
        WHERE rt.d::text IS DISTINCT FROM rb.d::text OR rt.ts IS DISTINCT FROM rb.ts
           OR rt.tz IS DISTINCT FROM rb.tz OR rt.f IS DISTINCT FROM rb.f`,
    );
    expect(diff[0].n).toBe(0);
    expect((await client.query('SELECT count(*)::int AS n FROM rb')).rows[0].n).toBe(3000);
  });
});
