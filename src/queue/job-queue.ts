import type { Task } from '../engine/tasks.js';

/**
 * The queue port (DESIGN.md §1, §2): tasks in, tasks delivered to a consumer with bounded
 * concurrency. Two adapters: in-process (embedded) and BullMQ on Redis (distributed).
 *
 * Delivery is at-least-once: a task may run twice (a crash, a redelivery), so every task handler
 * re-reads the store and is idempotent.
 */
export type TaskHandler = (task: Task) => Promise<void>;

export interface QueueCounts {
  /** Ready to run. */
  readonly waiting: number;
  /** Scheduled for later (retry backoff, polling). */
  readonly delayed: number;
  /** Being run right now. */
  readonly active: number;
  readonly failed?: number;
  readonly completed?: number;
}

export interface JobQueue {
  readonly kind: 'in-process' | 'bullmq';
  enqueue(task: Task, options?: { delayMs?: number }): Promise<void>;
  /** Starts delivering tasks to `handler`, at most `concurrency` at a time. */
  consume(handler: TaskHandler, options: { concurrency: number }): void;
  /** Stops delivering new tasks; resolves when running handlers have returned. */
  pause(): Promise<void>;
  counts(): Promise<QueueCounts>;
  /** True when the queue's backend answers (health checks). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
