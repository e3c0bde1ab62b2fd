import { z } from 'zod';
import type { ApiKey, AuditEvent, Tenant } from '../domain/access.js';
import { FreightError } from '../domain/errors.js';
import { defineOperation, READ } from './operation.js';
import { Cursor, Limit, RoleSchema } from './schemas.js';

const COMMON = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'INTERNAL',
  'VALIDATION_FAILED',
] as const;
const TenantId = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be a–z, 0–9, "-" or "_"');

const TenantSchema = z.object({
  tenant_id: z.string(),
  name: z.string(),
  created_at: z.string(),
  disabled_at: z.string().nullable(),
});
const KeySchema = z.object({
  key_id: z.string(),
  tenant_id: z.string(),
  role: RoleSchema,
  name: z.string(),
  created_by: z.string().nullable(),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});

const tenantView = (t: Tenant) => ({
  tenant_id: t.id,
  name: t.name,
  created_at: t.createdAt,
  disabled_at: t.disabledAt,
});
const keyView = (k: ApiKey) => ({
  key_id: k.id,
  tenant_id: k.tenantId,
  role: k.role,
  name: k.name,
  created_by: k.createdBy,
  created_at: k.createdAt,
  last_used_at: k.lastUsedAt,
  expires_at: k.expiresAt,
  revoked_at: k.revokedAt,
});

const base = {
  tags: ['admin'],
  role: 'admin' as const,
  tenantScoped: false,
  toolset: 'admin' as const,
};

export const createTenant = defineOperation({
  ...base,
  id: 'create_tenant',
  method: 'POST',
  path: '/api/v1/admin/tenants',
  summary: 'Create a tenant (admin)',
  description:
    'Creates a tenant: an isolated space of jobs, keys and statistics. Then create keys for it with create_api_key.',
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
  body: z.object({ tenant_id: TenantId, name: z.string().min(1).max(200).optional() }).strict(),
  output: TenantSchema,
  successStatus: 201,
  errors: ['CONFLICT', ...COMMON],
  audited: true,
  auditTarget: (input) => input.body.tenant_id,
  async handler(ctx, { body }) {
    return tenantView(await ctx.services.keys.createTenant(body.tenant_id, body.name));
  },
});

export const listTenants = defineOperation({
  ...base,
  id: 'list_tenants',
  method: 'GET',
  path: '/api/v1/admin/tenants',
  summary: 'List tenants (admin)',
  description: 'Lists every tenant of the platform.',
  annotations: READ,
  output: z.object({ tenants: z.array(TenantSchema) }),
  successStatus: 200,
  errors: [...COMMON],
  audited: false,
  async handler(ctx) {
    return { tenants: (await ctx.services.store.listTenants()).map(tenantView) };
  },
});

export const createApiKey = defineOperation({
  ...base,
  id: 'create_api_key',
  method: 'POST',
  path: '/api/v1/admin/keys',
  summary: 'Create an API key (admin)',
  description:
    'Creates an API key for a tenant with a role: viewer (reads), engineer (also creates, retries, cancels, exports) or admin (everything, any tenant). The key is in this response only — it is stored as a hash and cannot be shown again.',
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
  body: z
    .object({
      tenant_id: TenantId,
      role: RoleSchema,
      name: z.string().min(1).max(200).optional(),
      expires_at: z.iso
        .datetime({ offset: true })
        .optional()
        .describe('When the key stops working (default: never).'),
    })
    .strict(),
  output: KeySchema.extend({ key: z.string().describe('The API key. Shown once.') }),
  successStatus: 201,
  errors: ['NOT_FOUND', ...COMMON],
  audited: true,
  auditTarget: (_input, output) => (output as { key_id?: string }).key_id ?? null,
  async handler(ctx, { body }) {
    const { key, apiKey } = await ctx.services.keys.createKey({
      tenantId: body.tenant_id,
      role: body.role,
      ...(body.name ? { name: body.name } : {}),
      createdBy: ctx.caller?.keyId ?? null,
      expiresAt: body.expires_at ? new Date(body.expires_at).toISOString() : null,
    });
    return { ...keyView(apiKey), key };
  },
});

