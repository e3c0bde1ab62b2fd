import type { Kysely } from 'kysely';
import type { Webhook, WebhookDelivery, WebhookEvent, WebhookKind } from '../domain/webhooks.js';
import { iso, nowIso } from './rows.js';
import type { Database } from './schema.js';

/** Webhooks and their deliveries, as small named queries (secrets are sealed by the caller). */

export async function insertWebhook(
  db: Kysely<Database>,
  w: {
    id: string;
    tenantId: string;
    url: string;
    kind: WebhookKind;
    sealedSecret: string | null;
    events: readonly WebhookEvent[];
    description: string | null;
  },
): Promise<Webhook> {
  const row = {
    id: w.id,
    tenant_id: w.tenantId,
    url: w.url,
    kind: w.kind,
    secret: w.sealedSecret,
    events: JSON.stringify(w.events),
    description: w.description,
    created_at: nowIso(),
  };
  await db.insertInto('webhooks').values(row).execute();
  return toWebhook(row);
}

export async function listWebhooks(db: Kysely<Database>, tenantId: string): Promise<Webhook[]> {
  return (
    await db
      .selectFrom('webhooks')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at')
      .execute()
  ).map(toWebhook);
}

export async function getWebhook(
  db: Kysely<Database>,
  id: string,
  tenantId: string,
): Promise<(Webhook & { sealedSecret: string | null }) | null> {
  const row = await db
    .selectFrom('webhooks')
    .selectAll()
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return row ? { ...toWebhook(row), sealedSecret: row.secret } : null;
}

export async function deleteWebhook(
  db: Kysely<Database>,
  id: string,
  tenantId: string,
): Promise<boolean> {
  const r = await db
    .deleteFrom('webhooks')
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

function toWebhook(r: {
  id: string;
  tenant_id: string;
  url: string;
  kind: string;
  events: string;
  description: string | null;
  created_at: unknown;
}): Webhook {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    url: r.url,
    kind: r.kind as WebhookKind,
    events: JSON.parse(r.events) as WebhookEvent[],
    description: r.description,
    createdAt: iso(r.created_at)!,
  };
}

/** One delivery per webhook subscribed to the event; a second call for the same outcome adds nothing. */
export async function enqueueDeliveries(
  db: Kysely<Database>,
  d: {
    tenantId: string;
    jobId: string;
    event: WebhookEvent;
    occurrence: string;
    payloadFor: (hook: Webhook) => string;
  },
): Promise<number> {
  const hooks = (await listWebhooks(db, d.tenantId)).filter((h) => h.events.includes(d.event));
  let added = 0;
  for (const hook of hooks) {
    const now = nowIso();
    const r = await db
      .insertInto('webhook_deliveries')
      .values({
        webhook_id: hook.id,
        tenant_id: d.tenantId,
        job_id: d.jobId,
        event: d.event,
        occurrence: d.occurrence,
        status: 'pending',
        next_attempt_at: now,
        payload: d.payloadFor(hook),
        created_at: now,
      })
      .onConflict((oc) => oc.columns(['webhook_id', 'job_id', 'event', 'occurrence']).doNothing())
      .executeTakeFirst();
    added += Number(r.numInsertedOrUpdatedRows ?? 0);
  }
  return added;
}

/** Claims up to `limit` due deliveries for `owner` (a lease, so two processes never send one twice at once). */
export async function claimDeliveries(
  db: Kysely<Database>,
  owner: string,
  leaseMs: number,
  limit: number,
) {
  const now = nowIso();
  const due = await db
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute();
  const claimed = [];
  for (const { id } of due) {
    const row = await db
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        lease_owner: owner,
        lease_expires_at: new Date(Date.now() + leaseMs).toISOString(),
        attempts: eb('attempts', '+', 1),
      }))
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
      .returningAll()
      .executeTakeFirst();
    if (row) {
      const hook = await db
        .selectFrom('webhooks')
        .selectAll()
        .where('id', '=', row.webhook_id)
        .executeTakeFirst();
      if (hook)
        claimed.push({
          delivery: toDelivery(row),
          payload: row.payload,
          webhook: { ...toWebhook(hook), sealedSecret: hook.secret },
        });
    }
  }
  return claimed;
}

export async function recordDelivery(
  db: Kysely<Database>,
  id: number,
  owner: string,
  outcome: {
    status: 'delivered' | 'failed' | 'pending';
    statusCode: number | null;
    error: string | null;
    nextAttemptAt?: string;
  },
): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({
      status: outcome.status,
      last_status_code: outcome.statusCode,
      last_error: outcome.error,
      lease_owner: null,
      lease_expires_at: null,
      ...(outcome.nextAttemptAt ? { next_attempt_at: outcome.nextAttemptAt } : {}),
      ...(outcome.status === 'delivered' ? { delivered_at: nowIso() } : {}),
    })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .execute();
}

export async function listDeliveries(
  db: Kysely<Database>,
  webhookId: string,
  q: { limit: number; before?: number },
): Promise<WebhookDelivery[]> {
  let sel = db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('webhook_id', '=', webhookId)
    .orderBy('id', 'desc')
    .limit(q.limit);
  if (q.before !== undefined) sel = sel.where('id', '<', q.before);
  return (await sel.execute()).map(toDelivery);
}

function toDelivery(r: {
  id: number;
  webhook_id: string;
  job_id: string;
  event: string;
  status: string;
  attempts: number;
  next_attempt_at: unknown;
  last_status_code: number | null;
  last_error: string | null;
  created_at: unknown;
  delivered_at: unknown;
}): WebhookDelivery {
  return {
    id: Number(r.id),
    webhookId: r.webhook_id,
    jobId: r.job_id,
    event: r.event as WebhookEvent,
    status: r.status as WebhookDelivery['status'],
    attempts: r.attempts,
    nextAttemptAt: iso(r.next_attempt_at)!,
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
    createdAt: iso(r.created_at)!,
    deliveredAt: iso(r.delivered_at),
  };
}
