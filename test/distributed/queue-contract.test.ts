import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Task } from '../../src/engine/tasks.js';
import { BullMqQueue } from '../../src/queue/bullmq-queue.js';
import { InProcessQueue } from '../../src/queue/in-process-queue.js';
import type { JobQueue } from '../../src/queue/job-queue.js';
import { REPO } from '../helpers/cli.js';
import { dropRedisKeys, REDIS_URL, uniqueName } from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';
import { sleep } from '../helpers/wait.js';

/**
 * DESIGN.md §2: one JobQueue interface, two adapters, one test suite run against both. Each test
 * gets its own queue (for BullMQ: its own queue name, whose Redis keys are removed afterwards).
 */

const redisUp = await hasService('redis');
const LOCK_MS = 2000;

async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Removes every Redis key of the given BullMQ queues. */
async function dropQueues(names: readonly string[]): Promise<void> {
  for (const name of names) await dropRedisKeys(`bull:${name}:*`);
}

interface Adapter {
  readonly kind: 'in-process' | 'bullmq';
  /** A new, empty queue; `name` reopens a queue another instance uses (BullMQ only). */
  open(options?: { name?: string; lockMs?: number }): { queue: JobQueue; name: string };
}

const opened: JobQueue[] = [];
const names: string[] = [];

const ADAPTERS: Adapter[] = [
  {
    kind: 'in-process',
    open: () => {
      const queue = new InProcessQueue();
      opened.push(queue);
      return { queue, name: '' };
    },
  },
  {
    kind: 'bullmq',
    open: ({ name, lockMs } = {}) => {
      const queueName = name ?? uniqueName('fq-contract');
      if (!name) names.push(queueName);
      const queue = new BullMqQueue({
        redisUrl: REDIS_URL,
        name: queueName,
        lockMs: lockMs ?? LOCK_MS,
      });
      opened.push(queue);
      return { queue, name: queueName };
    },
  },
];

const work = (i: number | string): Task => ({ kind: 'work', jobId: `job-${i}` });

afterEach(async () => {
  await Promise.all(opened.splice(0).map((q) => q.close().catch(() => {})));
});
afterAll(async () => {
  if (redisUp) await dropQueues(names);
});

