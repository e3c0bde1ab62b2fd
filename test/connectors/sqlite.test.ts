import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteSource } from '../../src/connectors/sqlite/sqlite-source.js';
import { SqliteTarget } from '../../src/connectors/sqlite/sqlite-target.js';
import { sqliteSourceType, sqliteTypeName } from '../../src/connectors/sqlite/sqlite-type-map.js';
import type { TargetType } from '../../src/domain/column-types.js';
import type { ConnectionConfig } from '../../src/domain/connection.js';
import { FreightError } from '../../src/domain/errors.js';
import { DEFAULT_JOB_OPTIONS, type JobOptions } from '../../src/domain/model.js';
import type { Connectors } from '../../src/engine/ports.js';
import { runJob } from '../../src/worker/run-job.js';
import type { ColumnPlan, TablePlan } from '../../src/engine/plan.js';
import type { KeyTuple, Row } from '../../src/engine/ports.js';
import { tempDir } from '../helpers/databases.js';
import { openTestStore } from '../helpers/stores.js';

/**
 * The SQLite connector against real SQLite files: introspection, exact values, keyset reads, the
 * target's DDL and per-row failures, idempotent deletes, and whole jobs SQLite → SQLite.
 */

type SqliteConfig = Extract<ConnectionConfig, { type: 'sqlite' }>;

const dir = tempDir('freight-sqlite-');
afterAll(() => dir.remove());

let fileCounter = 0;
function newFile(name: string): string {
  return dir.file(`${name}-${++fileCounter}.db`);
}

/** Creates a SQLite file with `sql` run in it. */
function makeDb(name: string, sql: string): string {
  const file = newFile(name);
  const db = new Database(file);
  db.exec(sql);
  db.close();
  return file;
}

async function collect<T>(chunks: AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const chunk of chunks) out.push(...chunk);
  return out;
}

/** Every row of `table` as stored (integers as BigInt), in `order`. */
function stored(file: string, sql: string): unknown[][] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).raw(true).safeIntegers(true).all() as unknown[][];
  } finally {
    db.close();
  }
}

function planOf(
  name: string,
  columns: Array<Partial<ColumnPlan> & { name: string; type: TargetType }>,
  key: string[],
  extra: Partial<TablePlan> = {},
): TablePlan {
  const cols: ColumnPlan[] = columns.map((c) => ({
    source: c.name,
    sourceType: { kind: 'text' },
    nativeType: 'x',
    nullable: true,
    ...c,
  }));
  return {
    source: { name },
    target: { name },
    columns: cols,
    keySourceColumns: key,
    keyPositions: key.map((k) => cols.findIndex((c) => c.name === k)),
    keyOrderSafe: true,
    primaryKey: key,
    indexes: [],
    foreignKeys: [],
    generated: [],
    estimatedRows: 0,
    notes: [],
    ...extra,
  };
}

describe('SQLite type mapping', () => {
  it('follows the affinity rules and keeps what the declared type says beyond them', () => {
    expect(sqliteSourceType('INTEGER')).toEqual({ kind: 'integer', bytes: 8, unsigned: false });
    expect(sqliteSourceType('unsigned big int')).toEqual({
      kind: 'integer',
      bytes: 8,
      unsigned: false,
    });
    expect(sqliteSourceType('BOOLEAN')).toEqual({
      kind: 'integer',
      bytes: 8,
      unsigned: false,
      boolCandidate: true,
    });
    expect(sqliteSourceType('VARCHAR(40)')).toEqual({ kind: 'varchar', length: 40 });
    expect(sqliteSourceType('NVARCHAR')).toEqual({ kind: 'text' });
    expect(sqliteSourceType('CLOB')).toEqual({ kind: 'text' });
    expect(sqliteSourceType('blob')).toEqual({ kind: 'binary' });
    expect(sqliteSourceType('DOUBLE PRECISION')).toEqual({ kind: 'float', bytes: 8 });
    expect(sqliteSourceType('FLOAT')).toEqual({ kind: 'float', bytes: 8 });
    expect(sqliteSourceType('DECIMAL(10, 2)')).toEqual({
      kind: 'decimal',
      precision: 10,
      scale: 2,
    });
    expect(sqliteSourceType('NUMERIC')).toEqual({ kind: 'decimal' });
    expect(sqliteSourceType('DATE')).toEqual({ kind: 'date' });
    expect(sqliteSourceType('DATETIME')).toEqual({ kind: 'datetime' });
    expect(sqliteSourceType('TIMESTAMP')).toEqual({ kind: 'datetime' });
    expect(sqliteSourceType('TIME')).toEqual({ kind: 'time' });
    expect(sqliteSourceType('JSON')).toEqual({ kind: 'json' });
    expect(sqliteSourceType('UUID')).toEqual({ kind: 'uuid' });
    expect(sqliteSourceType('')).toEqual({ kind: 'native', dialect: 'sqlite', type: '' });
    expect(sqliteSourceType('MONEY')).toEqual({ kind: 'native', dialect: 'sqlite', type: 'MONEY' });
  });

  it('declares target types whose affinity never changes a canonical value', () => {
    expect(sqliteTypeName({ kind: 'decimal', precision: 15, scale: 4 })).toBe('NUMERIC(15,4)');
    expect(sqliteTypeName({ kind: 'decimal', precision: 18, scale: 0 })).toBe('NUMERIC(18,0)');
    expect(sqliteTypeName({ kind: 'decimal', precision: 20, scale: 0 })).toBe('TEXT');
    expect(sqliteTypeName({ kind: 'decimal' })).toBe('TEXT');
    expect(sqliteTypeName({ kind: 'native', dialect: 'sqlite', type: '' })).toBe('');
    expect(sqliteTypeName({ kind: 'native', dialect: 'sqlite', type: 'INT PRIMARY KEY' })).toBe(
      'TEXT',
    );
  });
});

