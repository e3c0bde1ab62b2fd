import type { Task } from '../engine/tasks.js';
import type { JobQueue, QueueCounts, TaskHandler } from './job-queue.js';

/**
 * The embedded queue: tasks in memory, run in this process. Durable through the store, not
 * through itself — at start-up the worker re-enqueues every unfinished job (pending work is
 * re-queued, DESIGN.md §2). `plan` and `finalize` tasks go before `work` steps, so a new job or a
 * finished one never waits behind another job's batches.
 */
export class InProcessQueue implements JobQueue {
  readonly kind = 'in-process' as const;
  private readonly urgent: Task[] = [];
  private readonly work: Task[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private handler: TaskHandler | null = null;
  private concurrency = 1;
  private active = 0;
  private paused = false;
  private closed = false;
  private readonly idleWaiters: Array<() => void> = [];

  async enqueue(task: Task, options: { delayMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    if (options.delayMs && options.delayMs > 0) {
      this.delay(task, Date.now() + options.delayMs);
      return;
    }
    this.push(task);
  }

  /** Holds `task` until the wall clock reaches `due`. Node's timers run on a monotonic clock
   *  and may fire a millisecond before `Date.now()` says the delay is over; re-arm until it is. */
  private delay(task: Task, due: number): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        if (this.closed) return;
        if (Date.now() < due) this.delay(task, due);
        else this.push(task);
      },
      Math.max(1, due - Date.now()),
    );
    this.timers.add(timer);
  }

  consume(handler: TaskHandler, options: { concurrency: number }): void {
    this.handler = handler;
    this.concurrency = Math.max(1, options.concurrency);
    this.paused = false;
    this.pump();
  }

  async pause(): Promise<void> {
    this.paused = true;
    if (this.active === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  async counts(): Promise<QueueCounts> {
    return {
      waiting: this.urgent.length + this.work.length,
      delayed: this.timers.size,
      active: this.active,
    };
  }

  async ping(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.pause();
    this.urgent.length = 0;
    this.work.length = 0;
  }

  private push(task: Task): void {
    if (this.closed) return;
    (task.kind === 'work' ? this.work : this.urgent).push(task);
    this.pump();
  }

  private pump(): void {
    while (this.handler && !this.paused && this.active < this.concurrency) {
      const task = this.urgent.shift() ?? this.work.shift();
      if (!task) return;
      this.active++;
      void this.handler(task)
        .catch(() => {
          // Handlers record their own failures in the store; a task never kills the queue.
        })
        .finally(() => {
          this.active--;
          if (this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
          this.pump();
        });
    }
  }
}