describe.each(ADAPTERS.filter((a) => a.kind === 'in-process' || redisUp))(
  'JobQueue contract: $kind',
  (adapter) => {
    it('delivers every task exactly once, never more than `concurrency` at a time', async () => {
      const { queue } = adapter.open();
      const N = 40;
      for (let i = 0; i < N; i++) await queue.enqueue(work(i));
      const seen: string[] = [];
      let active = 0;
      let peak = 0;
      queue.consume(
        async (task) => {
          active++;
          peak = Math.max(peak, active);
          seen.push(task.jobId);
          await sleep(15);
          active--;
        },
        { concurrency: 3 },
      );
      // Tasks enqueued while consuming are delivered too.
      for (let i = N; i < N + 10; i++) await queue.enqueue(work(i));
      await until(() => seen.length >= N + 10 && active === 0, 20_000, 'all tasks');
      await sleep(300);
      expect(seen).toHaveLength(N + 10);
      expect(new Set(seen).size).toBe(N + 10);
      expect(peak).toBeLessThanOrEqual(3);
      expect(peak).toBeGreaterThanOrEqual(2);
    });

    it('delivers a delayed task after its delay, not before (and immediate tasks meanwhile)', async () => {
      const { queue } = adapter.open();
      const arrived = new Map<string, number>();
      queue.consume(
        async (task) => {
          arrived.set(task.jobId, Date.now());
        },
        { concurrency: 2 },
      );
      const t0 = Date.now();
      await queue.enqueue(work('late'), { delayMs: 1200 });
      await queue.enqueue(work('short'), { delayMs: 300 });
      await queue.enqueue(work('now'));
      expect((await queue.counts()).delayed).toBeGreaterThanOrEqual(1);
      await until(() => arrived.size === 3, 10_000, 'the delayed tasks');
      expect(arrived.get('job-now')! - t0).toBeLessThan(1000);
      expect(arrived.get('job-short')! - t0).toBeGreaterThanOrEqual(300);
      expect(arrived.get('job-late')! - t0).toBeGreaterThanOrEqual(1200);
      // …and not much after it either (BullMQ promotes delayed jobs on time).
      expect(arrived.get('job-late')! - t0).toBeLessThan(4000);
      expect(arrived.get('job-short')!).toBeLessThan(arrived.get('job-late')!);
      expect((await queue.counts()).delayed).toBe(0);
    });

    it('delivers plan and finalize tasks before work steps already waiting', async () => {
      const { queue } = adapter.open();
      for (let i = 0; i < 10; i++) await queue.enqueue(work(i));
      await queue.enqueue({ kind: 'plan', jobId: 'p' });
      await queue.enqueue({ kind: 'finalize', jobId: 'f' });
      await queue.enqueue(work(10));
      const order: string[] = [];
      queue.consume(
        async (task) => {
          order.push(task.kind);
        },
        { concurrency: 1 },
      );
      await until(() => order.length === 13, 10_000, 'all tasks');
      expect(order.slice(0, 2).sort()).toEqual(['finalize', 'plan']);
      expect(order.slice(2)).toEqual(Array(11).fill('work'));
    });

    it('pause() waits for running handlers, then delivers nothing until consume() again; nothing is lost', async () => {
      const { queue } = adapter.open();
      for (let i = 0; i < 8; i++) await queue.enqueue(work(i));
      const started: string[] = [];
      const finished: string[] = [];
      const handler = async (task: Task) => {
        started.push(task.jobId);
        await sleep(400);
        finished.push(task.jobId);
      };
      queue.consume(handler, { concurrency: 2 });
      await until(() => started.length === 2, 10_000, 'two running handlers');
      const pausedAt = Date.now();
      await queue.pause();
      // Resolved only once the running handlers had returned.
      expect(finished.length).toBe(started.length);
      expect(Date.now() - pausedAt).toBeGreaterThanOrEqual(200);
      const deliveredBefore = started.length;
      expect(deliveredBefore).toBeLessThan(8);
      await queue.enqueue(work('after-pause'));
      await sleep(800);
      expect(started.length).toBe(deliveredBefore);
      const counts = await queue.counts();
      expect(counts.active).toBe(0);
      expect(counts.waiting).toBe(8 - deliveredBefore + 1);

      queue.consume(handler, { concurrency: 4 });
      await until(() => finished.length === 9, 15_000, 'the rest after consume() again');
      expect(new Set(started).size).toBe(9);
    });

    it('counts() reflects waiting, delayed and active tasks', async () => {
      const { queue } = adapter.open();
      expect(await queue.counts()).toMatchObject({ waiting: 0, delayed: 0, active: 0 });
      for (let i = 0; i < 3; i++) await queue.enqueue(work(i));
      await queue.enqueue(work('d1'), { delayMs: 60_000 });
      await queue.enqueue(work('d2'), { delayMs: 60_000 });
      expect(await queue.counts()).toMatchObject({ waiting: 3, delayed: 2, active: 0 });

      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let running = 0;
      queue.consume(
        async () => {
          running++;
          await gate;
        },
        { concurrency: 2 },
      );
      await until(() => running === 2, 10_000, 'two active tasks');
      await until(async () => (await queue.counts()).active === 2, 5000, 'active = 2');
      expect(await queue.counts()).toMatchObject({ waiting: 1, delayed: 2, active: 2 });
      release();
      await until(
        async () => {
          const c = await queue.counts();
          return c.waiting === 0 && c.active === 0;
        },
        10_000,
        'the queue to drain',
      );
      expect(running).toBe(3);
      expect(await queue.counts()).toMatchObject({ waiting: 0, delayed: 2, active: 0 });
    });

    it('a handler that throws (or rejects) does not stop the queue, and its task is not run again', async () => {
      const { queue } = adapter.open();
      const seen: string[] = [];
      queue.consume(
        async (task) => {
          seen.push(task.jobId);
          const n = Number(task.jobId.slice(4));
          if (n % 3 === 0) throw new Error(`boom ${n}`);
          if (n % 3 === 1) await Promise.reject(new TypeError('async boom'));
        },
        { concurrency: 2 },
      );
      for (let i = 0; i < 12; i++) await queue.enqueue(work(i));
      await until(() => seen.length === 12, 10_000, 'all tasks');
      // Still consuming after the failures.
      await queue.enqueue(work(100));
      await until(() => seen.includes('job-100'), 10_000, 'a task after the failures');
      await sleep(300);
      expect(seen).toHaveLength(13);
      expect(new Set(seen).size).toBe(13);
    });

    it('ping() answers while open; close() waits for running handlers and ends the queue', async () => {
      const { queue } = adapter.open();
      expect(queue.kind).toBe(adapter.kind);
      expect(await queue.ping()).toBe(true);
      let finished = false;
      let started = false;
      queue.consume(
        async () => {
          started = true;
          await sleep(300);
          finished = true;
        },
        { concurrency: 1 },
      );
      await queue.enqueue(work(1));
      await until(() => started, 10_000, 'the task to start');
      await queue.close();
      expect(finished).toBe(true);
      expect(await queue.ping()).toBe(false);
    });

    it.skipIf(adapter.kind !== 'bullmq')(
      'a task whose consumer dies (SIGKILL) is redelivered to another consumer after the lock expires — and not while it lives',
      async () => {
        const dist = path.join(REPO, 'dist/queue/bullmq-queue.js');
        expect(
          existsSync(dist),
          'run `npm run build` first: the dying consumer runs the built adapter',
        ).toBe(true);
        const { queue, name } = adapter.open({ lockMs: LOCK_MS });
        await queue.enqueue(work('orphan'));
        // Another process takes the task and never returns from its handler.
        const script = `
        import { BullMqQueue } from ${JSON.stringify(pathToFileURL(dist).href)};
        const q = new BullMqQueue({ redisUrl: ${JSON.stringify(REDIS_URL)}, name: ${JSON.stringify(name)}, lockMs: ${LOCK_MS} });
        q.consume(async (task) => { process.stdout.write('got ' + task.jobId + '\\n'); await new Promise(() => {}); }, { concurrency: 1 });
      `;
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const exited = new Promise<NodeJS.Signals | null>((resolve) =>
          child.on('exit', (_code, signal) => resolve(signal)),
        );
        try {
          await until(
            () => out.includes('got job-orphan'),
            15_000,
            `the child to take the task (output: ${out})`,
          );

          // A second consumer in this process: while the first one lives (renewing its lock, even
          // past lockMs), the task is not delivered again.
          const { queue: other } = adapter.open({ name, lockMs: LOCK_MS });
          const redelivered: Array<{ jobId: string; at: number }> = [];
          other.consume(
            async (task) => {
              redelivered.push({ jobId: task.jobId, at: Date.now() });
            },
            { concurrency: 2 },
          );
          await sleep(LOCK_MS * 2.5);
          expect(redelivered).toEqual([]);
          expect((await queue.counts()).active).toBe(1);

          const killedAt = Date.now();
          child.kill('SIGKILL');
          expect(await exited).toBe('SIGKILL');
          await until(() => redelivered.length > 0, LOCK_MS * 3 + 10_000, 'the redelivery');
          expect(redelivered.map((r) => r.jobId)).toEqual(['job-orphan']);
          expect(redelivered[0]!.at - killedAt).toBeLessThan(LOCK_MS * 3 + 5000);
          await sleep(LOCK_MS);
          expect(redelivered).toHaveLength(1);
          await until(async () => (await queue.counts()).active === 0, 5000, 'no active task');
        } finally {
          child.kill('SIGKILL');
        }
      },
      40_000,
    );
  },
);
