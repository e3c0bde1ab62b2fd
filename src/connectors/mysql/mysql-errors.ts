import { FreightError, isFreightError, type ErrorCode } from '../../domain/errors.js';
import { scrub } from '../scrub.js';

/**
 * MySQL/MariaDB driver errors → Freight codes (STYLE.md: graphile-worker's table of driver codes).
 * Connection loss, deadlocks and lock timeouts are transient and retried; the rest are not.
 */
const BY_CODE: Record<string, ErrorCode> = {
  // transient
  ECONNREFUSED: 'TRANSIENT',
  ECONNRESET: 'TRANSIENT',
  EPIPE: 'TRANSIENT',
  ETIMEDOUT: 'TRANSIENT',
  EHOSTUNREACH: 'TRANSIENT',
  ENETUNREACH: 'TRANSIENT',
  EAI_AGAIN: 'TRANSIENT',
  PROTOCOL_CONNECTION_LOST: 'TRANSIENT',
  PROTOCOL_SEQUENCE_TIMEOUT: 'TRANSIENT',
  ER_LOCK_DEADLOCK: 'TRANSIENT',
  ER_LOCK_WAIT_TIMEOUT: 'TRANSIENT',
  ER_CON_COUNT_ERROR: 'TRANSIENT',
  ER_SERVER_SHUTDOWN: 'TRANSIENT',
  ER_QUERY_INTERRUPTED: 'TRANSIENT',
  ER_CONNECTION_KILLED: 'TRANSIENT',
  ER_TOO_MANY_USER_CONNECTIONS: 'TRANSIENT',
  ER_CLIENT_INTERACTION_TIMEOUT: 'TRANSIENT',
  // whole-job
  ENOTFOUND: 'CONNECTION_FAILED',
  ER_ACCESS_DENIED_ERROR: 'AUTH_FAILED',
  ER_ACCESS_DENIED_NO_PASSWORD_ERROR: 'AUTH_FAILED',
  ER_DBACCESS_DENIED_ERROR: 'PERMISSION_DENIED',
  ER_TABLEACCESS_DENIED_ERROR: 'PERMISSION_DENIED',
  ER_COLUMNACCESS_DENIED_ERROR: 'PERMISSION_DENIED',
  ER_BAD_DB_ERROR: 'DATABASE_NOT_FOUND',
  ER_NO_SUCH_TABLE: 'TABLE_NOT_FOUND',
  ER_BAD_FIELD_ERROR: 'SCHEMA_CONFLICT',
};

const BY_ERRNO: Record<number, ErrorCode> = {
  1040: 'TRANSIENT',
  1053: 'TRANSIENT',
  1205: 'TRANSIENT',
  1213: 'TRANSIENT',
  1317: 'TRANSIENT',
  1927: 'TRANSIENT',
  2006: 'TRANSIENT',
  2013: 'TRANSIENT',
  1045: 'AUTH_FAILED',
  1044: 'PERMISSION_DENIED',
  1142: 'PERMISSION_DENIED',
  1049: 'DATABASE_NOT_FOUND',
  1146: 'TABLE_NOT_FOUND',
};

export function mysqlError(
  error: unknown,
  where: string,
  secrets: readonly string[],
): FreightError {
  if (isFreightError(error)) return error;
  const e = error as {
    code?: string;
    errno?: number;
    message?: string;
    sqlMessage?: string;
    fatal?: boolean;
  };
  let code: ErrorCode =
    (e.code && BY_CODE[e.code]) || (e.errno !== undefined && BY_ERRNO[e.errno]) || 'DATABASE_ERROR';
  // Any other error that kills the connection is worth a retry on a fresh one.
  if (code === 'DATABASE_ERROR' && e.fatal) code = 'TRANSIENT';
  const text = e.sqlMessage ?? e.message ?? String(error);
  const dbCode = e.code ?? (e.errno !== undefined ? String(e.errno) : undefined);
  return new FreightError(code, scrub(`${where}: ${text}`, secrets), {
    cause: error,
    ...(dbCode ? { dbCode } : {}),
  });
}
