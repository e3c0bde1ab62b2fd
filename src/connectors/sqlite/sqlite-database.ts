import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { z } from 'zod';
import type { SqliteConnectionSchema } from '../../domain/connection.js';
import { FreightError } from '../../domain/errors.js';
import { sqliteError } from './sqlite-errors.js';

/** The `sqlite:<path>` connection config (domain/connection.ts). */
export type SqliteConfig = z.output<typeof SqliteConnectionSchema>;
/** A better-sqlite3 connection. */
export type Db = Database.Database;

/**
 * How long a statement waits for another process's lock before SQLITE_BUSY (then TRANSIENT and
 * retried). better-sqlite3 is synchronous, so the wait blocks the event loop: keep it short.
 */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens an existing database read-only. A missing file is DATABASE_NOT_FOUND naming the path —
 * never a new empty database that would silently migrate nothing. A file that is not a database is
 * caught here too, by reading the schema once.
 */
export function openSqliteReadOnly(file: string): Db {
  let db: Db | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
    return db;
  } catch (error) {
    db?.close();
    throw openError(error, file);
  }
}

/**
 * Opens (creating it and its directory when missing) a database to write. WAL lets the checksum
 * reader run beside the writer; `synchronous = NORMAL` is durable across process crashes in WAL
 * mode. Foreign keys are not enforced while loading: tables arrive in any order.
 */
export function openSqliteWritable(file: string): Db {
  let db: Db | undefined;
  try {
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = OFF');
    return db;
  } catch (error) {
    db?.close();
    throw openError(error, file);
  }
}

function openError(error: unknown, file: string): FreightError {
  const e = sqliteError(error, `sqlite:${file}`);
  if (e.code === 'DATABASE_NOT_FOUND' || /directory does not exist/i.test(e.message)) {
    return new FreightError(
      'DATABASE_NOT_FOUND',
      `SQLite database ${file} does not exist or is not a database (${e.message})`,
      {
        cause: error,
        ...(e.dbCode ? { dbCode: e.dbCode } : {}),
        details: { path: file },
      },
    );
  }
  return e;
}

/** Quotes an identifier: always double quotes, embedded quotes doubled (reserved words and all). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A string literal; SQLite has no backslash escapes. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
