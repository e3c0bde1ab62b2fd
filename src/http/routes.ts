import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ERRORS, FreightError } from '../domain/errors.js';
import type { Caller } from '../domain/access.js';
import type { Operation, OperationContext } from '../operations/operation.js';
import type { Services } from '../operations/services.js';
import { ErrorBody } from '../operations/schemas.js';
import { authorize, recordAuthFailure } from './access.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    operation?: Operation;
  }
  interface FastifyRequest {
    caller: Caller | null;
    tenantId: string | null;
    auditTarget: string | null;
  }
}

/** `/api/v1/jobs/{job_id}` → `/api/v1/jobs/:job_id`. */
export function fastifyPath(path: string): string {
  return path.replace(/\{([a-z_]+)\}/g, ':$1');
}

/** Where this server is reached from the client's point of view (for links it hands out). */
export function baseUrlOf(request: FastifyRequest, configured: string | undefined): string {
  if (configured) return configured.replace(/\/$/, '');
  const host = request.headers.host ?? `localhost`;
  return `${request.protocol}://${host}`;
}

/**
 * Mounts every operation as a route: zod schemas for params, query, body and responses (so the
 * OpenAPI document comes from the same definitions), authorization first, then the handler.
 */
export function mountOperations(
  app: FastifyInstance,
  services: Services,
  operations: readonly Operation[],
  publicUrl: string | undefined,
): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  for (const op of operations) {
    const response: Record<number, z.ZodType> = { [op.successStatus]: op.output };
    for (const code of op.errors)
      response[ERRORS[code].status] = ErrorBody.describe(
        `${ERRORS[code].message} (error.code ${code}, or another code with this status)`,
      );
    response[400] ??= ErrorBody.describe('Bad request');
    response[500] ??= ErrorBody.describe('Internal error');
    typed.route({
      method: op.method,
      url: fastifyPath(op.path),
      config: { operation: op },
      schema: {
        operationId: op.id,
        summary: op.summary,
        description: op.description,
        tags: [...op.tags],
        ...(op.params ? { params: op.params } : {}),
        ...(op.query ? { querystring: op.query } : {}),
        ...(op.body ? { body: op.body } : {}),
        ...(op.tenantScoped
          ? {
              headers: z
                .object({
                  'x-tenant-id': z
                    .string()
                    .describe(
                      'The tenant acted for; must match the credential (admins may name any tenant).',
                    ),
                })
                .passthrough(),
            }
          : {}),
        response,
        ...(op.role ? { security: [{ bearerAuth: [] }] } : { security: [] }),
      },
      // An operation whose body fields are all optional may be called without a body at all.
      ...(op.body && op.body.safeParse({}).success
        ? {
            preValidation: async (request: FastifyRequest) => {
              if (request.body === undefined || request.body === null) request.body = {};
            },
          }
        : {}),
      // Before the body is read or validated: an unauthenticated caller learns nothing and sends nothing big.
      onRequest: async (request) => {
        const { caller, tenantId } = await authorize(services, op, request);
        request.caller = caller;
        request.tenantId = tenantId;
      },
      handler: async (request, reply) => {
        const ctx: OperationContext = {
          services,
          caller: request.caller,
          tenantId: request.tenantId,
          requestId: String(request.id),
          baseUrl: baseUrlOf(request, publicUrl),
        };
        const input = {
          params: (request.params ?? {}) as never,
          query: (request.query ?? {}) as never,
          body: (request.body ?? (op.body ? op.body.parse({}) : {})) as never,
        };
        let output: unknown;
        try {
          output = await op.handler(ctx, input);
        } catch (error) {
          // A key refused by the handler itself (the token exchange's api_key) counts like a refused credential.
          if (error instanceof FreightError && error.code === 'UNAUTHENTICATED')
            recordAuthFailure(services, request.ip);
          throw error;
        }
        if (op.audited) request.auditTarget = op.auditTarget?.(input, output) ?? null;
        return reply.code(op.successStatus).send(output as never);
      },
    });
  }
}

/**
 * Records every state-changing call in the audit trail, failures included (who, tenant, what,
 * when, result). Written before the response goes out (onSend), so a caller who has the answer
 * can already read its record, and a crash after the response cannot lose it.
 */
export function registerAudit(app: FastifyInstance, services: Services): void {
  app.decorateRequest('caller', null);
  app.decorateRequest('tenantId', null);
  app.decorateRequest('auditTarget', null);
  app.addHook('onSend', async (request, reply, payload) => {
    const op = request.routeOptions.config.operation;
    if (!op?.audited) return payload;
    // A refused request's path parameters were never validated (authorization comes first): only a well-formed id is recorded as the target.
    const params = op.params?.safeParse(request.params ?? {}).success
      ? ((request.params ?? {}) as Record<string, unknown>)
      : {};
    const target =
      request.auditTarget ??
      (typeof params.job_id === 'string'
        ? params.job_id
        : typeof params.key_id === 'string'
          ? params.key_id
          : null);
    await services.store
      .appendAudit({
        tenantId: request.tenantId ?? request.caller?.tenantId ?? null,
        actor: request.caller?.keyId ?? null,
        role: request.caller?.role ?? null,
        action: op.id,
        method: request.method,
        path: op.path,
        target,
        status: reply.statusCode,
        result: reply.statusCode < 400 ? 'success' : 'failure',
        requestId: String(request.id),
        details: null,
      })
      .catch((error: unknown) => request.log.error({ err: error }, 'audit write failed'));
    return payload;
  });
}

export function notFound(method: string, url: string): FreightError {
  return new FreightError('NOT_FOUND', `no route ${method} ${url.split('?')[0]}`);
}
