import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { SqliteDialect } from 'kysely';

/**
 * The Kysely dialect of the embedded metadata store. WAL lets readers (the API) run beside the
 * writer (the worker); `synchronous = NORMAL` is durable across process crashes in WAL mode.
 */
export function createSqliteStoreDialect(file: string): SqliteDialect {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  return new SqliteDialect({
    database: async () => {
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 10000');
      db.pragma('foreign_keys = ON');
      // Kysely prepares every query anew; the ledger runs the same few statements thousands of
      // times, so prepared statements are kept (they are reusable and the dialect runs one at a time).
      const prepare = db.prepare.bind(db);
      const cache = new Map<string, ReturnType<typeof prepare>>();
      db.prepare = ((source: string) => {
        let stmt = cache.get(source);
        if (!stmt) {
          stmt = prepare(source);
          if (cache.size >= 500) cache.delete(cache.keys().next().value!);
          cache.set(source, stmt);
        }
        return stmt;
      }) as typeof db.prepare;
      return db;
    },
  });
}
