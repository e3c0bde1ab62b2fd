import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { FreightError } from '../domain/errors.js';
import { ERRORS, isFreightError, type ErrorCode } from '../domain/errors.js';

/**
 * The one error shape (DESIGN.md §3): `{error: {code, message, details?}, request_id}` for every
 * failure — validation (which field, why), unknown routes, rate limits. A 500 says only that
 * something failed and which request it was; the cause goes to the server log.
 */
export interface ErrorPayload {
  error: { code: string; message: string; details?: Record<string, unknown> };
  request_id: string;
}

export function errorPayload(
  code: ErrorCode,
  message: string,
  requestId: string,
  details?: Record<string, unknown>,
): ErrorPayload {
  return { error: { code, message, ...(details ? { details } : {}) }, request_id: requestId };
}

const MAX_ISSUES = 20;
const clip = (text: string, max = 200) => (text.length > max ? `${text.slice(0, max)}…` : text);

/** Maps anything thrown while serving a request to a status and the one error shape. */
export function toErrorResponse(
  error: unknown,
  request: FastifyRequest,
): { status: number; payload: ErrorPayload } {
  const id = String(request.id);
  if (isFreightError(error)) {
    return {
      status: error.status,
      payload: errorPayload(error.code, error.message, id, error.details),
    };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where =
      (error as FastifyError & { validationContext?: string }).validationContext ?? 'request';
    // Echoed input is clipped (a 100 KB unknown key is named, not sent back five times), and so is the list.
    const issues = error.validation.slice(0, MAX_ISSUES).map((v) => {
      const params = v.params as { keys?: string[] };
      const path = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
      const field = params.keys?.length
        ? [path, params.keys.join(',')].filter(Boolean).join('.')
        : path || where;
      return { field: clip(field), message: clip(v.message ?? 'invalid') };
    });
    const first = issues[0]!;
    const label = where === 'querystring' ? 'query' : where;
    // "body: expected object" for the whole body, "body batch_size: too small" for a field.
    const subject = first.field === where ? label : `${label} ${first.field}`;
    return {
      status: 400,
      payload: errorPayload('VALIDATION_FAILED', `${subject}: ${first.message}`, id, {
        location: label,
        field: first.field,
        issues,
      }),
    };
  }
  const fe = error as FastifyError;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return {
      status: 413,
      payload: errorPayload('PAYLOAD_TOO_LARGE', 'the request body is too large', id),
    };
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return {
      status: 415,
      payload: errorPayload('BAD_REQUEST', 'send the body as application/json', id),
    };
  }
  if (
    fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
    fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
    (fe.statusCode === 400 && error instanceof SyntaxError)
  ) {
    return { status: 400, payload: errorPayload('BAD_REQUEST', 'the body is not valid JSON', id) };
  }
  if (fe.code === 'FST_ERR_BAD_URL')
    return {
      status: 400,
      payload: errorPayload('BAD_REQUEST', 'the URL is not valid (a malformed %-escape)', id),
    };
  if (fe.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return {
      status: 414,
      payload: errorPayload('BAD_REQUEST', 'a path parameter is too long', id),
    };
  if (fe.statusCode === 429)
    return {
      status: 429,
      payload: errorPayload('RATE_LIMITED', fe.message || ERRORS.RATE_LIMITED.message, id),
    };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return {
      status: fe.statusCode,
      payload: errorPayload('BAD_REQUEST', 'the request is invalid', id),
    };
  }
  return {
    status: 500,
    payload: errorPayload(
      'INTERNAL',
      `internal error; quote request id ${id} when reporting it`,
      id,
    ),
  };
}

export function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  const { status, payload } = toErrorResponse(error, reply.request);
  if (status >= 500 && !isFreightError(error))
    reply.request.log.error({ err: error }, 'request failed');
  else if (status >= 500)
    reply.request.log.warn({ code: (error as FreightError).code }, 'request failed');
  // RFC 6750: a 401 names the scheme it wants, so clients (the MCP SDK among them) know to send a Bearer credential.
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="freight"');
  // Also here, not only in the onSend hook: errors the router raises before any route (frameworkErrors) skip the hooks.
  reply.header('x-request-id', String(reply.request.id));
  if (status === 429) {
    const retryAfter =
      (error as { retryAfter?: number }).retryAfter ??
      (isFreightError(error)
        ? (error.details?.retry_after_seconds as number | undefined)
        : undefined);
    if (retryAfter) reply.header('retry-after', retryAfter);
  }
  return reply.code(status).type('application/json; charset=utf-8').send(payload);
}
