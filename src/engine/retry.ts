import { errorKind, FreightError, toFreightError } from '../domain/errors.js';

/**
 * Exponential backoff with jitter: attempt n waits base·2^(n-1), capped, scaled by a random factor
 * in [0.5, 1) so that batches failing together do not retry together.
 */
export function backoffMs(
  attempt: number,
  baseMs = 200,
  capMs = 30_000,
  random: () => number = Math.random,
): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (0.5 + random() / 2));
}

/** Codes that no other batch or retry can get past: the job stops with this error. */
const JOB_FATAL = new Set([
  'AUTH_FAILED',
  'CONNECTION_FAILED',
  'DATABASE_NOT_FOUND',
  'TABLE_NOT_FOUND',
  'PERMISSION_DENIED',
  'SCHEMA_CONFLICT',
  'CONFIG_INVALID',
  'CONNECTION_CONFIG_INVALID',
  'UNSUPPORTED',
  'POLICY_VIOLATION',
]);

export function isJobFatal(error: unknown): boolean {
  return error instanceof FreightError && JOB_FATAL.has(error.code);
}

/** Runs `fn`, retrying transient failures with backoff; the last error is rethrown. */
export async function withRetries<T>(
  fn: () => Promise<T>,
  options: {
    retries: number;
    signal?: AbortSignal;
    baseMs?: number;
    onRetry?: (error: FreightError, attempt: number, delayMs: number) => void;
  },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (errorKind(error) !== 'transient' || attempt > options.retries || options.signal?.aborted)
        throw error;
      const delay = backoffMs(attempt, options.baseMs);
      options.onRetry?.(toFreightError(error), attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
