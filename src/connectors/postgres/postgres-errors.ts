import { FreightError, isFreightError, type ErrorCode } from '../../domain/errors.js';
import { scrub } from '../scrub.js';

/**
 * PostgreSQL errors → Freight codes, by SQLSTATE (and Node socket codes). Connection exceptions,
 * serialization failures, deadlocks and server shutdowns are transient; data exceptions (class 22)
 * and integrity violations (class 23) are record errors, isolated by bisection.
 */
const BY_SQLSTATE: Record<string, ErrorCode> = {
  '40001': 'TRANSIENT',
  '40P01': 'TRANSIENT',
  '55P03': 'TRANSIENT',
  '53300': 'TRANSIENT',
  '53400': 'TRANSIENT',
  '57014': 'TRANSIENT',
  '57P01': 'TRANSIENT',
  '57P02': 'TRANSIENT',
  '57P03': 'TRANSIENT',
  '57P05': 'TRANSIENT',
  '58000': 'TRANSIENT',
  '28P01': 'AUTH_FAILED',
  '28000': 'AUTH_FAILED',
  '3D000': 'DATABASE_NOT_FOUND',
  '3F000': 'SCHEMA_CONFLICT',
  '42P01': 'TABLE_NOT_FOUND',
  '42501': 'PERMISSION_DENIED',
  '42703': 'SCHEMA_CONFLICT',
  '42804': 'SCHEMA_CONFLICT',
  '42P07': 'SCHEMA_CONFLICT',
};

const BY_NODE_CODE: Record<string, ErrorCode> = {
  ECONNREFUSED: 'TRANSIENT',
  ECONNRESET: 'TRANSIENT',
  EPIPE: 'TRANSIENT',
  ETIMEDOUT: 'TRANSIENT',
  EHOSTUNREACH: 'TRANSIENT',
  ENETUNREACH: 'TRANSIENT',
  EAI_AGAIN: 'TRANSIENT',
  ENOTFOUND: 'CONNECTION_FAILED',
};

export function postgresError(
  error: unknown,
  where: string,
  secrets: readonly string[],
): FreightError {
  if (isFreightError(error)) return error;
  const e = error as {
    code?: string;
    message?: string;
    detail?: string;
    column?: string;
    where?: string;
  };
  const message = e.message ?? String(error);
  let code: ErrorCode = 'DATABASE_ERROR';
  // Socket errors first: 'EPIPE' also looks like a five-character SQLSTATE.
  if (e.code && BY_NODE_CODE[e.code]) {
    code = BY_NODE_CODE[e.code]!;
  } else if (e.code && /^[0-9A-Z]{5}$/.test(e.code)) {
    code =
      BY_SQLSTATE[e.code] ??
      (e.code.startsWith('08')
        ? 'TRANSIENT'
        : e.code.startsWith('22') || e.code.startsWith('23')
          ? 'DATA_ERROR'
          : 'DATABASE_ERROR');
  } else if (
    /Connection terminated|connection.*(closed|ended)|Client has encountered a connection error|timeout exceeded when trying to connect|Query read timeout/i.test(
      message,
    )
  ) {
    code = 'TRANSIENT';
  }
  const detail = e.detail ? ` (${e.detail})` : '';
  return new FreightError(code, scrub(`${where}: ${message}${detail}`, secrets), {
    cause: error,
    ...(e.code ? { dbCode: e.code } : {}),
  });
}
