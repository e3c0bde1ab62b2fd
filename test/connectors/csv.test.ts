import { createWriteStream, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import v8 from 'node:v8';
import vm from 'node:vm';
import { parse } from 'csv-parse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsvSource } from '../../src/connectors/csv/csv-source.js';
import { parseConnectionUrl, type ConnectionConfig } from '../../src/domain/connection.js';
import { FreightError } from '../../src/domain/errors.js';
import type { Row, SourceTable } from '../../src/engine/ports.js';
import { createPgSchema, tempDir } from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';
import { runConnectorJob } from './run-connector-job.js';

type CsvConfig = Extract<ConnectionConfig, { type: 'csv' }>;

const pgUp = await hasService('postgres');

async function collect<T>(chunks: AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const chunk of chunks) out.push(...chunk);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<FreightError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(FreightError);
    return error as FreightError;
  }
  throw new Error('expected a failure');
}

/** Opens a CSV source on `path` and reads its only (or named) table whole. */
async function readAll(
  path: string,
  options: { delimiter?: string; table?: string } = {},
): Promise<{ table: SourceTable; rows: Row[] }> {
  const source = await CsvSource.open({
    type: 'csv',
    path,
    ...(options.delimiter ? { delimiter: options.delimiter } : {}),
  });
  const [ref] = options.table ? [{ name: options.table }] : await source.listTables();
  const table = await source.describeTable(ref!);
  const rows = await collect(
    source.readRows(
      table,
      table.columns.map((c) => c.name),
      [],
      null,
    ),
  );
  await source.close();
  return { table, rows };
}

