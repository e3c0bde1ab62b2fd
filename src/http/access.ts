import type { FastifyRequest } from 'fastify';
import type { Caller } from '../domain/access.js';
import { roleAllows } from '../domain/access.js';
import { FreightError } from '../domain/errors.js';
import type { Operation } from '../operations/operation.js';
import type { Services } from '../operations/services.js';

/**
 * Authentication, tenancy and roles for one request (DESIGN.md §3, §6), in that order:
 * 401 without a valid credential; 400 without X-Tenant-ID on a tenant route; 403 when the header
 * names another tenant than the credential's (admins may name any existing tenant); 403 when the
 * role is too low.
 */
export async function authorize(
  services: Services,
  op: Operation,
  request: FastifyRequest,
): Promise<{ caller: Caller | null; tenantId: string | null }> {
  try {
    return await authorizeUnthrottled(services, op, request);
  } catch (error) {
    if (error instanceof FreightError && error.code === 'UNAUTHENTICATED')
      throttleFor(services).record(request.ip);
    throw error;
  }
}

/**
 * `authenticate`, throttled like `authorize` (for routes that authenticate on their own: /mcp):
 * refused while the address is blocked, and a failure counts against it.
 */
export async function authenticateThrottled(
  services: Services,
  authorization: string | undefined,
  address: string,
): Promise<Caller> {
  refuseIfThrottled(services, address);
  try {
    return await authenticate(services, authorization);
  } catch (error) {
    if (error instanceof FreightError && error.code === 'UNAUTHENTICATED')
      throttleFor(services).record(address);
    throw error;
  }
}

/** Counts a failed authentication that happened past `authorize` (a key checked by a handler: the token exchange). */
export function recordAuthFailure(services: Services, address: string): void {
  throttleFor(services).record(address);
}

function refuseIfThrottled(services: Services, address: string): void {
  const retryAfter = throttleFor(services).blockedFor(address);
  if (retryAfter > 0) {
    throw new FreightError(
      'RATE_LIMITED',
      `too many failed authentication attempts from this address; retry after ${retryAfter} s`,
      {
        details: { retry_after_seconds: retryAfter },
      },
    );
  }
}

async function authorizeUnthrottled(
  services: Services,
  op: Operation,
  request: FastifyRequest,
): Promise<{ caller: Caller | null; tenantId: string | null }> {
  refuseIfThrottled(services, request.ip);
  if (op.role === null) {
    // Public operations need no credential; one that is sent and valid is still known (the token
    // exchange takes its key from the Bearer header when the body has none).
    const caller = request.headers.authorization
      ? await authenticate(services, request.headers.authorization).catch(() => null)
      : null;
    request.caller = caller;
    return { caller, tenantId: null };
  }
  const caller = await authenticate(services, request.headers.authorization);
  // Known from here on, so the audit trail names the actor of a refused call too.
  request.caller = caller;
  let tenantId: string | null = null;
  if (op.tenantScoped) {
    const named = tenantHeader(request.headers['x-tenant-id']);
    if (!named)
      throw new FreightError('TENANT_REQUIRED', 'the X-Tenant-ID header is required on this route');
    if (named !== caller.tenantId) {
      if (caller.role !== 'admin')
        throw new FreightError(
          'FORBIDDEN',
          'X-Tenant-ID does not match the tenant of your credential',
        );
      if (!(await services.store.getTenant(named)))
        throw new FreightError('NOT_FOUND', `tenant ${named} not found`);
    }
    tenantId = named;
  }
  if (!roleAllows(caller.role, op.role)) {
    throw new FreightError(
      'FORBIDDEN',
      `${op.id} needs the ${op.role} role; this credential is ${caller.role}`,
    );
  }
  return { caller, tenantId };
}

/** A Bearer API key or JWT → the caller. A JWT is only as good as its key: revocation is immediate. */
export async function authenticate(
  services: Services,
  authorization: string | undefined,
): Promise<Caller> {
  const m = /^Bearer\s+(\S{1,4096})\s*$/i.exec(authorization ?? '');
  if (!m)
    throw new FreightError(
      'UNAUTHENTICATED',
      'send an API key or token as "Authorization: Bearer <credential>"',
    );
  const credential = m[1]!;
  if (
    /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(credential) &&
    !credential.startsWith('fk_')
  ) {
    const claims = await services.tokens.verify(credential);
    const key = await services.keys.keyStillValid(claims.keyId);
    if (!key)
      throw new FreightError(
        'UNAUTHENTICATED',
        'the key this token was issued for is revoked or expired',
      );
    return { keyId: key.id, tenantId: key.tenantId, role: key.role, via: 'jwt' };
  }
  const caller = await services.keys.authenticate(credential);
  if (!caller)
    throw new FreightError(
      'UNAUTHENTICATED',
      'the API key is not valid (unknown, revoked or expired)',
    );
  return caller;
}

/**
 * Repeated authentication failures from one address are throttled: after `limit` failures within
 * a window, every request from it is refused (429, Retry-After) until the window passes — so a
 * key cannot be guessed at speed. Per process (each API process keeps its own count).
 */
class FailureThrottle {
  private readonly failures = new Map<string, { count: number; windowStart: number }>();

  constructor(
    private readonly limit = 30,
    private readonly windowMs = 60_000,
  ) {}

  record(address: string): void {
    const now = Date.now();
    const entry = this.failures.get(address);
    if (!entry || now - entry.windowStart > this.windowMs)
      this.failures.set(address, { count: 1, windowStart: now });
    else entry.count++;
    if (this.failures.size > 100_000) this.failures.clear();
  }

  /** Seconds until the address may try again; 0 when it is not blocked. */
  blockedFor(address: string): number {
    const entry = this.failures.get(address);
    if (!entry) return 0;
    const left = entry.windowStart + this.windowMs - Date.now();
    if (left <= 0) {
      this.failures.delete(address);
      return 0;
    }
    return entry.count >= this.limit ? Math.ceil(left / 1000) : 0;
  }
}

const throttles = new WeakMap<Services, FailureThrottle>();

function throttleFor(services: Services): FailureThrottle {
  let t = throttles.get(services);
  if (!t) {
    t = new FailureThrottle(services.config.authFailureLimit);
    throttles.set(services, t);
  }
  return t;
}

/** The X-Tenant-ID header (REST and /mcp): absent → null; present → a well-formed tenant id, or VALIDATION_FAILED. */
export function tenantHeader(header: string | string[] | undefined): string | null {
  const named = Array.isArray(header) ? header[0] : header;
  if (!named) return null;
  if (named.length > 63 || !/^[a-z0-9][a-z0-9_-]*$/.test(named)) {
    throw new FreightError(
      'VALIDATION_FAILED',
      'X-Tenant-ID must be a tenant id (a–z, 0–9, "-", "_")',
      { details: { field: 'x-tenant-id' } },
    );
  }
  return named;
}
