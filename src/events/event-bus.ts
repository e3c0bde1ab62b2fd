import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { JobEvent } from '../engine/events.js';

/**
 * Job events from whichever process runs the job to whoever watches it (SSE streams, metrics,
 * webhooks). In-process by default; over Redis pub/sub when REDIS_URL is set, so a browser on
 * the API sees the batches a worker on another machine finishes.
 */
export interface EventBus {
  publish(jobId: string, event: JobEvent): void;
  /** Listens to one job's events, or every job's with '*'. Returns the unsubscribe function. */
  subscribe(jobId: string | '*', listener: (jobId: string, event: JobEvent) => void): () => void;
  close(): Promise<void>;
}

export class InProcessEventBus implements EventBus {
  protected readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(jobId: string, event: JobEvent): void {
    this.deliver(jobId, event);
  }

  protected deliver(jobId: string, event: JobEvent): void {
    this.emitter.emit(jobId, jobId, event);
    this.emitter.emit('*', jobId, event);
  }

  subscribe(jobId: string, listener: (jobId: string, event: JobEvent) => void): () => void {
    const wrapped = (id: string, event: JobEvent) => {
      try {
        listener(id, event);
      } catch {
        // A listener's failure never reaches the publisher.
      }
    };
    this.emitter.on(jobId, wrapped);
    return () => this.emitter.off(jobId, wrapped);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/** Redis pub/sub: events published by any process reach subscribers in every process. */
export class RedisEventBus extends InProcessEventBus {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly channel: string;

  constructor(redisUrl: string, namespace: string) {
    super();
    this.channel = `freight:${namespace}:events`;
    this.pub = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
    this.sub = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.pub.on('error', () => {});
    this.sub.on('error', () => {});
    void this.sub.subscribe(this.channel).catch(() => {});
    this.sub.on('message', (_channel, message: string) => {
      try {
        const { jobId, event } = JSON.parse(message) as { jobId: string; event: JobEvent };
        this.deliver(jobId, event);
      } catch {
        // Not ours.
      }
    });
  }

  override publish(jobId: string, event: JobEvent): void {
    void this.pub.publish(this.channel, JSON.stringify({ jobId, event })).catch(() => {
      // Redis unavailable: watchers fall back to the progress they read from the store.
    });
  }

  override async close(): Promise<void> {
    await super.close();
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
