import { Queue, Worker as BullWorker, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Task } from '../engine/tasks.js';
import type { JobQueue, QueueCounts, TaskHandler } from './job-queue.js';

export interface BullMqQueueOptions {
  readonly redisUrl: string;
  /** Queue name (and key prefix), so several installations or test runs can share one Redis. */
  readonly name: string;
  /**
   * How long a worker holds a delivered task before another may take it (its process died):
   * BullMQ's lock, renewed while the task runs. Default 30 s.
   */
  readonly lockMs?: number;
}

/** plan and finalize before work steps (BullMQ: a lower number runs first). */
const PRIORITY: Record<Task['kind'], number> = { plan: 1, finalize: 1, work: 10 };

/**
 * The distributed queue (DESIGN.md §2): BullMQ on Redis. Tasks are BullMQ jobs; any number of
 * `freight worker` processes consume them. A task whose worker dies is delivered again when its
 * lock expires (stalled-job recovery); the store decides what the task still has to do.
 */
export class BullMqQueue implements JobQueue {
  readonly kind = 'bullmq' as const;
  private readonly connection: Redis;
  private readonly queue: Queue;
  private worker: BullWorker | null = null;

  constructor(private readonly o: BullMqQueueOptions) {
    this.connection = new Redis(o.redisUrl, {
      maxRetriesPerRequest: null,
      enableReadyCheck: true,
      lazyConnect: false,
    });
    this.connection.on('error', () => {
      // ioredis reconnects by itself; operations in flight report their own errors.
    });
    this.queue = new Queue(o.name, {
      connection: this.connection as unknown as ConnectionOptions,
      defaultJobOptions: { removeOnComplete: 1000, removeOnFail: 5000, attempts: 1 },
    });
  }

  async enqueue(task: Task, options: { delayMs?: number } = {}): Promise<void> {
    await this.queue.add(task.kind, task, {
      priority: PRIORITY[task.kind],
      ...(options.delayMs && options.delayMs > 0 ? { delay: Math.round(options.delayMs) } : {}),
    });
  }

  consume(handler: TaskHandler, options: { concurrency: number }): void {
    if (this.worker) return;
    this.worker = new BullWorker(this.o.name, async (job) => handler(job.data as Task), {
      connection: new Redis(this.o.redisUrl, {
        maxRetriesPerRequest: null,
      }) as unknown as ConnectionOptions,
      concurrency: Math.max(1, options.concurrency),
      lockDuration: this.o.lockMs ?? 30_000,
      stalledInterval: Math.max(1000, Math.round((this.o.lockMs ?? 30_000) / 2)),
      // A task whose worker keeps dying is still retried; the store keeps it idempotent.
      maxStalledCount: 100,
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 5000 },
    });
    this.worker.on('error', () => {
      // Connection trouble: BullMQ retries; handlers record their own failures in the store.
    });
  }

  async pause(): Promise<void> {
    // Stop taking tasks, and wait for the running ones to return (they enqueue their follow-ups).
    await this.worker?.close();
    this.worker = null;
  }

  async counts(): Promise<QueueCounts> {
    const c = await this.queue.getJobCounts(
      'waiting',
      'prioritized',
      'delayed',
      'active',
      'failed',
      'completed',
    );
    return {
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      delayed: c.delayed ?? 0,
      active: c.active ?? 0,
      failed: c.failed ?? 0,
      completed: c.completed ?? 0,
    };
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.connection.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.pause();
    await this.queue.close();
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}
