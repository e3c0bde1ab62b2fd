import type { Readable } from 'node:stream';

/**
 * Rows pushed by a driver, one callback per row, with flow control: what `chunkRows` consumes.
 * `listen` attaches the handlers and returns a function that detaches them.
 */
export interface RowEvents<T> {
  listen(handlers: {
    row: (row: T) => void;
    end: () => void;
    error: (error: unknown) => void;
  }): () => void;
  pause(): void;
  resume(): void;
  /** Stops the rows for good (the consumer left early). */
  destroy(): void;
}

/** A Readable in object mode (one 'data' event per row) as RowEvents. */
export function streamEvents<T>(stream: Readable): RowEvents<T> {
  return {
    listen({ row, end, error }) {
      stream.on('data', row);
      stream.on('end', end);
      stream.on('error', error);
      return () => {
        stream.off('data', row);
        stream.off('end', end);
        stream.off('error', error);
      };
    },
    pause: () => stream.pause(),
    resume: () => stream.resume(),
    destroy: () => stream.destroy(),
  };
}

/**
 * Turns rows pushed one at a time into chunks of rows, with backpressure: the source is paused
 * while `maxReady` chunks wait for the consumer. Per-row async iteration costs about a
 * microsecond a row; a chunk costs that once.
 *
 * When the consumer stops early or `signal` aborts, `onAbandon` is called (drivers must then
 * discard the connection: its result set was not read to the end).
 */
export async function* chunkRows<T>(
  source: Readable | RowEvents<T>,
  chunkSize: number,
  options: { signal?: AbortSignal; onAbandon?: () => void; maxReady?: number } = {},
): AsyncGenerator<T[]> {
  const events = 'listen' in source ? source : streamEvents<T>(source);
  const maxReady = options.maxReady ?? 2;
  const ready: T[][] = [];
  let current: T[] = [];
  let ended = false;
  let paused = false;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const detach = events.listen({
    row: (row) => {
      current.push(row);
      if (current.length >= chunkSize) {
        ready.push(current);
        current = [];
        if (ready.length >= maxReady && !paused) {
          paused = true;
          events.pause();
        }
        notify();
      }
    },
    end: () => {
      if (current.length > 0) ready.push(current);
      current = [];
      ended = true;
      notify();
    },
    error: (error) => {
      failure ??= error;
      notify();
    },
  });
  const onAbort = () => {
    failure ??= options.signal?.reason ?? new DOMException('aborted', 'AbortError');
    notify();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  let finished = false;
  try {
    for (;;) {
      if (failure) throw failure;
      const chunk = ready.shift();
      if (chunk) {
        if (paused && ready.length < maxReady && !ended) {
          paused = false;
          events.resume();
        }
        yield chunk;
        continue;
      }
      if (ended) {
        finished = true;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    detach();
    options.signal?.removeEventListener('abort', onAbort);
    if (!finished) {
      options.onAbandon?.();
      events.destroy();
    }
  }
}

/** Chunks rows produced synchronously (better-sqlite3 iterators), yielding between chunks. */
export async function* chunkIterator<T>(
  iterator: Iterator<T>,
  chunkSize: number,
  signal?: AbortSignal,
): AsyncGenerator<T[]> {
  let done = false;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const chunk: T[] = [];
      while (chunk.length < chunkSize) {
        const next = iterator.next();
        if (next.done) {
          done = true;
          break;
        }
        chunk.push(next.value);
      }
      if (chunk.length > 0) yield chunk;
      if (done) return;
      // Let timers and other batches run between chunks of a synchronous driver.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    if (!done) iterator.return?.();
  }
}
