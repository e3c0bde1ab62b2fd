import type { MetadataStore } from '../store/store.js';
import type { Worker } from './worker.js';

/**
 * Publishes the worker's state to the store every `intervalMs` (heartbeats with expiry: a worker
 * is alive while its last heartbeat is recent), and also soon after its running batches change —
 * at most one such beat per `minSpacingMs` — so worker status shows what runs now, not what ran
 * at the last interval. Beats are written one at a time, each with the state of its moment, so
 * an older state never overwrites a newer one. Returns a function that stops and deregisters it.
 */
export function startHeartbeat(
  store: MetadataStore,
  worker: Worker,
  intervalMs = 5000,
  minSpacingMs = 1000,
): () => Promise<void> {
  let last = 0;
  let stopped = false;
  let chain: Promise<void> = Promise.resolve();
  let soon: NodeJS.Timeout | null = null;
  const beat = () => {
    chain = chain.then(async () => {
      if (stopped) return;
      last = Date.now();
      const info = worker.info();
      await store
        .heartbeat({
          id: info.id,
          host: info.host,
          pid: info.pid,
          concurrency: info.concurrency,
          startedAt: info.startedAt,
          info: { running: info.running, lastMinute: info.lastMinute },
        })
        .catch(() => {});
    });
  };
  const onChange = () => {
    if (soon || stopped) return;
    soon = setTimeout(
      () => {
        soon = null;
        beat();
      },
      Math.max(0, last + minSpacingMs - Date.now()),
    );
    soon.unref();
  };
  const unsubscribe = worker.onChange(onChange);
  beat();
  const timer = setInterval(beat, intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    unsubscribe();
    clearInterval(timer);
    if (soon) clearTimeout(soon);
    await chain;
    await store.removeWorker(worker.id).catch(() => {});
  };
}
