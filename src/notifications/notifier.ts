import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { toFreightError } from '../domain/errors.js';
import { newShortId } from '../domain/ids.js';
import { isTerminalJobStatus } from '../domain/job.js';
import type { WebhookEvent } from '../domain/webhooks.js';
import type { JobEvent } from '../engine/events.js';
import { backoffMs } from '../engine/retry.js';
import type { ConnectionGuard } from '../security/connection-guard.js';
import type { MetadataStore } from '../store/store.js';
import { payloadFor, signature } from './payloads.js';

const MAX_ATTEMPTS = 8;
const TIMEOUT_MS = 10_000;

/**
 * Webhook notifications: when a job reaches an outcome, one delivery per subscribed webhook is
 * recorded (exactly once, whichever processes saw the event); a loop in every process sends due
 * deliveries under a lease, retries failures with backoff, and logs each attempt. Sending never
 * blocks a job: it happens beside it, from the store.
 */
export class WebhookNotifier {
  private readonly owner = newShortId('notifier');
  private timer: NodeJS.Timeout | null = null;
  /** A claim of due deliveries is under way. */
  private claiming = false;
  private stopped = false;
  /** Deliveries being sent: each on its own, so a receiver that never answers holds up no other. */
  private readonly inflight = new Map<number, { done: Promise<void>; abort: AbortController }>();

  constructor(
    private readonly store: MetadataStore,
    private readonly options: {
      intervalMs?: number;
      /** Failed attempts (warn) and deliveries given up (error), with the ids they concern. */
      onError?: (message: string, fields?: Record<string, unknown>) => void;
      /** The server's network policy: deliveries go only to hosts it allows. */
      guard?: ConnectionGuard;
      /** Deliveries sent at once by this process (default 50). */
      maxInFlight?: number;
    } = {},
  ) {}

  /** Feed job events (from the event bus): outcomes become deliveries. */
  onJobEvent = (jobId: string, event: JobEvent): void => {
    if (event.type !== 'status' || !isTerminalJobStatus(event.status)) return;
    void this.enqueue(jobId, event.status as WebhookEvent).catch((e: unknown) =>
      this.options.onError?.(`webhooks for job ${jobId}: ${(e as Error).message}`, {
        job_id: jobId,
      }),
    );
  };

  async enqueue(jobId: string, event: WebhookEvent): Promise<number> {
    const job = await this.store.getJob(jobId);
    if (!job || job.status !== event) return 0;
    const counts = await this.store.batchCounts(jobId);
    const summary = {
      job,
      rowsWritten: counts.reduce((n, c) => n + c.rowsWritten, 0),
      rowsFailed: counts.reduce((n, c) => n + c.rowsFailed, 0),
    };
    const added = await this.store.enqueueWebhookDeliveries({
      tenantId: job.tenantId,
      jobId,
      event,
      occurrence: job.finishedAt ?? job.updatedAt,
      payloadFor: (hook) => payloadFor(hook, event, summary),
    });
    if (added > 0) this.kick();
    return added;
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Stops claiming; sends still waiting for an answer are cut short and tried again later (by any process). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    while (this.claiming) await new Promise((r) => setTimeout(r, 20));
    for (const { abort } of this.inflight.values()) abort.abort();
    await Promise.all([...this.inflight.values()].map((f) => f.done));
  }

  private kick(): void {
    if (this.claiming || this.stopped) return;
    const room = Math.min(20, (this.options.maxInFlight ?? 50) - this.inflight.size);
    if (room <= 0) return;
    this.claiming = true;
    void this.store
      .claimWebhookDeliveries(this.owner, TIMEOUT_MS * 3, room)
      .then((due) => {
        for (const claimed of due) {
          const abort = new AbortController();
          const done = this.send(claimed, abort.signal)
            .catch((e: unknown) =>
              this.options.onError?.(
                `webhook delivery ${claimed.delivery.id}: ${(e as Error).message}`,
                { delivery_id: claimed.delivery.id },
              ),
            )
            .finally(() => this.inflight.delete(claimed.delivery.id));
          this.inflight.set(claimed.delivery.id, { done, abort });
        }
      })
      .catch((e: unknown) => this.options.onError?.(`webhook deliveries: ${(e as Error).message}`))
      .finally(() => {
        this.claiming = false;
      });
  }

