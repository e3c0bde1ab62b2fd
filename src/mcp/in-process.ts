import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  hostHeaderValidationResponse,
  createMcpHandler,
  localhostAllowedHostnames,
  originValidationResponse,
} from '@modelcontextprotocol/server';
import type { Caller } from '../domain/access.js';
import { roleAllows } from '../domain/access.js';
import { FreightError, isFreightError } from '../domain/errors.js';
import { authenticateThrottled, tenantHeader } from '../http/access.js';
import { baseUrlOf } from '../http/routes.js';
import { OPERATIONS } from '../operations/index.js';
import type { Operation } from '../operations/operation.js';
import type { Services } from '../operations/services.js';
import { createMcpServer, type McpServerOptions } from './create-server.js';
import { toolError, toolSuccess, type ToolResult } from './tool-results.js';
import { splitToolArgs } from './tools.js';

export interface McpHttpOptions extends McpServerOptions {
  /** Host names the endpoint answers to (DNS-rebinding protection); default: localhost names. */
  readonly allowedHosts?: readonly string[];
  /** Browser origins allowed to call it; default: localhost origins. */
  readonly allowedOrigins?: readonly string[];
  readonly publicUrl?: string;
}

/**
 * The stateless Streamable HTTP endpoint at /mcp on the API server: the same authentication,
 * tenancy and roles as REST (Authorization, X-Tenant-ID), tools calling the operations in-process.
 * Host and Origin are checked; the caller's token is never forwarded anywhere.
 */
export function mcpHttpPlugin(services: Services, options: McpHttpOptions = {}) {
  return async (app: FastifyInstance): Promise<void> => {
    const allowedHosts = [...(options.allowedHosts ?? localhostAllowedHostnames())];
    const allowedOrigins = [...(options.allowedOrigins ?? localhostAllowedHostnames())];
    app.route({
      method: ['GET', 'POST', 'DELETE'],
      url: '/mcp',
      schema: { hide: true },
      handler: async (request, reply) => {
        const url = `${request.protocol}://${request.headers.host ?? 'localhost'}${request.url}`;
        const headers = new Headers();
        for (const [k, v] of Object.entries(request.headers))
          if (typeof v === 'string') headers.set(k, v);
        const webRequest = new Request(url, {
          method: request.method,
          headers,
          ...(request.method === 'POST' ? { body: JSON.stringify(request.body ?? null) } : {}),
        });
        const rejected =
          hostHeaderValidationResponse(webRequest, allowedHosts) ??
          originValidationResponse(webRequest, allowedOrigins);
        if (rejected) return sendWeb(reply, rejected);
        // Throttled like REST: failed authentications here count against the address too.
        const caller = await authenticateThrottled(
          services,
          request.headers.authorization,
          request.ip,
        );
        const tenantId = tenantHeader(request.headers['x-tenant-id']);
        const baseUrl = baseUrlOf(request, options.publicUrl);
        const invoke = inProcessInvoker(services, caller, tenantId, baseUrl, String(request.id));
        // Default response mode: one JSON body (tools emit nothing before their result). 'json' would
        // make the SDK print a warning to stderr on every request, since a handler is made per request.
        const handler = createMcpHandler(() =>
          createMcpServer(OPERATIONS, invoke, { ...options, role: caller.role }),
        );
        try {
          const response = await handler.fetch(webRequest, { parsedBody: request.body });
          return sendWeb(reply, response);
        } finally {
          void handler.close();
        }
      },
    });
  };
}

async function sendWeb(reply: FastifyReply, response: Response) {
  reply.code(response.status);
  response.headers.forEach((value, key) => {
    if (key !== 'content-length' && key !== 'transfer-encoding') reply.header(key, value);
  });
  return reply.send(Buffer.from(await response.arrayBuffer()));
}

/**
 * Calls operations in this process with the caller's identity: the same checks the REST routes
 * make (tenant header, tenant match, role), the same handlers, and the audit trail for changes.
 */
export function inProcessInvoker(
  services: Services,
  caller: Caller,
  tenantId: string | null,
  baseUrl: string,
  requestId: string,
) {
  return async (op: Operation, args: Record<string, unknown>): Promise<ToolResult> => {
    let status: number;
    try {
      let actingTenant: string | null = null;
      if (op.tenantScoped) {
        if (!tenantId)
          throw new FreightError(
            'TENANT_REQUIRED',
            'this tool acts for a tenant: send the X-Tenant-ID header with the MCP request',
          );
        if (tenantId !== caller.tenantId) {
          if (caller.role !== 'admin')
            throw new FreightError(
              'FORBIDDEN',
              'X-Tenant-ID does not match the tenant of your credential',
            );
          if (!(await services.store.getTenant(tenantId)))
            throw new FreightError('NOT_FOUND', `tenant ${tenantId} not found`);
        }
        actingTenant = tenantId;
      }
      if (op.role && !roleAllows(caller.role, op.role))
        throw new FreightError(
          'FORBIDDEN',
          `${op.id} needs the ${op.role} role; this credential is ${caller.role}`,
        );
      const input = splitToolArgs(op, args);
      const parsed = {
        params: op.params ? op.params.parse(input.params) : {},
        query: op.query ? op.query.parse(input.query) : {},
        body: op.body ? op.body.parse(input.body) : {},
      };
      const raw = await op.handler(
        { services, caller, tenantId: actingTenant, requestId, baseUrl },
        parsed as never,
      );
      const output = op.output.parse(raw) as Record<string, unknown>;
      status = op.successStatus;
      if (op.audited)
        await audit(
          services,
          op,
          caller,
          actingTenant,
          status,
          requestId,
          op.auditTarget?.(parsed as never, output) ?? null,
        );
      return toolSuccess(output);
    } catch (error) {
      const e = isFreightError(error)
        ? error
        : new FreightError(
            'INTERNAL',
            `internal error; quote request id ${requestId} when reporting it`,
          );
      status = e.status;
      if (op.audited)
        await audit(
          services,
          op,
          caller,
          tenantId,
          status,
          requestId,
          (args.job_id as string | undefined) ?? null,
        );
      return toolError(e.status, e.code, e.message, e.details);
    }
  };
}

async function audit(
  services: Services,
  op: Operation,
  caller: Caller,
  tenantId: string | null,
  status: number,
  requestId: string,
  target: string | null,
) {
  await services.store
    .appendAudit({
      tenantId: tenantId ?? caller.tenantId,
      actor: caller.keyId,
      role: caller.role,
      action: op.id,
      method: 'MCP',
      path: '/mcp',
      target,
      status,
      result: status < 400 ? 'success' : 'failure',
      requestId,
      details: null,
    })
    .catch(() => {});
}
