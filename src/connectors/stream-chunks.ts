import type { Readable } from 'node:stream';

/**
 * Turns a row stream (one 'data' event per row) into chunks of rows, with backpressure: the
 * stream is paused while `maxReady` chunks wait for the consumer. Per-row async iteration costs
 * about a microsecond a row; a chunk costs that once.
 *
 * When the consumer stops early or `signal` aborts, `onAbandon` is called (drivers must then
 * discard the connection: its result set was not read to the end).
 */
export async function* chunkRows<T>(
  stream: Readable,
  chunkSize: number,
  options: { signal?: AbortSignal; onAbandon?: () => void; maxReady?: number } = {},
): AsyncGenerator<T[]> {
  const maxReady = options.maxReady ?? 2;
  const ready: T[][] = [];
  let current: T[] = [];
  let ended = false;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onData = (row: T) => {
    current.push(row);
    if (current.length >= chunkSize) {
      ready.push(current);
      current = [];
      if (ready.length >= maxReady) stream.pause();
      notify();
    }
  };
  const onEnd = () => {
    if (current.length > 0) ready.push(current);
    current = [];
    ended = true;
    notify();
  };
  const onError = (error: unknown) => {
    failure ??= error;
    notify();
  };
  const onAbort = () => {
    failure ??= options.signal?.reason ?? new DOMException('aborted', 'AbortError');
    notify();
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('error', onError);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  let finished = false;
  try {
    for (;;) {
      if (failure) throw failure;
      const chunk = ready.shift();
      if (chunk) {
        if (stream.isPaused() && ready.length < maxReady && !ended) stream.resume();
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
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onError);
    options.signal?.removeEventListener('abort', onAbort);
    if (!finished) {
      options.onAbandon?.();
      stream.destroy();
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