describe('SqliteSource', () => {
  let file: string;
  let source: SqliteSource;

  beforeAll(async () => {
    file = makeDb(
      'source',
      `
      CREATE TABLE parent (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        code VARCHAR(20) NOT NULL UNIQUE,
        name TEXT DEFAULT 'n''a',
        active BOOLEAN NOT NULL DEFAULT TRUE,
        price DECIMAL(10,2) DEFAULT 0,
        ratio REAL,
        data BLOB,
        born DATE,
        seen DATETIME DEFAULT CURRENT_TIMESTAMP,
        at TIME,
        doc JSON,
        uid UUID,
        misc,
        money MONEY,
        twice INTEGER GENERATED ALWAYS AS (id * 2) VIRTUAL,
        kind TEXT DEFAULT (lower('X'))
      );
      CREATE INDEX parent_name_born ON parent (name DESC, born);
      CREATE INDEX parent_partial ON parent (price) WHERE price > 0;
      CREATE INDEX parent_expr ON parent (lower(name));
      INSERT INTO parent (id, code, name, active, at) VALUES (1, 'a', '', 0, '10:00:00'), (2, 'b', 'x', 1, '23:59:59.5'), (41, 'c', NULL, 1, NULL);
      CREATE TABLE child (
        tenant TEXT NOT NULL, seq INTEGER NOT NULL,
        parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE,
        parent_code TEXT, note TEXT,
        PRIMARY KEY (tenant, seq),
        FOREIGN KEY (parent_code) REFERENCES parent (code)
      ) WITHOUT ROWID;
      CREATE TABLE plain (a TEXT, b INT);
      CREATE TABLE vals (id INTEGER PRIMARY KEY, big BIGINT, r REAL, b BLOB, t TEXT, f REAL);
      INSERT INTO vals VALUES
        (1, 9007199254740993, 0.1, x'00ff0000', 'a' || char(0) || 'b' || char(9) || 'c' || char(10) || 'd\\e😀', 'NaN'),
        (2, -9223372036854775808, 1e308, x'', '', NULL),
        (3, 9223372036854775807, -0.5, NULL, NULL, 3.5),
        (4, 42, NULL, NULL, 'plain', NULL);
      CREATE TABLE ev (tenant TEXT NOT NULL, seq INTEGER NOT NULL, v TEXT, PRIMARY KEY (tenant, seq));
      CREATE TABLE nk (code TEXT PRIMARY KEY, v INTEGER);
      INSERT INTO nk VALUES (NULL, 0), ('a', 1), ('b', 2), ('c', 3);
      `,
    );
    const db = new Database(file);
    const insert = db.prepare('INSERT INTO ev VALUES (?, ?, ?)');
    for (const tenant of ['a', 'B', 'b', 'é', 'z', 'A ']) {
      for (const seq of [1, 2, 9, 10, 100, -5, 9007199254740993n])
        insert.run(tenant, seq, `${tenant}/${seq}`);
    }
    db.close();
    source = await SqliteSource.open({ type: 'sqlite', path: file });
  });

  afterAll(async () => {
    await source.close();
  });

  it('lists the user tables by name, without sqlite_sequence', async () => {
    expect((await source.listTables()).map((t) => t.name)).toEqual([
      'child',
      'ev',
      'nk',
      'parent',
      'plain',
      'vals',
    ]);
    expect(source.caps).toEqual({ dialect: 'sqlite', keysetReads: true });
    expect(source.description).toBe(`sqlite:${file}`);
  });

  it('describes columns, the rowid key, defaults, the AUTOINCREMENT counter and generated columns', async () => {
    const t = await source.describeTable({ name: 'parent' });
    const col = (name: string) => t.columns.find((c) => c.name === name)!;
    expect(t.primaryKey).toEqual(['id']);
    expect(col('id')).toMatchObject({
      type: { kind: 'integer', bytes: 8 },
      nullable: false,
      autoIncrement: true,
    });
    expect(t.autoIncrementNext).toBe('42');
    expect(col('code')).toMatchObject({ type: { kind: 'varchar', length: 20 }, nullable: false });
    expect(col('name')).toMatchObject({
      nullable: true,
      default: { kind: 'literal', value: "n'a" },
    });
    expect(col('active')).toMatchObject({
      type: { kind: 'integer', boolCandidate: true },
      default: { kind: 'literal', value: '1' },
    });
    expect(col('price')).toMatchObject({
      type: { kind: 'decimal', precision: 10, scale: 2 },
      default: { kind: 'literal', value: '0' },
    });
    expect(col('seen').default).toEqual({ kind: 'current_timestamp' });
    expect(col('kind').default).toEqual({ kind: 'expression', sql: "lower('X')" });
    expect(col('misc').type).toEqual({ kind: 'native', dialect: 'sqlite', type: '' });
    expect(col('twice').generated).toEqual({ expression: 'id * 2', stored: false });
    expect(t.estimatedRows).toBe(3);
  });

  it('reads unique, descending, partial and expression indexes (the primary key index is not one)', async () => {
    const t = await source.describeTable({ name: 'parent' });
    const byName = new Map(t.indexes.map((i) => [i.name, i]));
    expect(byName.get('code_key')).toMatchObject({ unique: true, columns: [{ name: 'code' }] });
    expect(byName.get('parent_name_born')).toMatchObject({
      unique: false,
      columns: [{ name: 'name', descending: true }, { name: 'born' }],
    });
    expect(byName.get('parent_name_born')!.unsupported).toBeUndefined();
    expect(byName.get('parent_partial')!.unsupported).toMatch(/partial/);
    expect(byName.get('parent_expr')!.unsupported).toMatch(/expression/);
    expect(t.indexes).toHaveLength(4);
  });

  it('reads a composite primary key of a WITHOUT ROWID table and its foreign keys', async () => {
    const t = await source.describeTable({ name: 'child' });
    expect(t.primaryKey).toEqual(['tenant', 'seq']);
    expect(t.columns.find((c) => c.name === 'seq')!.autoIncrement).toBeUndefined();
    expect(t.foreignKeys).toHaveLength(2);
    expect(t.foreignKeys).toEqual(
      expect.arrayContaining([
        {
          name: 'parent_id_fkey',
          columns: ['parent_id'],
          refTable: { name: 'parent' },
          refColumns: ['id'],
          onDelete: 'CASCADE',
          onUpdate: 'NO ACTION',
        },
        expect.objectContaining({
          name: 'parent_code_fkey',
          columns: ['parent_code'],
          refTable: { name: 'parent' },
          refColumns: ['code'],
        }),
      ]),
    );
    expect(new Set(t.foreignKeys.map((f) => f.name)).size).toBe(2);
    const plain = await source.describeTable({ name: 'PLAIN' });
    expect(plain.ref.name).toBe('plain');
    expect(plain.primaryKey).toEqual([]);
  });

  it('throws TABLE_NOT_FOUND for a missing table', async () => {
    await expect(source.describeTable({ name: 'nope' })).rejects.toMatchObject({
      code: 'TABLE_NOT_FOUND',
    });
  });

  it('reads 64-bit integers, REAL, BLOBs with NUL bytes and any text exactly', async () => {
    const t = await source.describeTable({ name: 'vals' });
    const rows = await collect(source.readRows(t, ['id', 'big', 'r', 'b', 't', 'f'], ['id'], null));
    expect(rows).toEqual([
      [1, '9007199254740993', 0.1, Buffer.from([0, 0xff, 0, 0]), 'a\u0000b\tc\nd\\e😀', Number.NaN],
      [2, '-9223372036854775808', 1e308, Buffer.alloc(0), '', null],
      [3, '9223372036854775807', -0.5, null, null, 3.5],
      [4, 42, null, null, 'plain', null],
    ]);
    expect(await source.countRows(t)).toBe(4);
  });

  it('answers every probe in one query', async () => {
    const t = await source.describeTable({ name: 'parent' });
    const answers = await source.probe(t, [
      { kind: 'only-01', column: 'active' },
      { kind: 'only-01', column: 'id' },
      { kind: 'has-empty', column: 'name' },
      { kind: 'has-empty', column: 'code' },
      { kind: 'outside-day', column: 'at' },
      { kind: 'max', column: 'id' },
    ]);
    expect(answers).toEqual([true, false, true, false, false, '41']);
    const vals = await source.describeTable({ name: 'vals' });
    expect(
      await source.probe(vals, [
        { kind: 'max', column: 'big' },
        { kind: 'outside-day', column: 't' },
      ]),
    ).toEqual(['9223372036854775807', true]);
  });

  it("scans a composite text+int key in SQLite's own order and resumes after a key", async () => {
    const t = await source.describeTable({ name: 'ev' });
    const keys = await collect(source.scanKeys(t, ['tenant', 'seq'], null));
    const expected = stored(file, 'SELECT tenant, seq FROM ev ORDER BY tenant, seq').map(
      ([a, b]) => [a, Number.isSafeInteger(Number(b)) ? Number(b) : String(b)],
    );
    expect(keys).toEqual(expected);
    // BINARY collation: 'A ' < 'B' < 'a' < 'b' < 'z' < 'é'; integers numerically, the 64-bit one exactly.
    expect(keys.slice(0, 8)).toEqual([
      ['A ', -5],
      ['A ', 1],
      ['A ', 2],
      ['A ', 9],
      ['A ', 10],
      ['A ', 100],
      ['A ', '9007199254740993'],
      ['B', -5],
    ]);
    expect(keys.at(-1)).toEqual(['é', '9007199254740993']);
    const after = await collect(source.scanKeys(t, ['tenant', 'seq'], ['b', 100]));
    expect(after[0]).toEqual(['b', '9007199254740993']);
    expect(after).toHaveLength(1 + 7 + 7);
  });

  it('reads exactly the rows of a key range [lo, hi), bounds given as canonical values', async () => {
    const t = await source.describeTable({ name: 'ev' });
    const rows = await collect(
      source.readRows(t, ['tenant', 'seq', 'v'], ['tenant', 'seq'], {
        lo: ['B', 10],
        hi: ['a', '9007199254740993'],
      }),
    );
    expect(rows.map((r) => r[2])).toEqual([
      'B/10',
      'B/100',
      'B/9007199254740993',
      'a/-5',
      'a/1',
      'a/2',
      'a/9',
      'a/10',
      'a/100',
    ]);
    const open = await collect(
      source.readRows(t, ['v'], ['tenant', 'seq'], { lo: ['é', '9007199254740993'], hi: null }),
    );
    expect(open).toEqual([['é/9007199254740993']]);
  });

  it('puts rows with a NULL in a nullable key into the first batch only, never into a boundary', async () => {
    const t = await source.describeTable({ name: 'nk' });
    expect(t.columns.find((c) => c.name === 'code')!.nullable).toBe(true);
    expect(await collect(source.scanKeys(t, ['code'], null))).toEqual([['a'], ['b'], ['c']]);
    expect(await collect(source.readRows(t, ['v'], ['code'], { lo: null, hi: ['b'] }))).toEqual([
      [0],
      [1],
    ]);
    expect(await collect(source.readRows(t, ['v'], ['code'], { lo: ['b'], hi: null }))).toEqual([
      [2],
      [3],
    ]);
  });

  it('stops reading when the signal aborts', async () => {
    const t = await source.describeTable({ name: 'ev' });
    const controller = new AbortController();
    controller.abort();
    await expect(
      collect(source.readRows(t, ['v'], ['tenant', 'seq'], null, controller.signal)),
    ).rejects.toThrow();
  });

  it('fails with DATABASE_NOT_FOUND naming a missing file, and creates nothing', async () => {
    const missing = dir.file('nowhere/missing.db');
    const error = await SqliteSource.open({ type: 'sqlite', path: missing }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FreightError);
    expect(error).toMatchObject({ code: 'DATABASE_NOT_FOUND' });
    expect((error as Error).message).toContain(missing);
    const sibling = dir.file('missing.db');
    await expect(SqliteSource.open({ type: 'sqlite', path: sibling })).rejects.toMatchObject({
      code: 'DATABASE_NOT_FOUND',
    });
    expect(existsSync(sibling)).toBe(false);
  });
});