describe('CSV source', () => {
  const tmp = tempDir('freight-csv-');
  afterAll(() => tmp.remove());

  it('reads a file as one table named after the file, every column nullable text', async () => {
    const file = tmp.file('people.csv');
    writeFileSync(file, 'id,name,Note\n1,Ann,hello\n2,Bob,\n');
    const source = await CsvSource.open({ type: 'csv', path: file });
    expect(source.caps).toEqual({ dialect: 'csv', keysetReads: false });
    expect(source.description).toBe(`csv:${file}`);
    expect(await source.listTables()).toEqual([{ name: 'people' }]);
    const table = await source.describeTable({ name: 'people' });
    expect(table).toEqual({
      ref: { name: 'people' },
      columns: ['id', 'name', 'Note'].map((name) => ({
        name,
        nativeType: 'text',
        type: { kind: 'text' },
        nullable: true,
      })),
      primaryKey: [],
      indexes: [],
      foreignKeys: [],
      estimatedRows: 2,
    });
    expect(await collect(source.scanKeys(table, [], null))).toEqual([]);
    expect(await collect(source.readRows(table, ['id', 'name', 'Note'], [], null))).toEqual([
      ['1', 'Ann', 'hello'],
      ['2', 'Bob', null],
    ]);
    expect(await collect(source.readRows(table, ['Note', 'id'], [], null))).toEqual([
      ['hello', '1'],
      [null, '2'],
    ]);
    expect(await source.countRows(table)).toBe(2);
    await source.close();
  });

  it('reads a directory as one table per .csv file, in name order', async () => {
    const dir = tmp.file('many');
    mkdirSync(dir);
    mkdirSync(`${dir}/sub`);
    writeFileSync(`${dir}/orders.csv`, 'id\n1\n');
    writeFileSync(`${dir}/Customers.CSV`, 'id\n1\n2\n');
    writeFileSync(`${dir}/2024.items.csv`, 'id\n');
    writeFileSync(`${dir}/readme.txt`, 'not a table');
    writeFileSync(`${dir}/sub/nested.csv`, 'id\n1\n');
    const source = await CsvSource.open({ type: 'csv', path: dir });
    expect(await source.listTables()).toEqual([
      { name: '2024.items' },
      { name: 'Customers' },
      { name: 'orders' },
    ]);
    const customers = await source.describeTable({ name: 'Customers' });
    expect(await source.countRows(customers)).toBe(2);
    expect(await source.countRows(await source.describeTable({ name: '2024.items' }))).toBe(0);
    const missing = await failure(source.describeTable({ name: 'nested' }));
    expect(missing.code).toBe('TABLE_NOT_FOUND');
  });

  it('rejects a header with an empty or a repeated name, naming the column position', async () => {
    writeFileSync(tmp.file('empty-name.csv'), 'a,,c\n1,2,3\n');
    const empty = await failure(readAll(tmp.file('empty-name.csv')));
    expect(empty.code).toBe('SCHEMA_CONFLICT');
    expect(empty.message).toContain('column 2 of the header has no name');
    writeFileSync(tmp.file('dup.csv'), 'a,b,a\n1,2,3\n');
    const dup = await failure(readAll(tmp.file('dup.csv')));
    expect(dup.code).toBe('SCHEMA_CONFLICT');
    expect(dup.message).toContain('column 3 of the header repeats the name "a" of column 1');
    writeFileSync(tmp.file('nothing.csv'), '');
    const nothing = await failure(readAll(tmp.file('nothing.csv')));
    expect(nothing.code).toBe('SCHEMA_CONFLICT');
    expect(nothing.message).toContain('is empty');
  });

  it('tells NULL (empty unquoted) from the empty string (quoted "")', async () => {
    writeFileSync(tmp.file('nulls.csv'), 'a,b,c\n,"",x\n"",,\n');
    expect((await readAll(tmp.file('nulls.csv'))).rows).toEqual([
      [null, '', 'x'],
      ['', null, null],
    ]);
  });

  it('tells NULL from "" exactly as csv-parse’s own quoting flag does, on random files', async () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pieces = [
      '',
      '""',
      'a',
      '"a""b"',
      '"x,y"',
      '"x;y"',
      '"line\nbreak"',
      '"\r\n"',
      '""""',
      'é',
      '" "',
      '"\t"',
    ];
    for (let round = 0; round < 40; round++) {
      const delimiter = [',', ';', '\t'][round % 3]!;
      const eol = round % 2 === 0 ? '\n' : '\r\n';
      const columns = 1 + (round % 4);
      const lines = [Array.from({ length: columns }, (_, i) => `c${i}`).join(delimiter)];
      for (let r = 0; r < 30; r++)
        lines.push(
          Array.from({ length: columns }, () => pieces[random(pieces.length)]!).join(delimiter),
        );
      const text = `${round % 5 === 0 ? '\uFEFF' : ''}${lines.join(eol)}${eol}`;
      const file = tmp.file(`fuzz-${round}.csv`);
      writeFileSync(file, text);
      const expected = await new Promise<unknown[]>((resolve, reject) =>
        parse(
          text,
          {
            bom: true,
            delimiter,
            skip_empty_lines: columns > 1,
            cast: (v, c) => (c.quoting ? v : v === '' ? null : v),
          },
          (error, records) => (error ? reject(error) : resolve(records.slice(1))),
        ),
      );
      expect({ round, rows: (await readAll(file, { delimiter })).rows }).toEqual({
        round,
        rows: expected,
      });
    }
  });

  it('keeps embedded newlines, quotes, delimiters, tabs, backslashes, COPY markers and emoji exactly', async () => {
    const values = [
      'line 1\nline 2',
      'say "hi"',
      'a,b',
      'tab\there',
      'C:\\path\\N',
      '\\N',
      '\\.',
      '😀 ünïcødé',
      ' padded ',
      "'single'",
    ];
    const quote = (v: string) => `"${v.replaceAll('"', '""')}"`;
    writeFileSync(
      tmp.file('tricky.csv'),
      `n,v\n${values.map((v, i) => `${i},${quote(v)}`).join('\n')}\n`,
    );
    expect((await readAll(tmp.file('tricky.csv'))).rows).toEqual(
      values.map((v, i) => [String(i), v]),
    );
    // Unquoted fields keep backslashes and inner spaces too.
    writeFileSync(tmp.file('bare.csv'), 'a,b\nC:\\x\\N, two words \n');
    expect((await readAll(tmp.file('bare.csv'))).rows).toEqual([['C:\\x\\N', ' two words ']]);
  });

  it('drops a UTF-8 BOM and accepts CRLF line ends (keeping a CRLF inside quotes)', async () => {
    writeFileSync(tmp.file('bom.csv'), '\uFEFFid,name\r\n1,"a\r\nb"\r\n2,x\r\n');
    const { table, rows } = await readAll(tmp.file('bom.csv'));
    expect(table.columns.map((c) => c.name)).toEqual(['id', 'name']);
    expect(rows).toEqual([
      ['1', 'a\r\nb'],
      ['2', 'x'],
    ]);
  });

  it('uses the configured delimiter', async () => {
    writeFileSync(tmp.file('semi.csv'), 'a;b\n1,5;x\n');
    expect((await readAll(tmp.file('semi.csv'), { delimiter: ';' })).rows).toEqual([['1,5', 'x']]);
    writeFileSync(tmp.file('tabs.tsv'), 'a\tb\n1\t"x\ty"\n');
    expect((await readAll(tmp.file('tabs.tsv'), { delimiter: '\t' })).rows).toEqual([
      ['1', 'x\ty'],
    ]);
  });

  it('skips blank lines in files of several columns, and reads them as NULL in a one-column file', async () => {
    writeFileSync(tmp.file('blank.csv'), 'a,b\n1,2\n\n3,4\n\n');
    expect((await readAll(tmp.file('blank.csv'))).rows).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
    writeFileSync(tmp.file('one.csv'), 'a\n1\n\n""\n3\n');
    expect((await readAll(tmp.file('one.csv'))).rows).toEqual([['1'], [null], [''], ['3']]);
  });

  it('reports a row with another field count as SCHEMA_CONFLICT naming the line', async () => {
    writeFileSync(tmp.file('ragged.csv'), 'a,b\n1,2\n"multi\nline",4\n5\n6,7\n');
    const e = await failure(readAll(tmp.file('ragged.csv')));
    expect(e.code).toBe('SCHEMA_CONFLICT');
    expect(e.message).toMatch(/ragged\.csv: line 5: .*expect 2, got 1/);
    const source = await CsvSource.open({ type: 'csv', path: tmp.file('ragged.csv') });
    expect(
      (await failure(source.countRows(await source.describeTable({ name: 'ragged' })))).code,
    ).toBe('SCHEMA_CONFLICT');
  });

  it('reports an unclosed quote and invalid UTF-8 as SCHEMA_CONFLICT naming the line', async () => {
    writeFileSync(tmp.file('unclosed.csv'), 'a,b\n1,2\n3,"never closed\n');
    const unclosed = await failure(readAll(tmp.file('unclosed.csv')));
    expect(unclosed.code).toBe('SCHEMA_CONFLICT');
    expect(unclosed.message).toMatch(/line \d+: Quote Not Closed/);
    writeFileSync(
      tmp.file('latin1.csv'),
      Buffer.concat([Buffer.from('a,b\n1,ok\n2,caf'), Buffer.from([0xe9]), Buffer.from('\n')]),
    );
    const latin1 = await failure(readAll(tmp.file('latin1.csv')));
    expect(latin1.code).toBe('SCHEMA_CONFLICT');
    expect(latin1.message).toContain('latin1.csv: line 3: not valid UTF-8');
  });

  it('fails with DATABASE_NOT_FOUND naming a missing path', async () => {
    const e = await failure(CsvSource.open({ type: 'csv', path: tmp.file('no/such/file.csv') }));
    expect(e.code).toBe('DATABASE_NOT_FOUND');
    expect(e.message).toContain(tmp.file('no/such/file.csv'));
  });

  it('answers probes from the data', async () => {
    writeFileSync(tmp.file('probe.csv'), 'flag,s\n0,x\n1,""\n,\n');
    const source = await CsvSource.open({ type: 'csv', path: tmp.file('probe.csv') });
    const table = await source.describeTable({ name: 'probe' });
    expect(
      await source.probe(table, [
        { kind: 'only-01', column: 'flag' },
        { kind: 'has-empty', column: 's' },
        { kind: 'has-empty', column: 'flag' },
        { kind: 'max', column: 'flag' },
      ]),
    ).toEqual([true, true, false, null]);
  });

  describe('a 200k-row file', () => {
    const ROWS = 200_000;
    let file: string;

    beforeAll(async () => {
      file = tmp.file('big.csv');
      const out = createWriteStream(file);
      out.write('id,name,payload\n');
      for (let i = 1; i <= ROWS; i++) {
        if (!out.write(`${i},"name ${i}",${'x'.repeat(80)}\n`)) await once(out, 'drain');
      }
      out.end();
      await once(out, 'finish');
    });

    it('streams in chunks of at most 1000 records with bounded memory', async () => {
      const source = await CsvSource.open({ type: 'csv', path: file });
      const table = await source.describeTable({ name: 'big' });
      expect(table.estimatedRows).toBeGreaterThan(ROWS * 0.9);
      expect(table.estimatedRows).toBeLessThan(ROWS * 1.1);
      const size = statSync(file).size;
      // Live heap (after a full GC) measured while reading: what the reader holds, not garbage.
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      const live = () => {
        gc();
        return process.memoryUsage().heapUsed;
      };
      const baseline = live();
      let peak = 0;
      let chunks = 0;
      let rows = 0;
      let last: Row | undefined;
      for await (const chunk of source.readRows(table, ['id', 'name', 'payload'], [], null)) {
        chunks++;
        rows += chunk.length;
        expect(chunk.length).toBeLessThanOrEqual(1000);
        last = chunk.at(-1);
        if (chunks % 25 === 0) peak = Math.max(peak, live() - baseline);
      }
      expect(rows).toBe(ROWS);
      expect(chunks).toBeGreaterThanOrEqual(200);
      expect(last).toEqual([String(ROWS), `name ${ROWS}`, 'x'.repeat(80)]);
      // Holding the file's rows would take several times its size in heap; streaming holds a few chunks.
      expect(peak).toBeLessThan(size / 4);
      expect(await source.countRows(table)).toBe(ROWS);
    });

    it('stops reading when its signal aborts', async () => {
      const source = await CsvSource.open({ type: 'csv', path: file });
      const table = await source.describeTable({ name: 'big' });
      const controller = new AbortController();
      let chunks = 0;
      const reading = (async () => {
        for await (const _chunk of source.readRows(table, ['id'], [], null, controller.signal)) {
          chunks++;
          if (chunks === 3) controller.abort();
        }
      })();
      await expect(reading).rejects.toMatchObject({ name: 'AbortError' });
      expect(chunks).toBe(3);
    });
  });
});