export const listApiKeys = defineOperation({
  ...base,
  id: 'list_api_keys',
  method: 'GET',
  path: '/api/v1/admin/keys',
  summary: 'List API keys (admin)',
  description:
    'Lists API keys (never their secrets), of one tenant or all, with role, last use and revocation.',
  annotations: READ,
  query: z.object({ tenant_id: TenantId.optional() }).strict(),
  output: z.object({ keys: z.array(KeySchema) }),
  successStatus: 200,
  errors: [...COMMON],
  audited: false,
  async handler(ctx, { query }) {
    return { keys: (await ctx.services.store.listApiKeys(query.tenant_id)).map(keyView) };
  },
});

export const revokeApiKey = defineOperation({
  ...base,
  id: 'revoke_api_key',
  method: 'DELETE',
  path: '/api/v1/admin/keys/{key_id}',
  summary: 'Revoke an API key (admin)',
  description:
    'Revokes a key: it and every token issued for it stop working at once. Cannot be undone.',
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: false,
  },
  params: z
    .object({
      key_id: z
        .string()
        .min(1)
        .max(64)
        .regex(/^[a-z0-9]+$/, 'must be a key id'),
    })
    .strict(),
  output: KeySchema,
  successStatus: 200,
  errors: ['NOT_FOUND', ...COMMON],
  audited: true,
  auditTarget: (input) => input.params.key_id,
  async handler(ctx, { params }) {
    const existing = await ctx.services.store.getApiKey(params.key_id);
    if (!existing) throw new FreightError('NOT_FOUND', `key ${params.key_id} not found`);
    await ctx.services.keys.revoke(params.key_id);
    return keyView((await ctx.services.store.getApiKey(params.key_id))!);
  },
});

const AuditSchema = z.object({
  event_id: z.number().int(),
  at: z.string(),
  tenant_id: z.string().nullable(),
  actor: z.string().nullable().describe('The key id that made the call.'),
  role: z.string().nullable(),
  action: z.string().describe('The operation, e.g. create_migration_job.'),
  method: z.string(),
  path: z.string(),
  target: z.string().nullable(),
  status: z.number().int(),
  result: z.enum(['success', 'failure']),
  request_id: z.string().nullable(),
});
const auditView = (e: AuditEvent) => ({
  event_id: e.id,
  at: e.at,
  tenant_id: e.tenantId,
  actor: e.actor,
  role: e.role,
  action: e.action,
  method: e.method,
  path: e.path,
  target: e.target,
  status: e.status,
  result: e.result,
  request_id: e.requestId,
});

export const listAuditEvents = defineOperation({
  ...base,
  id: 'list_audit_events',
  method: 'GET',
  path: '/api/v1/admin/audit',
  summary: 'Read the audit trail (admin)',
  description:
    'Lists state-changing calls — who (key), tenant, what (operation), when, result — newest first. Filter by tenant or action; page with cursor.',
  annotations: READ,
  query: z
    .object({
      tenant_id: TenantId.optional(),
      action: z.string().max(64).optional(),
      limit: Limit(500, 50),
      cursor: Cursor,
    })
    .strict(),
  output: z.object({ events: z.array(AuditSchema), next_cursor: z.number().int().nullable() }),
  successStatus: 200,
  errors: [...COMMON],
  audited: false,
  async handler(ctx, { query }) {
    const events = await ctx.services.store.listAudit({
      ...(query.tenant_id ? { tenantId: query.tenant_id } : {}),
      ...(query.action ? { action: query.action } : {}),
      limit: query.limit + 1,
      ...(query.cursor ? { before: query.cursor } : {}),
    });
    const page = events.slice(0, query.limit);
    return {
      events: page.map(auditView),
      next_cursor: events.length > query.limit ? page.at(-1)!.id : null,
    };
  },
});
