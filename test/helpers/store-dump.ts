import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Config } from '../../src/config/config.js';
import { PG_STORE_URL } from './databases.js';

/**
 * Everything a metadata store holds, as text: every row of every table (one JSON line per row,
 * blobs decoded as UTF-8) and, for the SQLite store, the raw bytes of the database file and its
 * WAL — so a test can assert that a secret is nowhere in it, not even in a page SQLite freed.
 */
export async function dumpStore(
  config: Config,
): Promise<{ rows: Record<string, string[]>; raw: string }> {
  const rows: Record<string, string[]> = {};
  if (config.store.kind === 'sqlite') {
    const file = config.store.path;
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const tables = db
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`)
        .all() as Array<{ name: string }>;
      for (const { name } of tables) {
        const all = db.prepare(`SELECT * FROM "${name.replaceAll('"', '""')}"`).all() as Array<
          Record<string, unknown>
        >;
        rows[name] = all.map((r) =>
          JSON.stringify(r, (_k, v: unknown) =>
            Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'bigint' ? v.toString() : v,
          ),
        );
      }
    } finally {
      db.close();
    }
    const raw = [file, `${file}-wal`, `${file}-journal`]
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'));
    return { rows, raw: raw.join('\n') };
  }
  const schema = config.store.schema;
  const client = new pg.Client({ connectionString: PG_STORE_URL });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`,
      [schema],
    );
    for (const { table_name: name } of tables.rows) {
      const r = await client.query<{ j: string }>(
        `SELECT row_to_json(t)::text AS j FROM "${schema}"."${name.replaceAll('"', '""')}" t`,
      );
      rows[name] = r.rows.map((x) => x.j);
    }
  } finally {
    await client.end();
  }
  return { rows, raw: '' };
}
