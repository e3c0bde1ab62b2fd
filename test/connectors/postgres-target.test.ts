import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresTarget } from '../../src/connectors/postgres/postgres-target.js';
import { parseConnectionUrl } from '../../src/domain/connection.js';
import { FreightError } from '../../src/domain/errors.js';
import type { ColumnPlan, TablePlan } from '../../src/engine/plan.js';
import type { BatchWriter } from '../../src/engine/ports.js';
import { createPgSchema } from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';

/**
 * The PostgreSQL target's batch writer when its connection dies: whatever the moment, the write
 * fails with a transient error (so the batch is retried) — it never hangs — and the pool goes on
 * serving good connections.
 */

const pgUp = await hasService('postgres');

function plan(schema: string): TablePlan {
  const columns: ColumnPlan[] = [
    {
      name: 'id',
      source: 'id',
      sourceType: { kind: 'integer', bytes: 4, unsigned: false },
      nativeType: 'int',
      type: { kind: 'int32' },
      nullable: false,
    },
    {
      name: 'name',
      source: 'name',
      sourceType: { kind: 'text' },
      nativeType: 'text',
      type: { kind: 'text' },
      nullable: true,
    },
  ];
  return {
    source: { name: 'items' },
    target: { schema, name: 'items' },
    columns,
    keySourceColumns: ['id'],
    keyPositions: [0],
    keyOrderSafe: true,
    primaryKey: ['id'],
    indexes: [],
    foreignKeys: [],
    generated: [],
    estimatedRows: 0,
    notes: [],
  };
}

/** The backend pid serving a writer's connection (found by the client's local port). */
async function backendOf(
  writer: BatchWriter,
  query: (sql: string, params?: unknown[]) => Promise<{ rows: any[] }>,
): Promise<number> {
  const port = (writer as any).client.connection.stream.localPort as number;
  const { rows } = await query(
    `SELECT pid FROM pg_stat_activity WHERE client_port = $1 AND application_name = 'freight'`,
    [port],
  );
  expect(rows, `the backend of local port ${port}`).toHaveLength(1);
  return rows[0].pid as number;
}

describe.skipIf(!pgUp)('PostgreSQL target: a batch whose connection is terminated', () => {
  let pg: Awaited<ReturnType<typeof createPgSchema>>;
  let target: PostgresTarget;
  let table: TablePlan;

  beforeAll(async () => {
    pg = await createPgSchema('fpgt');
    target = await PostgresTarget.open(
      parseConnectionUrl(pg.url) as Parameters<typeof PostgresTarget.open>[0],
      { poolSize: 2 },
    );
    table = plan(pg.name);
    await target.createTable(table);
  });
  afterAll(async () => {
    await target?.close();
    await pg?.drop();
  });

  const rows = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => [from + i, `row ${from + i}`]);

  it('before the COPY starts (the server never accepts it): a transient error, not a hang', async () => {
    const writer = await target.openBatch(table);
    const pid = await backendOf(writer, pg.query);
    await pg.query('SELECT pg_terminate_backend($1)', [pid]);
    // Let the client see the connection end before it sends the COPY.
    await new Promise((r) => setTimeout(r, 300));
    const error = await writer.writeChunk(rows(1, 10)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FreightError);
    expect((error as FreightError & { kind?: string }).kind).toBe('transient');
    await writer.rollback();
  }, 15_000);

  it('after the server accepted the COPY, while a stream of rows is being written: a transient error, not a hang', async () => {
    const writer = await target.openBatch(table);
    const pid = await backendOf(writer, pg.query);
    let sent = 0;
    const chunks = (async function* () {
      for (let i = 0; i < 200; i++) {
        if (i === 3) await pg.query('SELECT pg_terminate_backend($1)', [pid]);
        if (i > 3) await new Promise((r) => setTimeout(r, 5));
        sent += 500;
        yield rows(1000 + i * 500, 500);
      }
    })();
    const error = await writer.writeStream(chunks).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FreightError);
    expect((error as FreightError & { kind?: string }).kind).toBe('transient');
    expect(sent).toBeLessThan(200 * 500);
    await writer.rollback();
  }, 15_000);

  it('a failure of the source mid-COPY aborts the COPY, and that connection is reused cleanly', async () => {
    const writer = await target.openBatch(table);
    const chunks = (async function* () {
      yield rows(50_000, 100);
      throw new Error('the source went away');
    })();
    await expect(writer.writeStream(chunks)).rejects.toThrow(/the source went away/);
    await writer.rollback();
    expect(
      (await pg.query(`SELECT count(*)::int AS n FROM "${pg.name}".items WHERE id >= 50000`))
        .rows[0].n,
    ).toBe(0);
  }, 15_000);

  it('afterwards the pool serves working connections: a batch commits', async () => {
    // Both pool slots in turn: neither is a dead connection handed out again.
    for (let attempt = 0; attempt < 2; attempt++) {
      const writer = await target.openBatch(table);
      await writer.deleteKeys([[-1]]);
      await writer.rollback();
    }
    const writer = await target.openBatch(table);
    expect(await writer.writeChunk(rows(100_000, 5))).toEqual([]);
    await writer.commit();
    expect((await pg.query(`SELECT count(*)::int AS n FROM "${pg.name}".items`)).rows[0].n).toBe(5);
  }, 15_000);
});