describe('SqliteTarget', () => {
  const ALL: Array<{
    name: string;
    type: TargetType;
    value: unknown;
    storage: string;
    read?: unknown;
  }> = [
    { name: 'b', type: { kind: 'boolean' }, value: true, storage: 'integer' },
    { name: 'i16', type: { kind: 'int16' }, value: -32768, storage: 'integer' },
    { name: 'i64', type: { kind: 'int64' }, value: '9007199254740993', storage: 'integer' },
    {
      name: 'd',
      type: { kind: 'decimal', precision: 12, scale: 2 },
      value: '1234567890.12',
      storage: 'real',
    },
    {
      name: 'd0',
      type: { kind: 'decimal', precision: 18, scale: 0 },
      value: '-999999999999999999',
      storage: 'integer',
    },
    {
      name: 'dt',
      type: { kind: 'decimal', precision: 38, scale: 10 },
      value: '1234567890123456789012345678.0123456789',
      storage: 'text',
    },
    { name: 'f32', type: { kind: 'float32' }, value: 3.140000104904175, storage: 'real' },
    { name: 'f64', type: { kind: 'float64' }, value: Number.NaN, storage: 'text' },
    { name: 'inf', type: { kind: 'float64' }, value: Number.NEGATIVE_INFINITY, storage: 'real' },
    { name: 'bits', type: { kind: 'bits', length: 4 }, value: '0101', storage: 'text' },
    { name: 'vc', type: { kind: 'varchar', length: 5 }, value: '12345', storage: 'text' },
    { name: 'ch', type: { kind: 'char', length: 3 }, value: '007', storage: 'text' },
    { name: 'tx', type: { kind: 'text' }, value: 'a\u0000\\N\t\n😀', storage: 'text' },
    { name: 'by', type: { kind: 'bytes' }, value: Buffer.from([0, 1, 0, 255]), storage: 'blob' },
    { name: 'dte', type: { kind: 'date' }, value: '2024-02-29', storage: 'text' },
    {
      name: 'ts',
      type: { kind: 'timestamp', precision: 6 },
      value: '2024-02-29 23:59:59.123456',
      storage: 'text',
    },
    {
      name: 'tz',
      type: { kind: 'timestamptz' },
      value: '1970-01-01 00:00:00+00:00',
      storage: 'text',
    },
    { name: 'tm', type: { kind: 'time' }, value: '12:30:00', storage: 'text' },
    { name: 'iv', type: { kind: 'interval' }, value: '-838:59:59', storage: 'text' },
    { name: 'js', type: { kind: 'json' }, value: '123', storage: 'text' },
    {
      name: 'uu',
      type: { kind: 'uuid' },
      value: '123e4567-e89b-12d3-a456-426614174000',
      storage: 'text',
    },
    { name: 'ta', type: { kind: 'text-array' }, value: ['a', 'b,c', ''], storage: 'text' },
    {
      name: 'geo',
      type: { kind: 'geometry' },
      value: Buffer.from('0101000000', 'hex'),
      storage: 'blob',
    },
    {
      name: 'nat',
      type: { kind: 'native', dialect: 'sqlite', type: '' },
      value: 12,
      storage: 'integer',
    },
  ];

  it('stores every canonical value exactly and reads it back in canonical form', async () => {
    const file = newFile('types');
    const target = await SqliteTarget.open({ type: 'sqlite', path: file });
    try {
      const plan = planOf(
        'every_type',
        [{ name: 'id', type: { kind: 'int32' }, nullable: false }, ...ALL],
        ['id'],
      );
      expect(await target.tableColumns(plan.target)).toBeNull();
      await target.createTable(plan);
      expect(await target.tableColumns(plan.target)).toEqual(['id', ...ALL.map((c) => c.name)]);
      const writer = await target.openBatch(plan);
      expect(
        await writer.writeChunk([
          [1, ...ALL.map((c) => c.value)],
          [2, ...ALL.map(() => null)],
        ]),
      ).toEqual([]);
      await writer.commit();
      const typeofs = stored(
        file,
        `SELECT ${ALL.map((c) => `typeof("${c.name}")`).join(', ')} FROM every_type WHERE id = 1`,
      )[0];
      expect(Object.fromEntries(ALL.map((c, i) => [c.name, typeofs![i]]))).toEqual(
        Object.fromEntries(ALL.map((c) => [c.name, c.storage])),
      );
      const rows = await collect(target.readRows(plan));
      expect(rows).toHaveLength(2);
      expect(rows[0]).toEqual([1, ...ALL.map((c) => c.value)]);
      expect(rows[1]).toEqual([2, ...ALL.map(() => null)]);
    } finally {
      await target.close();
    }
  });

  it('creates the directory, then a table with its key, NOT NULL, defaults and CHECKs', async () => {
    const file = dir.file('deep/er/target.db');
    const target = await SqliteTarget.open({ type: 'sqlite', path: file });
    try {
      expect(target.caps).toMatchObject({
        dialect: 'sqlite',
        atomicChunks: false,
        maxConcurrentWriters: 1,
        textAllowsNul: true,
        foldIdentifiers: false,
      });
      const plan = planOf(
        'order "items"',
        [
          { name: 'id', type: { kind: 'int64' }, identity: true, nullable: false },
          {
            name: 'select',
            type: { kind: 'text' },
            nullable: false,
            default: { kind: 'literal', value: "it's" },
          },
          { name: 'flag', type: { kind: 'boolean' }, default: { kind: 'literal', value: 'true' } },
          { name: 'size', type: { kind: 'text' }, check: { kind: 'in', values: ['s', 'm'] } },
          {
            name: 'tags',
            type: { kind: 'text-array' },
            check: { kind: 'subset', values: ['x'] },
            default: { kind: 'literal', value: '{"x"}' },
          },
          { name: 'at', type: { kind: 'timestamptz' }, default: { kind: 'now' } },
        ],
        ['id'],
        { autoIncrementNext: '100' },
      );
      await target.createTable(plan);
      const writer = await target.openBatch(plan);
      const failures = await writer.writeChunk([
        [1, 'a', true, 's', ['x'], '2024-01-01 00:00:00+00:00'],
        [2, null, false, 'm', null, null],
        [3, 'c', null, 'xl', null, null],
        [4, 'd', false, null, [], null],
        ['x', 'e', false, null, null, null],
      ]);
      expect(failures.map((f) => [f.index, f.error.code])).toEqual([
        [1, 'DATA_ERROR'],
        [2, 'DATA_ERROR'],
        [4, 'DATA_ERROR'],
      ]);
      expect(failures[0]!.error.message).toMatch(/NOT NULL/);
      expect(failures[1]!.error.message).toMatch(/CHECK/);
      expect(failures[0]!.error.dbCode).toBe('SQLITE_CONSTRAINT_NOTNULL');
      await writer.commit();
      expect(
        stored(file, 'SELECT id, "select", flag, size, tags FROM "order ""items""" ORDER BY id'),
      ).toEqual([
        [1n, 'a', 1n, 's', '["x"]'],
        [4n, 'd', 0n, null, '[]'],
      ]);
      const db = new Database(file);
      db.prepare(`INSERT INTO "order ""items""" (id) VALUES (5)`).run();
      expect(
        db
          .prepare(
            `SELECT "select", flag, tags, at LIKE '____-__-__ __:__:__+00:00' AS ok FROM "order ""items""" WHERE id = 5`,
          )
          .get(),
      ).toEqual({
        select: "it's",
        flag: 1,
        tags: '["x"]',
        ok: 1,
      });
      db.close();
      const report = await target.finalizeTable(plan);
      expect(report).toEqual({ done: ['identity id'], failed: [] });
      const after = new Database(file);
      after.prepare(`INSERT INTO "order ""items""" ("select") VALUES ('next')`).run();
      expect(after.prepare(`SELECT max(id) AS id FROM "order ""items"""`).get()).toEqual({
        id: 100,
      });
      after.close();
    } finally {
      await target.close();
    }
  });

  it('adds generated columns and ON UPDATE triggers after the load, idempotently', async () => {
    const file = newFile('finalize');
    const target = await SqliteTarget.open({ type: 'sqlite', path: file });
    try {
      const plan = planOf(
        'items',
        [
          { name: 'id', type: { kind: 'int32' }, nullable: false },
          { name: 'n', type: { kind: 'int32' } },
          { name: 'changed', type: { kind: 'timestamp' }, onUpdateNow: true },
        ],
        ['id'],
        {
          generated: [
            { name: 'twice', type: { kind: 'int64' }, expression: '"n" * 2', stored: true },
          ],
        },
      );
      await target.createTable(plan);
      await expect(
        target.createTable({ ...plan, target: { name: 'ITEMS' } }),
      ).rejects.toMatchObject({
        code: 'SCHEMA_CONFLICT',
      });
      const w = await target.openBatch(plan);
      await w.writeChunk([[1, 21, '2000-01-01 00:00:00']]);
      await w.commit();
      const report = await target.finalizeTable(plan);
      expect(report.failed).toEqual([]);
      expect(report.done).toEqual([
        'on-update trigger changed',
        'generated column twice (VIRTUAL: SQLite cannot add a STORED one)',
      ]);
      expect((await target.finalizeTable(plan)).failed).toEqual([]);
      expect(await target.tableColumns({ name: 'items' })).toEqual(['id', 'n', 'changed', 'twice']);
      const db = new Database(file);
      db.prepare('UPDATE items SET n = 5 WHERE id = 1').run();
      const row = db.prepare('SELECT twice, changed FROM items').get() as {
        twice: number;
        changed: string;
      };
      db.close();
      expect(row.twice).toBe(10);
      expect(row.changed).not.toBe('2000-01-01 00:00:00');
      expect(row.changed).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    } finally {
      await target.close();
    }
  });

  it('deleteRange and deleteKeys make a batch idempotent, also on a decimal key stored as text', async () => {
    const file = newFile('idem');
    const target = await SqliteTarget.open({ type: 'sqlite', path: file });
    try {
      const plan = planOf(
        'dec',
        [
          { name: 'k', type: { kind: 'decimal', precision: 20, scale: 0 }, nullable: false },
          { name: 'v', type: { kind: 'text' } },
        ],
        ['k'],
      );
      await target.createTable(plan);
      const rows: Row[] = ['9', '10', '99', '100', '18446744073709551615'].map((k) => [k, `v${k}`]);
      const batch = async (lo: KeyTuple | null, hi: KeyTuple | null, write: Row[]) => {
        const w = await target.openBatch(plan);
        await w.deleteRange({ lo, hi });
        expect(await w.writeChunk(write)).toEqual([]);
        await w.commit();
      };
      await batch(null, ['99'], rows.slice(0, 2));
      await batch(['99'], null, rows.slice(2));
      await batch(['99'], null, rows.slice(2));
      await batch(null, ['99'], rows.slice(0, 2));
      // Each rewrite found its rows deleted (no duplicate-key failure), and nothing else went.
      expect(
        stored(file, 'SELECT k FROM dec')
          .map((r) => r[0])
          .sort(),
      ).toEqual(['10', '100', '18446744073709551615', '9', '99']);

      const comp = planOf(
        'comp',
        [
          { name: 't', type: { kind: 'text' }, nullable: false },
          { name: 'n', type: { kind: 'int64' }, nullable: false },
          { name: 'v', type: { kind: 'text' } },
        ],
        ['t', 'n'],
        { keyOrderSafe: false },
      );
      await target.createTable(comp);
      const data: Row[] = [
        ['a', 1, 'x'],
        ['a', '9007199254740993', 'y'],
        ['B', 2, 'z'],
      ];
      for (let i = 0; i < 3; i++) {
        const w = await target.openBatch(comp);
        await w.deleteKeys(data.map((r) => [r[0], r[1]]));
        expect(await w.writeChunk(data)).toEqual([]);
        await w.commit();
      }
      expect(await target.countRows({ name: 'comp' })).toBe(3);
      const w = await target.openBatch(comp);
      await w.deleteKeys([['a', '9007199254740993']]);
      await w.commit();
      expect(stored(file, 'SELECT t, n FROM comp ORDER BY t, n')).toEqual([
        ['B', 2n],
        ['a', 1n],
      ]);

      const ints = planOf(
        'ints',
        [{ name: 'id', type: { kind: 'int64' }, nullable: false }],
        ['id'],
      );
      await target.createTable(ints);
      const iw = await target.openBatch(ints);
      expect(
        await iw.writeChunk([[1], ['9007199254740993'], ['9223372036854775808']]),
      ).toMatchObject([{ index: 2, error: { code: 'DATA_ERROR' } }]);
      await iw.deleteRange({ lo: ['9007199254740992'], hi: ['9007199254740994'] });
      await iw.commit();
      expect(stored(file, 'SELECT id FROM ints')).toEqual([[1n]]);
    } finally {
      await target.close();
    }
  });

  it('rolls back to a savepoint, rolls back a whole batch, and lets one writer at a time in', async () => {
    const file = newFile('tx');
    const target = await SqliteTarget.open({ type: 'sqlite', path: file });
    try {
      const plan = planOf('t', [{ name: 'id', type: { kind: 'int32' }, nullable: false }], ['id']);
      await target.createTable(plan);
      const first = await target.openBatch(plan);
      await first.writeChunk([[1]]);
      await first.savepoint();
      await first.writeChunk([[2]]);
      await first.rollbackToSavepoint();
      let secondOpened = false;
      const second = target.openBatch(plan).then((w) => {
        secondOpened = true;
        return w;
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(secondOpened).toBe(false);
      await first.commit();
      const w2 = await second;
      await w2.writeChunk([[3]]);
      await w2.rollback();
      await w2.rollback();
      expect(stored(file, 'SELECT id FROM t')).toEqual([[1n]]);
    } finally {
      await target.close();
    }
  });

  it('creates indexes after the load and reports the ones that fail instead of throwing', async () => {
    const file = newFile('idx');
    const target = await SqliteTarget.open({ type: 'sqlite', path: file });
    try {
      const plan = planOf(
        't',
        [
          { name: 'id', type: { kind: 'int32' }, nullable: false },
          { name: 'email', type: { kind: 'varchar', length: 50 } },
          { name: 'name', type: { kind: 'text' } },
        ],
        ['id'],
        {
          indexes: [
            { name: 't_email', unique: true, columns: [{ name: 'email', prefixLength: 10 }] },
            { name: 't_name', unique: false, columns: [{ name: 'name', descending: true }] },
          ],
        },
      );
      await target.createTable(plan);
      const w = await target.openBatch(plan);
      await w.writeChunk([
        [1, 'a@x', 'a'],
        [2, 'a@x', 'b'],
      ]);
      await w.commit();
      const report = await target.finalizeTable(plan);
      expect(report.done).toEqual(['index t_name']);
      expect(report.failed).toEqual([
        { what: 'index t_email', error: expect.stringMatching(/UNIQUE/) },
      ]);
      expect(await target.finalizeTable(plan)).toMatchObject({ done: ['index t_name'] });
    } finally {
      await target.close();
    }
  });

  it('declares foreign keys with the table, checks them after the load, and reports those it cannot add', async () => {
    const file = newFile('fk');
    const target = await SqliteTarget.open({ type: 'sqlite', path: file });
    try {
      const parent = planOf(
        'parent',
        [{ name: 'id', type: { kind: 'int64' }, nullable: false }],
        ['id'],
      );
      const child = planOf(
        'child',
        [
          { name: 'id', type: { kind: 'int64' }, nullable: false },
          { name: 'parent_id', type: { kind: 'int64' } },
        ],
        ['id'],
        {
          foreignKeys: [
            {
              name: 'child_parent_fkey',
              columns: ['parent_id'],
              refTable: { name: 'parent' },
              refColumns: ['id'],
              onDelete: 'CASCADE',
            },
          ],
        },
      );
      await target.createTable(child);
      await target.createTable(parent);
      const w = await target.openBatch(child);
      await w.writeChunk([
        [1, 1],
        [2, 7],
        [3, null],
      ]);
      await w.commit();
      const p = await target.openBatch(parent);
      await p.writeChunk([[1]]);
      await p.commit();
      expect(await target.createForeignKeys(child)).toEqual({
        done: [],
        failed: [
          {
            what: 'foreign key child_parent_fkey',
            error: '1 row(s) reference missing parent rows',
          },
        ],
      });
      const fix = await target.openBatch(parent);
      await fix.writeChunk([[7]]);
      await fix.commit();
      expect(await target.createForeignKeys(child)).toEqual({
        done: ['foreign key child_parent_fkey'],
        failed: [],
      });
      expect(await target.createForeignKeys(parent)).toEqual({ done: [], failed: [] });
      const existing = { ...child, target: { name: 'legacy' }, source: { name: 'legacy' } };
      await target.createTable({ ...existing, foreignKeys: [] });
      expect(await target.createForeignKeys(existing)).toEqual({
        done: [],
        failed: [
          {
            what: 'foreign key child_parent_fkey',
            error: 'SQLite cannot add a foreign key to an existing table',
          },
        ],
      });
    } finally {
      await target.close();
    }
  });
});

describe('SQLite → SQLite jobs', () => {
  const connectors: Connectors = {
    openSource: async (c, o) => SqliteSource.open(c as SqliteConfig, o),
    openTarget: async (c, o) => SqliteTarget.open(c as SqliteConfig, o),
  };
  let sourceFile: string;
  let targetFile: string;
  let store: Awaited<ReturnType<typeof openTestStore>>;

  const TABLES: Array<{ name: string; order: string }> = [
    { name: 'users', order: 'id' },
    { name: 'events', order: 'tenant, seq' },
    { name: 'log_lines', order: 'at, level, msg, n' },
  ];

  beforeAll(async () => {
    store = await openTestStore('sqlite');
    targetFile = newFile('e2e-target');
    sourceFile = makeDb(
      'e2e-source',
      `
      CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT, email VARCHAR(100) NOT NULL UNIQUE, name TEXT, active BOOLEAN NOT NULL,
        balance DECIMAL(12,2), score REAL, big BIGINT, avatar BLOB, born DATE, created DATETIME, wake TIME, prefs JSON, note TEXT
      );
      CREATE INDEX users_name ON users (name);
      CREATE TABLE events (
        tenant TEXT NOT NULL, seq INTEGER NOT NULL, user_id INTEGER REFERENCES users (id), payload TEXT,
        PRIMARY KEY (tenant, seq)
      ) WITHOUT ROWID;
      CREATE TABLE log_lines (at DATETIME, level TEXT, msg TEXT, n INTEGER);
      `,
    );
    const db = new Database(sourceFile);
    db.exec('BEGIN');
    const u = db.prepare(
      'INSERT INTO users (email, name, active, balance, score, big, avatar, born, created, wake, prefs, note) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
    );
    const specials = [
      '',
      'tab\there',
      'line\nbreak',
      'back\\slash',
      '\\N',
      '\\.',
      'nul\u0000byte',
      'emoji 😀',
      'quote \' "',
    ];
    for (let i = 1; i <= 3000; i++) {
      u.run(
        `user${i}@example.com`,
        i % 7 === 0 ? null : `User ${i}`,
        i % 3 === 0 ? 0 : 1,
        i % 11 === 0 ? null : ((i * 37) % 100000) / 100,
        i % 13 === 0 ? null : i / 7,
        i % 5 === 0
          ? 9007199254740993n + BigInt(i)
          : i % 17 === 0
            ? -9223372036854775808n
            : i * 1000,
        i % 4 === 0 ? null : Buffer.from([0, i % 256, 0, (i * 7) % 256]),
        `19${String(50 + (i % 50)).padStart(2, '0')}-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')}`,
        `2024-01-${String((i % 28) + 1).padStart(2, '0')} ${String(i % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00.${String(i % 1000).padStart(3, '0')}`,
        `${String(i % 24).padStart(2, '0')}:30:00`,
        JSON.stringify({ i, big: '9007199254740993', tags: ['a', 'b'] }),
        specials[i % specials.length]!,
      );
    }
    db.prepare(`UPDATE sqlite_sequence SET seq = 5000 WHERE name = 'users'`).run();
    const e = db.prepare('INSERT INTO events VALUES (?,?,?,?)');
    const tenants = ['acme', 'Acme', 'beta', 'zeta', 'Ünicode'];
    for (let i = 0; i < 2500; i++) {
      const seq =
        BigInt(Math.floor(i / 5) * (i % 2 ? -1 : 1)) + (i % 3 === 0 ? 9007199254740993n : 0n);
      e.run(tenants[i % 5], seq, (i % 3000) + 1, `payload ${i}`);
    }
    const l = db.prepare('INSERT INTO log_lines VALUES (?,?,?,?)');
    for (let i = 0; i < 2000; i++)
      l.run(
        `2024-02-01 00:00:${String(i % 60).padStart(2, '0')}`,
        i % 2 ? 'info' : 'warn',
        `line ${i % 700}`,
        i % 10,
      );
    db.exec('COMMIT');
    db.close();
  });

  afterAll(async () => {
    await store.cleanup();
  });

  async function migrate(options: Partial<JobOptions> = {}) {
    const created = await store.store.createJob({
      tenantId: 'test',
      source: { type: 'sqlite', path: sourceFile },
      target: { type: 'sqlite', path: targetFile },
      options: { ...DEFAULT_JOB_OPTIONS, batchSize: 400, verify: 'checksum', ...options },
      startedBy: 'test',
    });
    const job = (await store.store.getJobWithSecrets(created.id))!;
    return runJob({ ledger: store.store, job, connectors, workerId: 'test-worker' });
  }

  function expectSameRows(): void {
    for (const t of TABLES) {
      const sql = `SELECT * FROM ${t.name} ORDER BY ${t.order}`;
      const source = stored(sourceFile, sql);
      const target = stored(targetFile, sql);
      expect(target.length, t.name).toBe(source.length);
      expect(target, t.name).toEqual(source);
    }
  }

  it('copies every row and value exactly, with keys, indexes and foreign keys', async () => {
    const outcome = await migrate();
    expect(outcome.error).toBeNull();
    expect(outcome.status).toBe('completed');
    expect(outcome.tables.map((t) => [t.name, t.rowsWritten, t.rowsFailed, t.validation])).toEqual([
      ['events', 2500, 0, 'passed'],
      ['log_lines', 2000, 0, 'passed'],
      ['users', 3000, 0, 'passed'],
    ]);
    expectSameRows();
    const db = new Database(targetFile, { readonly: true });
    try {
      const schema = db
        .prepare(`SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL`)
        .all() as Array<{ name: string; sql: string }>;
      const ddl = new Map(schema.map((s) => [s.name, s.sql]));
      expect(ddl.get('users')).toMatch(/"id" INTEGER PRIMARY KEY AUTOINCREMENT/);
      expect(ddl.get('users')).toMatch(/"active" BOOLEAN NOT NULL/);
      expect(ddl.get('events')).toMatch(/PRIMARY KEY \("tenant", "seq"\)/);
      expect(ddl.get('events')).toMatch(/FOREIGN KEY \("user_id"\) REFERENCES "users" \("id"\)/);
      expect([...ddl.keys()]).toEqual(
        expect.arrayContaining(['users_users_name', 'users_email_key']),
      );
      expect(db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'users'`).get()).toEqual({
        seq: 5000,
      });
      expect(db.prepare('SELECT count(*) AS n FROM pragma_foreign_key_check').get()).toEqual({
        n: 0,
      });
    } finally {
      db.close();
    }
  });

  it('runs again into the existing tables without duplicating a row', async () => {
    const outcome = await migrate();
    expect(outcome.error).toBeNull();
    expect(outcome.status).toBe('completed');
    expect(outcome.tables.map((t) => [t.name, t.rowsWritten, t.rowsFailed, t.validation])).toEqual([
      ['events', 2500, 0, 'passed'],
      ['log_lines', 2000, 0, 'passed'],
      ['users', 3000, 0, 'passed'],
    ]);
    expectSameRows();
  });

  it('stores a row failure and commits the rest when the target rejects a record', async () => {
    const db = new Database(targetFile);
    db.exec(
      `CREATE TRIGGER no_user_42 BEFORE INSERT ON users WHEN NEW.id = 42 BEGIN SELECT RAISE(ABORT, 'user 42 is not welcome'); END`,
    );
    db.close();
    const outcome = await migrate({ tables: ['users'] });
    expect(outcome.status).toBe('completed_with_errors');
    const users = outcome.tables.find((t) => t.name === 'users')!;
    expect([users.rowsWritten, users.rowsFailed]).toEqual([2999, 1]);
    expect(stored(targetFile, 'SELECT count(*) FROM users')).toEqual([[2999n]]);
    expect(stored(targetFile, 'SELECT count(*) FROM users WHERE id = 42')).toEqual([[0n]]);
  });
});
