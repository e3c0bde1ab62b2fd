import type { z } from 'zod';
import type { Caller, Role } from '../domain/access.js';
import type { ErrorCode } from '../domain/errors.js';
import type { Services } from './services.js';

/**
 * One operation, defined once (DESIGN.md §1 operations/): its id is the OpenAPI operationId and
 * the MCP tool name; REST routes, the OpenAPI document and MCP tools are all generated from it.
 */
export type HttpMethod = 'GET' | 'POST' | 'DELETE' | 'PATCH';
export type Toolset = 'jobs' | 'logs' | 'ops' | 'admin';

/** MCP tool annotations, stated truthfully for every operation. */
export interface Annotations {
  readonly readOnlyHint: boolean;
  readonly destructiveHint: boolean;
  readonly idempotentHint: boolean;
  /** Reaches outside Freight (the tenant's databases). */
  readonly openWorldHint: boolean;
}

export interface OperationContext {
  readonly services: Services;
  /** Null only for public operations (health). */
  readonly caller: Caller | null;
  /** The tenant acted for: X-Tenant-ID (checked against the caller), null for platform operations. */
  readonly tenantId: string | null;
  readonly requestId: string;
  /** Where this server is reached, for links it hands out (export URLs). */
  readonly baseUrl: string;
}

type AnyObject = z.ZodObject<z.ZodRawShape>;

export interface Operation<
  P extends AnyObject = AnyObject,
  Q extends AnyObject = AnyObject,
  B extends AnyObject = AnyObject,
  O extends z.ZodType = z.ZodType,
> {
  readonly id: string;
  readonly method: HttpMethod;
  /** OpenAPI-style path: `/api/v1/jobs/{job_id}`. */
  readonly path: string;
  readonly summary: string;
  /** Written for people and for models: what it does, when to use it, what comes back. */
  readonly description: string;
  readonly tags: readonly string[];
  /** `null`: no credential needed (health). */
  readonly role: Role | null;
  /** Needs X-Tenant-ID; false for platform-wide operations. */
  readonly tenantScoped: boolean;
  /** MCP toolset; null keeps the operation off MCP (token exchange, downloads). */
  readonly toolset: Toolset | null;
  readonly annotations: Annotations;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  readonly output: O;
  readonly successStatus: 200 | 201 | 202;
  /** Error codes this operation can answer with, for the OpenAPI document. */
  readonly errors: readonly ErrorCode[];
  /** State-changing: recorded in the audit trail. */
  readonly audited: boolean;
  /** The subject of the call for the audit trail (a job id, a key id). */
  readonly auditTarget?: (input: OperationInput<P, Q, B>, output: unknown) => string | null;
  handler(ctx: OperationContext, input: OperationInput<P, Q, B>): Promise<z.input<O>>;
}

export interface OperationInput<P extends AnyObject, Q extends AnyObject, B extends AnyObject> {
  readonly params: z.output<P>;
  readonly query: z.output<Q>;
  readonly body: z.output<B>;
}

/** Type-checks an operation definition and erases its generics for the registry. */
export function defineOperation<
  P extends AnyObject,
  Q extends AnyObject,
  B extends AnyObject,
  O extends z.ZodType,
>(op: Operation<P, Q, B, O>): Operation {
  return op as unknown as Operation;
}

/** Annotation presets. */
export const READ: Annotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};
