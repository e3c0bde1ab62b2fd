import { hostname } from 'node:os';
import { FreightError, toFreightError } from '../domain/errors.js';
import { newShortId } from '../domain/ids.js';
import { isTerminalJobStatus } from '../domain/job.js';
import type { JobEvent } from '../engine/events.js';
import type { JobRuntime } from '../engine/job-runtime.js';
import type { JobLedger } from '../engine/ledger.js';
import type { Connectors } from '../engine/ports.js';
import { withRetries } from '../engine/retry.js';
import { finalizeStep } from '../engine/steps/finalize-step.js';
import { planStep } from '../engine/steps/plan-step.js';
import type { StepContext } from '../engine/steps/step-context.js';
import { workStep } from '../engine/steps/work-step.js';
import type { Task } from '../engine/tasks.js';
import type { JobQueue } from '../queue/job-queue.js';
import { unrestricted, type ConnectionGuard } from '../security/connection-guard.js';

export interface WorkerOptions {
  readonly ledger: JobLedger;
  readonly queue: JobQueue;
  readonly connectors: Connectors;
  /** Checked before every job's connectors open (server processes: data directories and network policy). */
  readonly guard?: ConnectionGuard;
  readonly workerId?: string;
  /** Tasks this process runs at once (batches, plus planning and finalizing). */
  readonly concurrency: number;
  /** Batch and job lock lease (default 60 s; renewed every third of it). */
  readonly leaseMs?: number;
  /** Most batches of one tenant running at once across the platform (0: no cap). */
  readonly tenantConcurrency?: number;
  /**
   * Idle connector sets kept open for jobs this worker may get more tasks of (default:
   * `concurrency`); beyond it the least recently used are closed. Without a bound a worker that
   * touches many jobs (50 jobs planned one after another) holds pools to all of their databases
   * and exhausts their connection limits.
   */
  readonly maxIdleRuntimes?: number;
  readonly onEvent?: (jobId: string, event: JobEvent) => void;
}

interface RuntimeEntry {
  promise: Promise<JobRuntime>;
  users: number;
  finished: boolean;
  idleTimer: NodeJS.Timeout | null;
  /** When its last user released it (for closing the least recently used first). */
  idleSince: number;
}

export interface WorkerInfo {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly concurrency: number;
  readonly startedAt: string;
  readonly running: ReadonlyArray<{
    jobId: string;
    table: string;
    batchId: number;
    attempt: number;
    startedAt: string;
  }>;
  /** Rows written and batches finished by this worker over the last minute. */
  readonly lastMinute: { readonly rows: number; readonly batches: number };
}

const IDLE_CLOSE_MS = 30_000;

/**
 * Takes tasks from the queue and runs the engine's steps (DESIGN.md §1 worker/): keeps one set
 * of open connectors per job it works on (shared by that job's batches here, closed when the job
 * ends, sits idle, or is the least recently used of too many idle ones), renews leases, and on a
 * hard stop rolls back and hands back its batches.
 */
export class Worker {
  readonly id: string;
  private readonly abort = new AbortController();
  private readonly runtimes = new Map<string, RuntimeEntry>();
  private readonly leaseMs: number;
  private readonly startedAt = new Date().toISOString();
  private readonly current = new Map<
    number,
    { jobId: string; table: string; batchId: number; attempt: number; startedAt: string }
  >();
  private readonly finishedLog: Array<{ at: number; rows: number }> = [];
  private started = false;
  private readonly changeListeners = new Set<() => void>();

  constructor(private readonly o: WorkerOptions) {
    this.id = o.workerId ?? newShortId(`worker-${hostname()}-${process.pid}`);
    this.leaseMs = o.leaseMs ?? 60_000;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.o.queue.consume((task) => this.handle(task), { concurrency: this.o.concurrency });
  }

  /**
   * Stops taking tasks. Graceful: running tasks finish. Hard: running batches roll back and go
   * back to pending for another worker (or the next start) to run.
   */
  async stop(options: { hard?: boolean } = {}): Promise<void> {
    if (options.hard) this.abort.abort(new FreightError('CANCELLED', 'worker stopping'));
    await this.o.queue.pause();
    await Promise.all([...this.runtimes.keys()].map((jobId) => this.closeRuntime(jobId)));
  }

