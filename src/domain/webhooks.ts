/** Job outcomes a webhook can be told about. */
export const WEBHOOK_EVENTS = [
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** `slack`: a Slack-compatible incoming-webhook payload; `generic`: JSON signed with HMAC-SHA256. */
export const WEBHOOK_KINDS = ['slack', 'generic'] as const;
export type WebhookKind = (typeof WEBHOOK_KINDS)[number];

export interface Webhook {
  readonly id: string;
  readonly tenantId: string;
  readonly url: string;
  readonly kind: WebhookKind;
  readonly events: readonly WebhookEvent[];
  readonly description: string | null;
  readonly createdAt: string;
}

export interface WebhookDelivery {
  readonly id: number;
  readonly webhookId: string;
  readonly jobId: string;
  readonly event: WebhookEvent;
  /** pending (will be tried, or retried), delivered, failed (gave up). */
  readonly status: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  readonly nextAttemptAt: string;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly createdAt: string;
  readonly deliveredAt: string | null;
}
