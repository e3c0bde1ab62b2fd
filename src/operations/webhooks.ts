import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { FreightError } from '../domain/errors.js';
import {
  WEBHOOK_EVENTS,
  WEBHOOK_KINDS,
  type Webhook,
  type WebhookDelivery,
} from '../domain/webhooks.js';
import { defineOperation, READ } from './operation.js';
import { Limit } from './schemas.js';

const COMMON = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'TENANT_REQUIRED',
  'RATE_LIMITED',
  'INTERNAL',
  'VALIDATION_FAILED',
] as const;
const WebhookId = z
  .object({ webhook_id: z.string().regex(/^wh_[0-9a-f]{16}$/, 'must be a webhook id (wh_…)') })
  .strict();

const WebhookSchema = z.object({
  webhook_id: z.string(),
  url: z.string(),
  kind: z.enum(WEBHOOK_KINDS),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  description: z.string().nullable(),
  created_at: z.string(),
});
const DeliverySchema = z.object({
  delivery_id: z.number().int(),
  job_id: z.string(),
  event: z.enum(WEBHOOK_EVENTS),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  next_attempt_at: z.string(),
  last_status_code: z.number().int().nullable(),
  last_error: z.string().nullable(),
  created_at: z.string(),
  delivered_at: z.string().nullable(),
});

/** The URL as shown back: credentials in it (Slack URLs carry a token in the path) are masked. */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    const path = u.pathname.length > 12 ? `${u.pathname.slice(0, 12)}…` : u.pathname;
    return `${u.protocol}//${u.host}${path}`;
  } catch {
    return '…';
  }
}

const hookView = (h: Webhook) => ({
  webhook_id: h.id,
  url: shownUrl(h.url),
  kind: h.kind,
  events: [...h.events],
  description: h.description,
  created_at: h.createdAt,
});
const deliveryView = (d: WebhookDelivery) => ({
  delivery_id: d.id,
  job_id: d.jobId,
  event: d.event,
  status: d.status,
  attempts: d.attempts,
  next_attempt_at: d.nextAttemptAt,
  last_status_code: d.lastStatusCode,
  last_error: d.lastError,
  created_at: d.createdAt,
  delivered_at: d.deliveredAt,
});

export const createWebhook = defineOperation({
  id: 'create_webhook',
  method: 'POST',
  path: '/api/v1/webhooks',
  summary: 'Add a webhook for job outcomes',
  description:
    "Registers a URL to be called when the tenant's jobs complete, complete with errors, fail or are cancelled. kind=slack posts a Slack-compatible message (use a Slack incoming-webhook URL); kind=generic posts JSON signed with HMAC-SHA256 (X-Freight-Signature: sha256=HMAC(secret, timestamp + '.' + body), X-Freight-Timestamp) — the signing secret is in this response only. Failed deliveries are retried with backoff; see list_webhook_deliveries.",
  tags: ['webhooks'],
  role: 'engineer',
  tenantScoped: true,
  toolset: 'ops',
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: true,
  },
  body: z
    .object({
      url: z
        .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
        .max(2048)
        // Credentials in the authority would travel as Basic auth and show up wherever URLs are logged.
        .refine(
          (u) => URL.canParse(u) && !new URL(u).username && !new URL(u).password,
          'must not contain user:password@ (it cannot be sent); put the token in the path or query',
        ),
      kind: z.enum(WEBHOOK_KINDS).default('generic'),
      events: z
        .array(z.enum(WEBHOOK_EVENTS))
        .min(1)
        .default([...WEBHOOK_EVENTS])
        .describe('Outcomes to notify; all by default.'),
      description: z.string().max(200).optional(),
    })
    .strict(),
  output: WebhookSchema.extend({
    signing_secret: z
      .string()
      .nullable()
      .describe('For generic webhooks: the HMAC key. Shown once.'),
  }),
  successStatus: 201,
  errors: [...COMMON, 'POLICY_VIOLATION'],
  audited: true,
  auditTarget: (_i, output) => (output as { webhook_id?: string }).webhook_id ?? null,
  async handler(ctx, { body }) {
    // A refused host is a 400 now; each delivery is checked again (names can resolve differently later).
    await ctx.services.guard.admitUrl(body.url, 'url');
    const secret = body.kind === 'generic' ? randomBytes(24).toString('base64url') : null;
    const hook = await ctx.services.store.createWebhook({
      tenantId: ctx.tenantId!,
      url: body.url,
      kind: body.kind,
      secret,
      events: [...new Set(body.events)],
      description: body.description ?? null,
    });
    return { ...hookView(hook), signing_secret: secret };
  },
});