describe.skipIf(!pgUp)('PostgreSQL target: COPY format by the actual table', () => {
  let pg: Awaited<ReturnType<typeof createPgSchema>>;
  let target: PostgresTarget;

  beforeAll(async () => {
    pg = await createPgSchema('fpgf');
    target = await PostgresTarget.open(
      parseConnectionUrl(pg.url) as Parameters<typeof PostgresTarget.open>[0],
      { poolSize: 2 },
    );
  });
  afterAll(async () => {
    await target?.close();
    await pg?.drop();
  });

  const write = async (table: TablePlan, rows: unknown[][]) => {
    const writer = await target.openBatch(table);
    const binary = (writer as unknown as { binary: boolean }).binary;
    await writer.writeChunk(rows);
    await writer.commit();
    return binary;
  };

  it('writes binary into a table of exactly the planned types, text into anything else', async () => {
    const created = plan(pg.name);
    await target.createTable(created);
    expect(
      await write(created, [
        [1, 'one'],
        [2, Buffer.from('two\ttabbed')],
      ]),
    ).toBe(true);

    // An existing table whose id is text and name varchar: the planned int32 cannot go in binary.
    await pg.query(`CREATE TABLE "${pg.name}".loose (id text PRIMARY KEY, name varchar(20))`);
    const loose = { ...created, target: { schema: pg.name, name: 'loose' } };
    expect(
      await write(loose, [
        [1, 'one'],
        [2, Buffer.from('two\ttabbed')],
      ]),
    ).toBe(false);

    for (const name of ['items', 'loose'])
      expect(
        (await pg.query(`SELECT id::text, name FROM "${pg.name}".${name} ORDER BY id`)).rows,
      ).toEqual([
        { id: '1', name: 'one' },
        { id: '2', name: 'two\ttabbed' },
      ]);
  });

  it('a value the binary encoder refuses fails its chunk as a record error, not the batch', async () => {
    const created = { ...plan(pg.name), target: { schema: pg.name, name: 'strict' } };
    await target.createTable(created);
    const writer = await target.openBatch(created);
    await writer.savepoint();
    const error = await writer
      .writeChunk([
        [1, 'ok'],
        ['x1', 'bad id'],
      ])
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(FreightError);
    expect((error as FreightError & { kind?: string }).kind).toBe('data');
    expect((error as Error).message).toMatch(/invalid input syntax for type integer: "x1"/);
    await writer.rollbackToSavepoint();
    await writer.writeChunk([[1, 'ok']]);
    await writer.commit();
    expect((await pg.query(`SELECT count(*)::int AS n FROM "${pg.name}".strict`)).rows[0].n).toBe(
      1,
    );
  });
});
