import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startTestApi, type TestApi } from '../helpers/api.js';

/**
 * Behind a TLS-terminating proxy the client address comes from X-Forwarded-For — but only when the
 * operator names the proxy (FREIGHT_TRUST_PROXY). Otherwise a client could pick a new address per
 * request and never be throttled.
 */
describe('client addresses behind a proxy (FREIGHT_TRUST_PROXY)', () => {
  let api: TestApi | null = null;
  afterEach(async () => {
    await api?.close();
    api = null;
  });

  const failWith = (forwardedFor: string) =>
    api!.request('GET', '/api/v1/jobs', {
      key: 'fk_000000000000_not-a-key',
      tenant: 'default',
      headers: { 'x-forwarded-for': forwardedFor },
    });

  it('ignores X-Forwarded-For by default: spoofed addresses do not escape the auth-failure throttle', async () => {
    api = await startTestApi('sqlite', { env: { FREIGHT_AUTH_FAILURE_LIMIT: '3' } });
    for (let i = 0; i < 3; i++) expect((await failWith(`203.0.113.${i}`)).statusCode).toBe(401);
    const blocked = await failWith('203.0.113.99');
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toBeDefined();
    expect(blocked.json().error.code).toBe('RATE_LIMITED');
  });

  it('with the proxy trusted, each forwarded client is throttled on its own', async () => {
    // inject() requests come from 127.0.0.1: that is "the proxy" here.
    api = await startTestApi('sqlite', {
      env: { FREIGHT_AUTH_FAILURE_LIMIT: '3', FREIGHT_TRUST_PROXY: '127.0.0.1' },
    });
    for (let i = 0; i < 3; i++) expect((await failWith('198.51.100.7')).statusCode).toBe(401);
    expect((await failWith('198.51.100.7')).statusCode).toBe(429);
    // Another client behind the same proxy is not punished for the first one's guesses.
    expect((await failWith('198.51.100.8')).statusCode).toBe(401);
  });

  it('reads FREIGHT_TRUST_PROXY as a hop count or addresses, and refuses anything else', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ FREIGHT_TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ FREIGHT_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy).toBe(
      '10.0.0.0/8,127.0.0.1',
    );
    expect(() => loadConfig({ FREIGHT_TRUST_PROXY: 'true; rm -rf' })).toThrow(
      /FREIGHT_TRUST_PROXY/,
    );
  });
});
