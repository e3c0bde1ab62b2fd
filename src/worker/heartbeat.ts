import type { MetadataStore } from '../store/store.js';
import type { Worker } from './worker.js';

/**
 * Publishes the worker's state to the store every `intervalMs` (heartbeats with expiry: a worker
 * is alive while its last heartbeat is recent). Returns a function that stops and deregisters it.
 */
export function startHeartbeat(store: MetadataStore, worker: Worker, intervalMs = 5000): () => Promise<void> {
  const beat = async () => {
    const info = worker.info();
    await store
      .heartbeat({ id: info.id, host: info.host, pid: info.pid, concurrency: info.concurrency, startedAt: info.startedAt, info: { running: info.running, lastMinute: info.lastMinute } })
      .catch(() => {});
  };
  void beat();
  const timer = setInterval(() => void beat(), intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await store.removeWorker(worker.id).catch(() => {});
  };
}