describe.skipIf(!pgUp)('CSV → PostgreSQL through the engine', () => {
  const tmp = tempDir('freight-csv-e2e-');
  let pg: Awaited<ReturnType<typeof createPgSchema>>;
  let result: Awaited<ReturnType<typeof runConnectorJob>>;
  const values: Array<[string | null, string | null]> = [
    ['plain', 'Ann'],
    [null, ''],
    ['', null],
    ['line 1\nline 2\r\nline 3', 'say "hi", \'bye\''],
    ['tab\there', 'C:\\path\\to\\N'],
    ['\\N', '\\.'],
    ['😀 ünïcødé', '  padded  '],
  ];

  beforeAll(async () => {
    pg = await createPgSchema('csvdst');
    const cell = (v: string | null) => (v === null ? '' : `"${v.replaceAll('"', '""')}"`);
    writeFileSync(
      tmp.file('Contacts.csv'),
      `\uFEFFn,Label,value\r\n${values.map(([a, b], i) => `${i + 1},${cell(a)},${cell(b)}`).join('\r\n')}\r\n`,
    );
    writeFileSync(tmp.file('empty.csv'), 'only_header\n');
    const source: CsvConfig = { type: 'csv', path: tmp.dir };
    result = await runConnectorJob(source, parseConnectionUrl(pg.url), (c) =>
      CsvSource.open(c as CsvConfig),
    );
  });

  afterAll(async () => {
    await pg?.drop();
    tmp.remove();
  });

  it('completes as one batch per file, and checksum validation passes', () => {
    expect(result.outcome.error).toBeNull();
    expect(result.outcome.status).toBe('completed');
    expect(result.tables.map((t) => [t.name, t.targetName, t.validation])).toEqual([
      ['Contacts', `${pg.name}.contacts`, 'passed'],
      ['empty', `${pg.name}.empty`, 'passed'],
    ]);
    const planned = result.events.filter((e) => e.type === 'table-planned');
    expect(planned.map((e) => (e as { batches: number }).batches)).toEqual([1, 1]);
  });

  it('creates text columns and copies every value, NULL and empty string apart', async () => {
    const types = await pg.query(
      `SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull FROM pg_attribute
        WHERE attrelid = $1::regclass AND attnum > 0 ORDER BY attnum`,
      [`"${pg.name}".contacts`],
    );
    expect(types.rows).toEqual(
      ['n', 'label', 'value'].map((attname) => ({ attname, type: 'text', attnotnull: false })),
    );
    const rows = await pg.query(`SELECT label, value FROM "${pg.name}".contacts ORDER BY n::int`);
    expect(rows.rows.map((r) => [r.label, r.value])).toEqual(values);
    expect((await pg.query(`SELECT count(*)::int AS n FROM "${pg.name}".empty`)).rows[0].n).toBe(0);
  });

  it('is unaffected by a second run into the existing tables (the file is reloaded atomically)', async () => {
    const again = await runConnectorJob(
      { type: 'csv', path: tmp.dir },
      parseConnectionUrl(pg.url),
      (c) => CsvSource.open(c as CsvConfig),
    );
    expect(again.outcome.status).toBe('completed');
    expect((await pg.query(`SELECT count(*)::int AS n FROM "${pg.name}".contacts`)).rows[0].n).toBe(
      values.length,
    );
  });
});
