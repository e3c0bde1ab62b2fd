/**
 * Who may do what (DESIGN.md §6). Roles are ordered: each includes the ones before it.
 *
 * - viewer: reads jobs, logs, statistics;
 * - engineer: also creates, retries, cancels jobs and exports logs;
 * - admin: everything — platform statistics, tenants, keys, the audit trail — for any tenant.
 */
export const ROLES = ['viewer', 'engineer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** The authenticated caller of an operation. */
export interface Caller {
  /** The API key the credential stands for (a JWT carries it as its subject). */
  readonly keyId: string;
  readonly tenantId: string;
  readonly role: Role;
  readonly via: 'api-key' | 'jwt';
}

export interface Tenant {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly disabledAt: string | null;
}

export interface ApiKey {
  readonly id: string;
  readonly tenantId: string;
  readonly role: Role;
  readonly name: string;
  readonly createdBy: string | null;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
}

export interface AuditEvent {
  readonly id: number;
  readonly at: string;
  readonly tenantId: string | null;
  readonly actor: string | null;
  readonly role: string | null;
  /** The operation id (`create_migration_job`, …). */
  readonly action: string;
  readonly method: string;
  readonly path: string;
  readonly target: string | null;
  readonly status: number;
  readonly result: 'success' | 'failure';
  readonly requestId: string | null;
  readonly details: Record<string, unknown> | null;
}

export type NewAuditEvent = Omit<AuditEvent, 'id' | 'at'>;

export interface WorkerHeartbeat {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly concurrency: number;
  readonly startedAt: string;
  readonly heartbeatAt: string;
  readonly info: Record<string, unknown>;
}
