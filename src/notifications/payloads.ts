import { createHmac } from 'node:crypto';
import type { Job } from '../domain/model.js';
import type { Webhook, WebhookEvent } from '../domain/webhooks.js';

export interface JobOutcomeSummary {
  readonly job: Job;
  readonly rowsWritten: number;
  readonly rowsFailed: number;
}

const ICON: Record<WebhookEvent, string> = {
  completed: ':white_check_mark:',
  completed_with_errors: ':warning:',
  failed: ':x:',
  cancelled: ':no_entry_sign:',
};

/**
 * The body sent for a job outcome: a Slack-compatible incoming-webhook message (`text` plus
 * blocks) or a generic JSON event. Connection details appear only as redacted descriptions.
 */
export function payloadFor(
  hook: Webhook,
  event: WebhookEvent,
  s: JobOutcomeSummary,
  deliveredAt = new Date().toISOString(),
): string {
  const { job } = s;
  if (hook.kind === 'slack') {
    const text = `${ICON[event]} Freight job ${job.id} ${event.replaceAll('_', ' ')} — ${job.sourceDescription} → ${job.targetDescription}: ${s.rowsWritten.toLocaleString('en-US')} rows written, ${s.rowsFailed.toLocaleString('en-US')} failed${job.error ? `. ${job.error.code}: ${job.error.message}` : ''}`;
    return JSON.stringify({
      text,
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text } },
        {
          type: 'context',
          elements: [
            {
              type: 'mrkdwn',
              text: `tenant ${job.tenantId} · started ${job.startedAt ?? '-'} · finished ${job.finishedAt ?? '-'}`,
            },
          ],
        },
      ],
    });
  }
  return JSON.stringify({
    event: `job.${event}`,
    created_at: deliveredAt,
    job: {
      job_id: job.id,
      tenant_id: job.tenantId,
      status: job.status,
      error: job.error,
      source: job.sourceDescription,
      target: job.targetDescription,
      rows_written: s.rowsWritten,
      rows_failed: s.rowsFailed,
      started_at: job.startedAt,
      finished_at: job.finishedAt,
    },
  });
}

/**
 * Signature of a generic delivery: `sha256=` + HMAC-SHA256(secret, `<timestamp>.<body>`), sent
 * with the timestamp, so receivers can check the body and refuse replays (as Stripe does).
 */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}
