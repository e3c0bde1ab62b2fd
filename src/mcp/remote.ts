import type { Operation } from '../operations/operation.js';
import { splitToolArgs } from './tools.js';
import { statusOf, toolError, toolSuccess, type ToolResult } from './tool-results.js';

export interface RemoteApi {
  /** FREIGHT_API_URL, e.g. http://localhost:8000 */
  readonly baseUrl: string;
  /** FREIGHT_API_KEY (an API key or a JWT). */
  readonly apiKey: string | undefined;
  /** FREIGHT_TENANT_ID: sent as X-Tenant-ID. */
  readonly tenantId: string | undefined;
  /** Per call; the stdio server never hangs on an unreachable API. */
  readonly timeoutMs?: number;
}

/**
 * Calls the REST API for a tool (the stdio server): builds the route from the operation, sends
 * the key and tenant from the environment (never from tool arguments), and turns any failure —
 * an error answer, a refused connection, a timeout — into a tool error with a next step.
 */
export function remoteInvoker(api: RemoteApi) {
  return async (op: Operation, args: Record<string, unknown>): Promise<ToolResult> => {
    const { params, query, body } = splitToolArgs(op, args);
    const path = op.path.replace(/\{([a-z_]+)\}/g, (_m, name: string) =>
      encodeURIComponent(String(params[name] ?? '')),
    );
    const url = new URL(path, api.baseUrl.endsWith('/') ? api.baseUrl : `${api.baseUrl}/`);
    for (const [k, v] of Object.entries(query))
      url.searchParams.set(k, Array.isArray(v) ? v.join(',') : String(v));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (api.apiKey) headers.authorization = `Bearer ${api.apiKey}`;
    if (op.tenantScoped && api.tenantId) headers['x-tenant-id'] = api.tenantId;
    const hasBody = op.method === 'POST' || op.method === 'PATCH';
    if (hasBody) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method: op.method,
        headers,
        ...(hasBody ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(api.timeoutMs ?? 30_000),
      });
    } catch (error) {
      const e = error as Error & {
        cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> };
      };
      if (e.name === 'TimeoutError') {
        return toolError(
          504,
          'UNAVAILABLE',
          `the Freight API at ${api.baseUrl} did not answer within ${(api.timeoutMs ?? 30_000) / 1000} s`,
        );
      }
      const reason = e.cause?.code ?? e.cause?.errors?.[0]?.code ?? e.cause?.message ?? e.message;
      return toolError(
        503,
        'UNAVAILABLE',
        `the Freight API at ${api.baseUrl} is unreachable (${reason})`,
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return toolError(
        502,
        'UNAVAILABLE',
        `the Freight API answered ${response.status} with a body that is not JSON`,
      );
    }
    if (!response.ok) {
      const err = (
        json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } }
      ).error;
      const code = err?.code ?? 'INTERNAL';
      return toolError(
        response.status || statusOf(code),
        code,
        err?.message ?? `HTTP ${response.status}`,
        err?.details,
      );
    }
    return toolSuccess(json as Record<string, unknown>);
  };
}
