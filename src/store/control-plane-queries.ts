import type { Kysely } from 'kysely';
import type {
  ApiKey,
  AuditEvent,
  NewAuditEvent,
  Role,
  Tenant,
  WorkerHeartbeat,
} from '../domain/access.js';
import { FreightError } from '../domain/errors.js';
import { iso, nowIso } from './rows.js';
import type { Database } from './schema.js';

/** Tenants, API keys, the audit trail and worker heartbeats, as small named queries. */

export async function createTenant(
  db: Kysely<Database>,
  t: { id: string; name: string },
): Promise<Tenant> {
  const row = { id: t.id, name: t.name, created_at: nowIso(), disabled_at: null };
  const existing = await db
    .selectFrom('tenants')
    .select('id')
    .where('id', '=', t.id)
    .executeTakeFirst();
  if (existing) throw new FreightError('CONFLICT', `tenant ${t.id} already exists`);
  await db.insertInto('tenants').values(row).execute();
  return toTenant(row);
}

export async function getTenant(db: Kysely<Database>, id: string): Promise<Tenant | null> {
  const row = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toTenant(row) : null;
}

export async function listTenants(db: Kysely<Database>): Promise<Tenant[]> {
  return (await db.selectFrom('tenants').selectAll().orderBy('id').execute()).map(toTenant);
}

function toTenant(r: {
  id: string;
  name: string;
  created_at: unknown;
  disabled_at: unknown;
}): Tenant {
  return { id: r.id, name: r.name, createdAt: iso(r.created_at)!, disabledAt: iso(r.disabled_at) };
}

export async function insertApiKey(
  db: Kysely<Database>,
  k: {
    id: string;
    tenantId: string;
    role: Role;
    name: string;
    secretHash: string;
    createdBy: string | null;
    expiresAt: string | null;
  },
): Promise<ApiKey> {
  const row = {
    id: k.id,
    tenant_id: k.tenantId,
    role: k.role,
    name: k.name,
    secret_hash: k.secretHash,
    created_by: k.createdBy,
    created_at: nowIso(),
    last_used_at: null,
    expires_at: k.expiresAt,
    revoked_at: null,
  };
  await db.insertInto('api_keys').values(row).execute();
  return toApiKey(row);
}

export async function getApiKey(
  db: Kysely<Database>,
  id: string,
): Promise<(ApiKey & { secretHash: string }) | null> {
  const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? { ...toApiKey(row), secretHash: row.secret_hash } : null;
}

export async function listApiKeys(db: Kysely<Database>, tenantId?: string): Promise<ApiKey[]> {
  let q = db.selectFrom('api_keys').selectAll().orderBy('created_at');
  if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
  return (await q.execute()).map(toApiKey);
}

export async function revokeApiKey(db: Kysely<Database>, id: string): Promise<boolean> {
  const r = await db
    .updateTable('api_keys')
    .set({ revoked_at: nowIso() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function touchApiKey(db: Kysely<Database>, id: string): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: nowIso() }).where('id', '=', id).execute();
}

export async function countApiKeys(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

function toApiKey(r: {
  id: string;
  tenant_id: string;
  role: string;
  name: string;
  created_by: string | null;
  created_at: unknown;
  last_used_at: unknown;
  expires_at: unknown;
  revoked_at: unknown;
}): ApiKey {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    role: r.role as Role,
    name: r.name,
    createdBy: r.created_by,
    createdAt: iso(r.created_at)!,
    lastUsedAt: iso(r.last_used_at),
    expiresAt: iso(r.expires_at),
    revokedAt: iso(r.revoked_at),
  };
}

export async function appendAudit(db: Kysely<Database>, e: NewAuditEvent): Promise<void> {
  await db
    .insertInto('audit_events')
    .values({
      at: nowIso(),
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
      details: e.details ? JSON.stringify(e.details) : null,
    })
    .execute();
}

/** Newest first; `before` is the id of the last event of the previous page. */
export async function listAudit(
  db: Kysely<Database>,
  q: { tenantId?: string; limit: number; before?: number; action?: string },
): Promise<AuditEvent[]> {
  let sel = db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(q.limit);
  if (q.tenantId !== undefined) sel = sel.where('tenant_id', '=', q.tenantId);
  if (q.before !== undefined) sel = sel.where('id', '<', q.before);
  if (q.action !== undefined) sel = sel.where('action', '=', q.action);
  return (await sel.execute()).map((r) => ({
    id: Number(r.id),
    at: iso(r.at)!,
    tenantId: r.tenant_id,
    actor: r.actor,
    role: r.role,
    action: r.action,
    method: r.method,
    path: r.path,
    target: r.target,
    status: r.status,
    result: r.result as AuditEvent['result'],
    requestId: r.request_id,
    details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null,
  }));
}

export async function heartbeat(
  db: Kysely<Database>,
  w: Omit<WorkerHeartbeat, 'heartbeatAt'>,
): Promise<void> {
  const row = {
    id: w.id,
    host: w.host,
    pid: w.pid,
    concurrency: w.concurrency,
    started_at: w.startedAt,
    heartbeat_at: nowIso(),
    info: JSON.stringify(w.info),
  };
  await db
    .insertInto('workers')
    .values(row)
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        heartbeat_at: row.heartbeat_at,
        info: row.info,
        concurrency: row.concurrency,
      }),
    )
    .execute();
}

/** Workers whose last heartbeat is newer than `since`; older rows are deleted on the way. */
export async function listWorkers(db: Kysely<Database>, since: string): Promise<WorkerHeartbeat[]> {
  await db
    .deleteFrom('workers')
    .where('heartbeat_at', '<', new Date(Date.parse(since) - 3_600_000).toISOString())
    .execute();
  const rows = await db
    .selectFrom('workers')
    .selectAll()
    .where('heartbeat_at', '>=', since)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    host: r.host,
    pid: r.pid,
    concurrency: r.concurrency,
    startedAt: iso(r.started_at)!,
    heartbeatAt: iso(r.heartbeat_at)!,
    info: JSON.parse(r.info) as Record<string, unknown>,
  }));
}

export async function removeWorker(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('workers').where('id', '=', id).execute();
}
