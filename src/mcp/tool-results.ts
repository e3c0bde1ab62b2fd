import { ERRORS, type ErrorCode } from '../domain/errors.js';

/** What a tool call hands back: structured content plus the same data as JSON text. */
export interface ToolResult {
  [key: string]: unknown;
  content: Array<{ type: 'text'; text: string }>;
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

export function toolSuccess(output: Record<string, unknown>): ToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(output, null, 2) }],
    structuredContent: output,
  };
}

/** What to do next, per error code: a model reads this and can act on it. */
const NEXT_STEPS: Partial<Record<ErrorCode, string>> = {
  JOB_NOT_FOUND: 'call list_migration_jobs to find the job id',
  NOT_FOUND:
    "check the ids (list_job_batches lists a job's batches; list_tenants and list_api_keys the rest)",
  CONFLICT: "call get_migration_job to see the job's status first",
  VALIDATION_FAILED: 'fix the named argument and call again',
  BAD_REQUEST: 'fix the arguments and call again',
  TENANT_REQUIRED: 'set FREIGHT_TENANT_ID (stdio) or send X-Tenant-ID (HTTP)',
  UNAUTHENTICATED:
    'check the API key (FREIGHT_API_KEY for stdio, the Authorization header for HTTP)',
  FORBIDDEN: 'this needs a key with a higher role (viewer < engineer < admin) or the right tenant',
  RATE_LIMITED: 'wait and call again',
  CONNECTION_FAILED: 'check the host, port, database name and credentials of the named config',
  AUTH_FAILED: 'check the database user and password in the config',
  TABLE_NOT_FOUND:
    "check the table names (the source's tables are listed in the job's error details)",
  UNAVAILABLE: 'check that the Freight API is running and FREIGHT_API_URL points to it',
  INTERNAL: 'try again; if it persists, report the request id',
};

/**
 * A failure as a tool result (not a protocol error): the HTTP-style status, the code, the reason
 * and the next step — e.g. "404 JOB_NOT_FOUND: job abc not found for tenant acme-corp — call
 * list_migration_jobs to find the job id".
 */
export function toolError(
  status: number,
  code: string,
  message: string,
  details?: Record<string, unknown>,
): ToolResult {
  const next = NEXT_STEPS[code as ErrorCode] ?? (status >= 500 ? NEXT_STEPS.INTERNAL : undefined);
  const field = typeof details?.field === 'string' ? ` (argument: ${details.field})` : '';
  const text = `${status} ${code}: ${message}${field}${next ? ` — ${next}` : ''}`;
  // No structuredContent: clients check it against the tool's output schema even on errors.
  return { isError: true, content: [{ type: 'text', text }] };
}

export function statusOf(code: string): number {
  return (ERRORS as Record<string, { status: number }>)[code]?.status ?? 500;
}
