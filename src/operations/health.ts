import { z } from 'zod';
import { VERSION } from '../config/version.js';
import { FreightError } from '../domain/errors.js';
import { defineOperation, READ } from './operation.js';
import { WORKER_ALIVE_MS } from './workers.js';

const Check = z.object({
  ok: z.boolean(),
  latency_ms: z.number().nullable(),
  detail: z.string().nullable(),
});

export const healthCheck = defineOperation({
  id: 'health_check',
  method: 'GET',
  path: '/health',
  summary: 'Service health',
  description:
    'Checks the metadata store and the queue, and counts live workers. Answers 200 with status ok when the store and the queue answer, 503 otherwise. Needs no credentials.',
  tags: ['ops'],
  role: null,
  tenantScoped: false,
  toolset: 'ops',
  annotations: READ,
  output: z.object({
    status: z.enum(['ok', 'unavailable']),
    checks: z.object({
      store: Check,
      queue: Check,
      workers: z.object({ alive: z.number().int() }),
    }),
    version: z.string(),
  }),
  successStatus: 200,
  errors: ['UNAVAILABLE'],
  audited: false,
  async handler(ctx) {
    const { store, queue } = ctx.services;
    const timed = async (fn: () => Promise<boolean>) => {
      const t0 = performance.now();
      const ok = await Promise.race([
        fn().catch(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
      ]);
      return {
        ok,
        latency_ms: Math.round((performance.now() - t0) * 10) / 10,
        detail: ok ? null : 'not answering',
      };
    };
    const [storeCheck, queueCheck] = await Promise.all([
      timed(() => store.ping()),
      timed(() => queue.ping()),
    ]);
    const alive = storeCheck.ok
      ? (
          await store
            .listWorkers(new Date(Date.now() - WORKER_ALIVE_MS).toISOString())
            .catch(() => [])
        ).length
      : 0;
    const body = {
      status: storeCheck.ok && queueCheck.ok ? ('ok' as const) : ('unavailable' as const),
      checks: {
        store: storeCheck,
        queue: { ...queueCheck, detail: queueCheck.ok ? queue.kind : 'not answering' },
        workers: { alive },
      },
      version: VERSION,
    };
    if (body.status !== 'ok')
      throw new FreightError('UNAVAILABLE', 'a dependency is not answering', { details: body });
    return body;
  },
});
