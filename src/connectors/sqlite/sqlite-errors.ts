import { FreightError, isFreightError, type ErrorCode } from '../../domain/errors.js';

/**
 * better-sqlite3 errors → Freight codes, by SQLite result code (`SqliteError.code`, extended codes
 * such as `SQLITE_CONSTRAINT_NOTNULL` included). A locked database is transient (another writer
 * holds it: retry later); constraint and value errors are record errors, isolated per row; a file
 * that cannot be opened or is not a database fails the job at once.
 */
const BY_PREFIX: ReadonlyArray<readonly [string, ErrorCode]> = [
  ['SQLITE_BUSY', 'TRANSIENT'],
  ['SQLITE_LOCKED', 'TRANSIENT'],
  ['SQLITE_CONSTRAINT', 'DATA_ERROR'],
  ['SQLITE_MISMATCH', 'DATA_ERROR'],
  ['SQLITE_TOOBIG', 'DATA_ERROR'],
  ['SQLITE_RANGE', 'DATA_ERROR'],
  ['SQLITE_CANTOPEN', 'DATABASE_NOT_FOUND'],
  ['SQLITE_NOTADB', 'DATABASE_NOT_FOUND'],
  ['SQLITE_READONLY', 'PERMISSION_DENIED'],
  ['SQLITE_PERM', 'PERMISSION_DENIED'],
  ['SQLITE_AUTH', 'PERMISSION_DENIED'],
];

/**
 * Binding a value better-sqlite3 cannot store (a BigInt beyond 64 bits, an object) throws a plain
 * TypeError/RangeError before SQLite sees the row: that is a problem with the record, not the job.
 */
const BIND_ERROR = /can only bind|too big|bind/i;

/** Wraps anything better-sqlite3 throws; `where` says which database (never a secret: a path). */
export function sqliteError(error: unknown, where: string): FreightError {
  if (isFreightError(error)) return error;
  const e = error as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(error);
  const dbCode = typeof e.code === 'string' ? e.code : undefined;
  let code: ErrorCode = 'DATABASE_ERROR';
  const byPrefix = dbCode ? BY_PREFIX.find(([prefix]) => dbCode.startsWith(prefix)) : undefined;
  if (byPrefix) code = byPrefix[1];
  else if (/^no such table/i.test(message)) code = 'TABLE_NOT_FOUND';
  else if (
    !dbCode &&
    (error instanceof TypeError || error instanceof RangeError) &&
    BIND_ERROR.test(message)
  )
    code = 'DATA_ERROR';
  return new FreightError(code, `${where}: ${message}`, {
    cause: error,
    ...(dbCode ? { dbCode } : {}),
  });
}
