import { randomUUID } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Metrics } from '../metrics/metrics.js';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import { VERSION } from '../config/version.js';
import { OPERATIONS } from '../operations/index.js';
import type { Operation } from '../operations/operation.js';
import type { Services } from '../operations/services.js';
import { errorPayload, sendError } from './errors.js';
import { mountExportDownload } from './export-route.js';
import { mountJobEvents } from './events-route.js';
import { mountOperations, notFound, registerAudit } from './routes.js';

export interface ServerOptions {
  /** Pino logger options, or false (tests). */
  readonly logger?: boolean | Record<string, unknown>;
  /** A pino logger to use instead (shared with the rest of the process). */
  readonly loggerInstance?: FastifyBaseLogger;
  /** Prometheus metrics to record requests into. */
  readonly metrics?: Metrics;
  /** Requests per tenant per window (default 600 per minute). */
  readonly rateLimit?: {
    readonly max: number;
    readonly windowMs: number;
    readonly redis?: Redis;
    /** Prefix of the Redis keys (one installation's counters apart from another's on a shared Redis). */
    readonly keyPrefix?: string;
  };
  /** Largest request body in bytes (default 1 MiB). */
  readonly bodyLimit?: number;
  /** Base URL for links this server hands out, when it sits behind a proxy. */
  readonly publicUrl?: string;
  readonly operations?: readonly Operation[];
  /** Extra routes (the MCP endpoint) registered with the same hooks. */
  readonly plugins?: ReadonlyArray<(app: FastifyInstance) => Promise<void> | void>;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/** Request log lines carry the request id and, once the request is authorized, its tenant. */
class RequestLogController extends LogController {
  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    const tenant = request.tenantId ?? request.caller?.tenantId ?? null;
    if (!tenant || this.isLogDisabled(request))
      return super.requestCompleted(error, request, reply, metadata);
    const log = reply.log.child({ tenant_id: tenant });
    if (error)
      log.error({ res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else log.info({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/**
 * The REST API (DESIGN.md §3): every operation as a route, the OpenAPI 3.1 document at
 * /openapi.json and Swagger UI at /docs from the same definitions; request ids on every
 * response; one error shape; per-tenant rate limits; an audit trail of state changes.
 */
export async function buildServer(
  services: Services,
  options: ServerOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.loggerInstance
      ? { loggerInstance: options.loggerInstance }
      : { logger: options.logger ?? false }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Export links carry their signed grant in the path.
    routerOptions: { maxParamLength: 2048 },
    logController: new RequestLogController({ requestIdLogLabel: 'request_id' }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Off unless the operator names the proxy (FREIGHT_TRUST_PROXY): otherwise anyone could pick their own address.
    trustProxy: trustProxyOption(services.config.trustProxy),
    // Errors the router raises before any route runs (a malformed %-escape, an over-long path parameter) get the one error shape too.
    frameworkErrors: (error, _request, reply) => sendError(reply, error),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((error, _request, reply) => sendError(reply, error));
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, notFound(request.method, request.url)),
  );
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', String(request.id));
  });
  if (options.metrics) {
    const metrics = options.metrics;
    app.addHook('onResponse', async (request, reply) => {
      metrics.observeRequest(
        request.method,
        request.routeOptions.url ?? 'unmatched',
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
    });
  }

  await app.register(fastifyHelmet, {
    contentSecurityPolicy: false,
    crossOriginResourcePolicy: { policy: 'same-origin' },
  });
  const limit = options.rateLimit ?? { max: 600, windowMs: 60_000 };
  await app.register(fastifyRateLimit, {
    global: true,
    max: limit.max,
    timeWindow: limit.windowMs,
    // After authorization (route onRequest hooks), so the limit is the tenant's.
    hook: 'preValidation',
    ...(limit.redis
      ? { redis: limit.redis, nameSpace: `${limit.keyPrefix ?? 'freight'}:rl:` }
      : {}),
    // Per tenant: the tenant the request acts for (authenticated by then), else the client address.
    keyGenerator: (request) =>
      request.tenantId
        ? `tenant:${request.tenantId}`
        : request.caller
          ? `tenant:${request.caller.tenantId}`
          : `ip:${request.ip}`,
    errorResponseBuilder: (request, context) => {
      const error = Object.assign(
        new Error(
          `rate limit of ${context.max} requests per ${context.after} exceeded; retry after ${Math.ceil(context.ttl / 1000)} s`,
        ),
        {
          statusCode: 429,
          retryAfter: Math.ceil(context.ttl / 1000),
          payload: errorPayload('RATE_LIMITED', 'rate limit exceeded', String(request.id)),
        },
      );
      return error;
    },
  });
  registerAudit(app, services);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Freight API',
        version: VERSION,
        description:
          'Multi-tenant data migration jobs: create, follow, retry and cancel migrations; read and export record logs; statistics and worker status. Every tenant route needs `Authorization: Bearer <API key or JWT>` and `X-Tenant-ID`. Errors have one shape: `{error: {code, message, details?}, request_id}`.',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key (fk_…) or a JWT from POST /api/v1/auth/token.',
          },
        },
      },
      tags: [
        { name: 'jobs', description: 'Migration jobs and their batches' },
        { name: 'logs', description: 'Record-level logs and exports' },
        { name: 'stats', description: 'Statistics' },
        { name: 'ops', description: 'Workers and health' },
        { name: 'auth', description: 'Tokens' },
        { name: 'admin', description: 'Tenants, keys and the audit trail (admins)' },
      ],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: true });
  const operations = options.operations ?? OPERATIONS;
  app.get('/openapi.json', { schema: { hide: true } }, async () =>
    optionalBodies(app.swagger() as OpenApiDocument, operations),
  );

  mountOperations(app, services, operations, options.publicUrl);
  mountExportDownload(app, services);
  mountJobEvents(app, services, options.publicUrl);
  for (const plugin of options.plugins ?? []) await plugin(app);
  await app.ready();
  return app;
}

type OpenApiDocument = {
  paths?: Record<string, Record<string, { requestBody?: { required?: boolean } }>>;
};

/** An operation whose body fields are all optional takes no body at all (the route accepts none): say so. */
function optionalBodies(doc: OpenApiDocument, operations: readonly Operation[]): OpenApiDocument {
  for (const op of operations) {
    const body = doc.paths?.[op.path]?.[op.method.toLowerCase()]?.requestBody;
    if (body && op.body?.safeParse({}).success) body.required = false;
  }
  return doc;
}

/** FREIGHT_TRUST_PROXY as Fastify takes it: a hop count becomes "trust the first n hops". */
function trustProxyOption(
  value: false | number | string,
): boolean | string | ((address: string, hop: number) => boolean) {
  if (typeof value === 'number') return (_address, hop) => hop < value;
  return value;
}
