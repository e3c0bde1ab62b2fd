import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';

describe('configuration from the environment', () => {
  it('defaults to the embedded SQLite store under FREIGHT_HOME', () => {
    const c = loadConfig({ FREIGHT_HOME: '/tmp/fh' });
    expect(c.store).toEqual({ kind: 'sqlite', path: '/tmp/fh/freight.db' });
    expect(c.port).toBe(8000);
    expect(c.metricsPort).toBe(9090);
    expect(c.tokenExpiryHours).toBe(24);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('uses PostgreSQL when DATABASE_URL is a postgresql URL, and takes Celery names for Redis', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgresql://u@h/db',
      CELERY_BROKER_URL: 'redis://r:6379/0',
    });
    expect(c.store).toMatchObject({
      kind: 'postgresql',
      url: 'postgresql://u@h/db',
      schema: 'freight',
    });
    expect(c.redisUrl).toBe('redis://r:6379/0');
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT/],
    [{ ENABLE_METRICS: 'maybe' }, /ENABLE_METRICS/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ REDIS_URL: 'http://x' }, /REDIS_URL/],
    [{ JWT_SECRET_KEY: 'short' }, /JWT_SECRET_KEY/],
    [{ FREIGHT_CONCURENCY: '3' }, /unknown environment variable FREIGHT_CONCURENCY/],
  ])('fails at start-up naming the variable: %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
