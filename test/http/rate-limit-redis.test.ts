import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess, type ApiProcess } from '../../src/app/api-process.js';
import { loadConfig } from '../../src/config/config.js';
import {
  dropPgSchema,
  dropRedisKeys,
  PG_STORE_URL,
  REDIS_URL,
  TEST_DATA_DIRS,
  tempDir,
  uniqueName,
} from '../helpers/databases.js';
import { hasService } from '../helpers/services.js';

/**
 * With REDIS_URL set, the per-tenant rate limit is one budget across every API process of the
 * installation (counted in Redis, under the installation's FREIGHT_QUEUE_NAME prefix), and two
 * installations sharing a Redis do not count against each other.
 */

const up = (await hasService('postgres')) && (await hasService('redis'));

describe.skipIf(!up)('rate limits shared through Redis', () => {
  const home = tempDir();
  const schema = uniqueName('frl');
  const queue = uniqueName('frlq');
  const adminKey = `rl-admin-${queue}-0123456789abcdef`;
  const procs: ApiProcess[] = [];
  let other: ApiProcess;
  let redis: Redis;
  let tenant = '';
  let key = '';

  const start = (queueName: string, extra: Record<string, string> = {}) =>
    startApiProcess(
      loadConfig({
        FREIGHT_HOME: home.dir,
        FREIGHT_DATA_DIRS: TEST_DATA_DIRS,
        FREIGHT_SECRET_KEY: 'test-secret-key-0123456789abcdef',
        FREIGHT_AUTH_FAILURE_LIMIT: '100000',
        DATABASE_URL: PG_STORE_URL,
        REDIS_URL,
        FREIGHT_QUEUE_NAME: queueName,
        FREIGHT_RATE_LIMIT: '5',
        FREIGHT_BOOTSTRAP_ADMIN_KEY: adminKey,
        LOG_LEVEL: 'silent',
        ...extra,
      }),
      { worker: false },
    );

  beforeAll(async () => {
    // Two API processes of one installation (same store, same queue name)…
    procs.push(await start(queue, { FREIGHT_DB_SCHEMA: schema }));
    procs.push(await start(queue, { FREIGHT_DB_SCHEMA: schema }));
    // …and another installation on the same Redis.
    other = await start(`${queue}-other`, { FREIGHT_DB_SCHEMA: `${schema}_o` });
    tenant = uniqueName('rl-t').replaceAll('_', '-');
    await procs[0]!.services.keys.createTenant(tenant);
    key = (await procs[0]!.services.keys.createKey({ tenantId: tenant, role: 'viewer' })).key;
    await other.services.keys.createTenant(tenant);
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const p of [...procs, other]) await p?.close();
    redis.disconnect();
    await dropRedisKeys(`${queue}*`);
    for (const s of [schema, `${schema}_o`]) await dropPgSchema(s);
    home.remove();
  });

  const list = (proc: ApiProcess, bearer = key) =>
    proc.app.inject({
      method: 'GET',
      url: '/api/v1/jobs',
      headers: { authorization: `Bearer ${bearer}`, 'x-tenant-id': tenant },
    });

  it("a tenant's budget is shared by the installation's API processes and kept apart from another installation's", async () => {
    // Five requests spread over both processes use up the budget of 5…
    for (let i = 0; i < 5; i++) {
      const r = await list(procs[i % 2]!);
      expect(r.statusCode, `request ${i + 1}: ${r.body}`).toBe(200);
      expect(r.headers['x-ratelimit-remaining']).toBe(String(4 - i));
    }
    // …so the sixth is refused by either process.
    for (const proc of procs) {
      const r = await list(proc);
      expect(r.statusCode).toBe(429);
      expect(r.json().error.code).toBe('RATE_LIMITED');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    // The counters live under this installation's prefix.
    const keys = await redis.keys(`${queue}:rl:*`);
    expect(keys.some((k) => k.includes(tenant))).toBe(true);

    // The other installation (same tenant id, same Redis) has its own budget.
    const otherKey = (await other.services.keys.createKey({ tenantId: tenant, role: 'viewer' }))
      .key;
    const r = await list(other, otherKey);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers['x-ratelimit-remaining']).toBe('4');
  });
});