  private async send(
    { delivery, payload, webhook, secret }: ClaimedDelivery,
    signal: AbortSignal,
  ): Promise<void> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'freight-webhooks',
      'x-freight-event': `job.${delivery.event}`,
      'x-freight-delivery': String(delivery.id),
    };
    if (webhook.kind === 'generic' && secret) {
      headers['x-freight-timestamp'] = timestamp;
      headers['x-freight-signature'] = signature(secret, timestamp, payload);
    }
    let statusCode: number | null = null;
    let error: string;
    let refused = false;
    try {
      await this.options.guard?.admitUrl(webhook.url, 'url');
      statusCode = await post(webhook.url, headers, payload, this.options.guard?.lookup, signal);
      if (statusCode >= 200 && statusCode < 300) {
        await this.store.recordWebhookDelivery(delivery.id, this.owner, {
          status: 'delivered',
          statusCode,
          error: null,
        });
        return;
      }
      error = `HTTP ${statusCode}`;
    } catch (e) {
      if (signal.aborted) {
        // Shutting down: not the receiver's fault; due again at once for whichever process is running.
        await this.store.recordWebhookDelivery(delivery.id, this.owner, {
          status: 'pending',
          statusCode: null,
          error: 'interrupted by a shutdown',
          nextAttemptAt: new Date().toISOString(),
        });
        return;
      }
      const err = e as Error & { code?: string };
      refused = toFreightError(e).code === 'POLICY_VIOLATION' || err.code === 'EPOLICY';
      error =
        err.name === 'TimeoutError'
          ? `no answer within ${TIMEOUT_MS / 1000} s`
          : refused
            ? err.message
            : (err.code ?? err.message);
    }
    // 4xx other than timeouts and rate limits will not get better by retrying, nor will a refused host.
    const permanent =
      refused ||
      (statusCode !== null &&
        statusCode >= 400 &&
        statusCode < 500 &&
        ![408, 409, 425, 429].includes(statusCode));
    const attempts = delivery.attempts;
    const fields = {
      webhook_id: webhook.id,
      delivery_id: delivery.id,
      tenant_id: webhook.tenantId,
      job_id: delivery.jobId,
      event: delivery.event,
      attempt: attempts,
      status_code: statusCode,
      error,
    };
    if (permanent || attempts >= MAX_ATTEMPTS) {
      await this.store.recordWebhookDelivery(delivery.id, this.owner, {
        status: 'failed',
        statusCode,
        error,
      });
      this.options.onError?.(
        `webhook ${webhook.id} delivery ${delivery.id} failed for good: ${error}`,
        fields,
      );
    } else {
      const next = new Date(Date.now() + backoffMs(attempts, 1000, 300_000)).toISOString();
      await this.store.recordWebhookDelivery(delivery.id, this.owner, {
        status: 'pending',
        statusCode,
        error,
        nextAttemptAt: next,
      });
      this.options.onError?.(
        `webhook ${webhook.id} delivery ${delivery.id} attempt ${attempts} failed: ${error}; next attempt at ${next}`,
        { ...fields, next_attempt_at: next },
      );
    }
  }
}

type ClaimedDelivery = Awaited<ReturnType<MetadataStore['claimWebhookDeliveries']>>[number];

/** POSTs the payload; resolves with the status code (redirects are not followed). */
function post(
  url: string,
  headers: Record<string, string>,
  body: string,
  lookup: LookupFunction | undefined,
  signal?: AbortSignal,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        ...(lookup ? { lookup } : {}),
        ...(signal ? { signal } : {}),
        timeout: TIMEOUT_MS,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })),
    );
    req.on('error', reject);
    req.end(body);
  });
}