  /** Calls `listener` whenever the set of running batches changes; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  info(): WorkerInfo {
    const cutoff = Date.now() - 60_000;
    while (this.finishedLog.length > 0 && this.finishedLog[0]!.at < cutoff)
      this.finishedLog.shift();
    return {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      concurrency: this.o.concurrency,
      startedAt: this.startedAt,
      running: [...this.current.values()],
      lastMinute: {
        rows: this.finishedLog.reduce((n, f) => n + f.rows, 0),
        batches: this.finishedLog.length,
      },
    };
  }

  private async handle(task: Task): Promise<void> {
    const used = new Set<string>();
    const ctx: StepContext = {
      ledger: this.o.ledger,
      workerId: this.id,
      leaseMs: this.leaseMs,
      abort: this.abort.signal,
      ...(this.o.tenantConcurrency ? { tenantConcurrency: this.o.tenantConcurrency } : {}),
      schedule: (next, delayMs) => this.o.queue.enqueue(next, delayMs ? { delayMs } : {}),
      emit: (jobId, event) => this.emit(jobId, event),
      runtime: (jobId) => {
        if (!used.has(jobId)) {
          used.add(jobId);
          this.acquire(jobId);
        }
        return this.runtimes.get(jobId)!.promise;
      },
    };
    try {
      if (task.kind === 'plan') await planStep(ctx, task.jobId);
      else if (task.kind === 'work') await workStep(ctx, task.jobId);
      else await finalizeStep(ctx, task.jobId);
    } finally {
      for (const jobId of used) this.releaseRuntime(jobId);
    }
  }

  private emit(jobId: string, event: JobEvent): void {
    if (event.type === 'batch-started') {
      this.current.set(event.batchId, {
        jobId,
        table: event.table,
        batchId: event.batchId,
        attempt: event.attempt,
        startedAt: new Date().toISOString(),
      });
      for (const listener of this.changeListeners) listener();
    } else if (event.type === 'batch-finished') {
      this.current.delete(event.batchId);
      this.finishedLog.push({ at: Date.now(), rows: event.rowsWritten });
      for (const listener of this.changeListeners) listener();
    } else if (event.type === 'status' && isTerminalJobStatus(event.status)) {
      const entry = this.runtimes.get(jobId);
      if (entry) {
        entry.finished = true;
        if (entry.users === 0) void this.closeRuntime(jobId);
      }
    }
    try {
      this.o.onEvent?.(jobId, event);
    } catch {
      // A listener's failure must not break the job.
    }
  }

  private acquire(jobId: string): void {
    let entry = this.runtimes.get(jobId);
    if (!entry) {
      entry = {
        promise: this.openRuntime(jobId),
        users: 0,
        finished: false,
        idleTimer: null,
        idleSince: 0,
      };
      this.runtimes.set(jobId, entry);
      entry.promise.catch(() => this.runtimes.delete(jobId));
    }
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = null;
    entry.users++;
  }

  private releaseRuntime(jobId: string): void {
    const entry = this.runtimes.get(jobId);
    if (!entry) return;
    entry.users--;
    if (entry.users > 0) return;
    if (entry.finished) {
      void this.closeRuntime(jobId);
      return;
    }
    entry.idleTimer = setTimeout(() => void this.closeRuntime(jobId), IDLE_CLOSE_MS);
    entry.idleTimer.unref();
    entry.idleSince = performance.now();
    this.trimIdleRuntimes();
  }

  /** Closes the least recently used idle connector sets beyond `maxIdleRuntimes`. */
  private trimIdleRuntimes(): void {
    const max = Math.max(0, this.o.maxIdleRuntimes ?? this.o.concurrency);
    const idle = [...this.runtimes]
      .filter(([, e]) => e.users === 0)
      .sort((a, b) => a[1].idleSince - b[1].idleSince);
    for (const [jobId] of idle.slice(0, Math.max(0, idle.length - max)))
      void this.closeRuntime(jobId);
  }

  private async closeRuntime(jobId: string): Promise<void> {
    const entry = this.runtimes.get(jobId);
    if (!entry) return;
    this.runtimes.delete(jobId);
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    try {
      const runtime = await entry.promise;
      await Promise.all([runtime.source.close(), runtime.target.close()]);
    } catch {
      // It never opened, or closing failed: nothing left to release.
    }
  }

  /** Opens the job's connectors; unreachable after the retries → CONNECTION_FAILED naming the side. */
  private async openRuntime(jobId: string): Promise<JobRuntime> {
    const job = await this.o.ledger.getJobWithSecrets(jobId);
    if (!job) throw new FreightError('JOB_NOT_FOUND', `job ${jobId} not found`);
    const poolSize = job.options.concurrency + 2;
    const open = async <T extends { close(): Promise<void> }>(
      side: 'source' | 'target',
      fn: () => Promise<T>,
      probe: (c: T) => Promise<unknown>,
    ) =>
      withRetries(
        async () => {
          const connector = await fn();
          try {
            await probe(connector);
            return connector;
          } catch (error) {
            await connector.close().catch(() => {});
            throw error;
          }
        },
        {
          retries: job.options.maxRetries,
          signal: this.abort.signal,
          onRetry: (e, attempt, delay) =>
            this.emit(jobId, {
              type: 'log',
              level: 'warn',
              message: `${side}: ${e.message} (retry ${attempt} in ${delay} ms)`,
            }),
        },
      ).catch((error: unknown) => {
        const e = toFreightError(error);
        if (e.code === 'TRANSIENT' || e.code === 'DATABASE_ERROR') {
          throw new FreightError('CONNECTION_FAILED', `cannot reach the ${side}: ${e.message}`, {
            cause: e,
          });
        }
        throw e;
      });
    const guard = this.o.guard ?? unrestricted;
    const admit = (config: typeof job.source, field: string) =>
      guard.admit(config, { tenantId: job.tenantId, field });
    const source = await open(
      'source',
      async () =>
        this.o.connectors.openSource(await admit(job.source, 'source_config'), { poolSize }),
      (s) => s.listTables(this.abort.signal),
    );
    try {
      const target = await open(
        'target',
        async () =>
          this.o.connectors.openTarget(await admit(job.target, 'target_config'), { poolSize }),
        async () => {},
      );
      return { job, source, target, tables: new Map() };
    } catch (error) {
      await source.close().catch(() => {});
      throw error;
    }
  }
}