export const listWebhooks = defineOperation({
  id: 'list_webhooks',
  method: 'GET',
  path: '/api/v1/webhooks',
  summary: "List the tenant's webhooks",
  description:
    "Lists the tenant's webhooks: kind, events, and the URL with its secret part masked.",
  tags: ['webhooks'],
  role: 'viewer',
  tenantScoped: true,
  toolset: 'ops',
  annotations: READ,
  output: z.object({ webhooks: z.array(WebhookSchema) }),
  successStatus: 200,
  errors: [...COMMON],
  audited: false,
  async handler(ctx) {
    return { webhooks: (await ctx.services.store.listWebhooks(ctx.tenantId!)).map(hookView) };
  },
});

export const deleteWebhook = defineOperation({
  id: 'delete_webhook',
  method: 'DELETE',
  path: '/api/v1/webhooks/{webhook_id}',
  summary: 'Remove a webhook',
  description:
    "Removes a webhook and its delivery log. Answers 404 for a webhook that is not the tenant's.",
  tags: ['webhooks'],
  role: 'engineer',
  tenantScoped: true,
  toolset: 'ops',
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: false,
  },
  params: WebhookId,
  output: z.object({ webhook_id: z.string(), deleted: z.literal(true) }),
  successStatus: 200,
  errors: ['NOT_FOUND', ...COMMON],
  audited: true,
  auditTarget: (input) => input.params.webhook_id,
  async handler(ctx, { params }) {
    if (!(await ctx.services.store.deleteWebhook(params.webhook_id, ctx.tenantId!))) {
      throw new FreightError(
        'NOT_FOUND',
        `webhook ${params.webhook_id} not found for tenant ${ctx.tenantId}`,
      );
    }
    return { webhook_id: params.webhook_id, deleted: true as const };
  },
});

export const listWebhookDeliveries = defineOperation({
  id: 'list_webhook_deliveries',
  method: 'GET',
  path: '/api/v1/webhooks/{webhook_id}/deliveries',
  summary: "A webhook's delivery log",
  description:
    "Lists deliveries to one webhook, newest first: the job and outcome, attempts, the receiver's last status code or error, and whether it was delivered, will be retried, or failed for good. Page with cursor.",
  tags: ['webhooks'],
  role: 'viewer',
  tenantScoped: true,
  toolset: 'ops',
  annotations: READ,
  params: WebhookId,
  query: z
    .object({ limit: Limit(200, 50), cursor: z.coerce.number().int().positive().optional() })
    .strict(),
  output: z.object({
    webhook_id: z.string(),
    deliveries: z.array(DeliverySchema),
    next_cursor: z.number().int().nullable(),
  }),
  successStatus: 200,
  errors: ['NOT_FOUND', ...COMMON],
  audited: false,
  async handler(ctx, { params, query }) {
    const hook = await ctx.services.store.getWebhook(params.webhook_id, ctx.tenantId!);
    if (!hook)
      throw new FreightError(
        'NOT_FOUND',
        `webhook ${params.webhook_id} not found for tenant ${ctx.tenantId}`,
      );
    const rows = await ctx.services.store.listWebhookDeliveries(hook.id, {
      limit: query.limit + 1,
      ...(query.cursor ? { before: query.cursor } : {}),
    });
    const page = rows.slice(0, query.limit);
    return {
      webhook_id: hook.id,
      deliveries: page.map(deliveryView),
      next_cursor: rows.length > query.limit ? page.at(-1)!.id : null,
    };
  },
});
