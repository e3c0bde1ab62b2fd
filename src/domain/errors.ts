/**
 * The one registry of Freight's error codes (DESIGN.md §3, STYLE.md: fastify `lib/errors.js`).
 *
 * Every failure Freight reports — an HTTP response, an MCP tool result, a CLI exit, a batch's
 * `last_error`, a record log line — carries one of these codes. The registry says, in one place,
 * which HTTP status a code maps to and how the engine treats it:
 *
 * - `transient`: worth retrying with backoff (connection reset, deadlock, timeout);
 * - `data`: a problem with one record's value; isolated by bisection and logged, the rest commits;
 * - `fatal`: retrying cannot help (wrong password, missing table, bad request); surfaces at once.
 */
export type ErrorKind = 'transient' | 'data' | 'fatal';

interface ErrorSpec {
  readonly status: number;
  readonly kind: ErrorKind;
  readonly message: string;
}

export const ERRORS = {
  // Request / API level
  BAD_REQUEST: { status: 400, kind: 'fatal', message: 'The request is invalid.' },
  VALIDATION_FAILED: { status: 400, kind: 'fatal', message: 'The request failed validation.' },
  TENANT_REQUIRED: { status: 400, kind: 'fatal', message: 'The X-Tenant-ID header is required.' },
  UNAUTHENTICATED: { status: 401, kind: 'fatal', message: 'Authentication is required.' },
  FORBIDDEN: { status: 403, kind: 'fatal', message: 'This credential may not do that.' },
  NOT_FOUND: { status: 404, kind: 'fatal', message: 'Not found.' },
  JOB_NOT_FOUND: { status: 404, kind: 'fatal', message: 'Job not found.' },
  CONFLICT: {
    status: 409,
    kind: 'fatal',
    message: 'The request conflicts with the current state.',
  },
  PAYLOAD_TOO_LARGE: { status: 413, kind: 'fatal', message: 'The request body is too large.' },
  RATE_LIMITED: { status: 429, kind: 'fatal', message: 'Too many requests.' },
  INTERNAL: { status: 500, kind: 'fatal', message: 'Internal error.' },
  UNAVAILABLE: { status: 503, kind: 'transient', message: 'The service is unavailable.' },

  // Configuration
  CONFIG_INVALID: { status: 500, kind: 'fatal', message: 'The configuration is invalid.' },
  CONNECTION_CONFIG_INVALID: {
    status: 400,
    kind: 'fatal',
    message: 'The connection configuration is invalid.',
  },

  // Databases (whole-job failures)
  CONNECTION_FAILED: { status: 400, kind: 'fatal', message: 'Cannot connect to the database.' },
  AUTH_FAILED: { status: 400, kind: 'fatal', message: 'The database rejected the credentials.' },
  DATABASE_NOT_FOUND: { status: 400, kind: 'fatal', message: 'The database does not exist.' },
  TABLE_NOT_FOUND: { status: 400, kind: 'fatal', message: 'The table does not exist.' },
  PERMISSION_DENIED: {
    status: 400,
    kind: 'fatal',
    message: 'The database user lacks a privilege.',
  },
  SCHEMA_CONFLICT: { status: 400, kind: 'fatal', message: 'The schemas cannot be reconciled.' },
  UNSUPPORTED: { status: 400, kind: 'fatal', message: 'This is not supported.' },
  POLICY_VIOLATION: {
    status: 400,
    kind: 'fatal',
    message: "The server's security policy does not allow this.",
  },
  DATABASE_ERROR: { status: 500, kind: 'fatal', message: 'The database reported an error.' },

  // Engine, per batch / record
  TRANSIENT: { status: 503, kind: 'transient', message: 'A transient database error occurred.' },
  DATA_ERROR: { status: 422, kind: 'data', message: 'A record could not be written.' },
  VALUE_POLICY: {
    status: 422,
    kind: 'data',
    message: 'A value was changed by an explicit policy.',
  },
  CANCELLED: { status: 409, kind: 'fatal', message: 'The operation was cancelled.' },
  VALIDATION_MISMATCH: { status: 500, kind: 'fatal', message: 'Source and target do not match.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** A failure with a registered code. `message` must never contain secrets. */
export class FreightError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  /** The database's own error code (SQLSTATE, errno, SQLITE_*), when there is one. */
  readonly dbCode: string | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    options: { details?: Record<string, unknown>; dbCode?: string; cause?: unknown } = {},
  ) {
    super(
      message ?? ERRORS[code].message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'FreightError';
    this.code = code;
    this.details = options.details;
    this.dbCode = options.dbCode;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  get kind(): ErrorKind {
    return ERRORS[this.code].kind;
  }
}

export function isFreightError(error: unknown): error is FreightError {
  return error instanceof FreightError;
}

/** The kind of any thrown value: unknown errors are fatal, so nothing retries forever by accident. */
export function errorKind(error: unknown): ErrorKind {
  return isFreightError(error) ? error.kind : 'fatal';
}

/** Wraps anything thrown into a FreightError without leaking internals into the message. */
export function toFreightError(error: unknown, fallback: ErrorCode = 'INTERNAL'): FreightError {
  if (isFreightError(error)) return error;
  if (isAbortError(error)) return new FreightError('CANCELLED', undefined, { cause: error });
  return new FreightError(fallback, undefined, { cause: error });
}

export function isAbortError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    ((error as { name?: unknown }).name === 'AbortError' ||
      (error as { code?: unknown }).code === 'ABORT_ERR')
  );
}
