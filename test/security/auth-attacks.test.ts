import { createHmac, hkdfSync } from 'node:crypto';
import Database from 'better-sqlite3';
import { generateKeyPair, SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_STORE_URL } from '../helpers/databases.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { hasService } from '../helpers/services.js';
import { STORE_KINDS } from '../helpers/stores.js';
import { expectError, sleep } from './support.js';

/**
 * Credentials an attacker can make (test/http/tenant-isolation.test.ts covers forged, expired,
 * tampered and alg:none tokens and revoked keys on every route): tokens signed right but issued
 * for someone else (issuer, audience), with other algorithms (HS384/HS512, RS256, ES256, an
 * RS256 header over an HMAC signature, every spelling of "none"), without the claims that bound
 * them, with headers pointing at the attacker's key; claims that lie about tenant and role; keys
 * and tokens of an expired key, a disabled tenant, a deleted tenant; and guessing at speed.
 */

const pgUp = await hasService('postgres');
const SECRET = 'test-secret-key-0123456789abcdef'; // the harness's FREIGHT_SECRET_KEY
/** The JWT signing key the server derives from FREIGHT_SECRET_KEY when JWT_SECRET_KEY is unset. */
const DERIVED = new Uint8Array(hkdfSync('sha256', SECRET, 'freight', 'jwt-signing', 32));
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe.each(STORE_KINDS)('credential attacks on the %s store', (kind) => {
  const skip = kind === 'postgresql' && !pgUp;
  let api: TestApi;
  let T: Awaited<ReturnType<TestApi['tenant']>>;
  let other: Awaited<ReturnType<TestApi['tenant']>>;
  let viewerKeyId = '';

  /** A token the way the server makes them, with overrides. */
  const token = (
    o: {
      alg?: string;
      key?: Parameters<SignJWT['sign']>[0];
      claims?: Record<string, unknown>;
      iss?: string | null;
      aud?: string | null;
      sub?: string | null;
      exp?: number | null;
      header?: Record<string, unknown>;
    } = {},
  ) => {
    let jwt = new SignJWT({ tenant: T.id, role: 'viewer', ...o.claims })
      .setProtectedHeader({ alg: o.alg ?? 'HS256', typ: 'JWT', ...o.header })
      .setIssuedAt();
    if (o.sub !== null) jwt = jwt.setSubject(o.sub ?? viewerKeyId);
    if (o.iss !== null) jwt = jwt.setIssuer(o.iss ?? 'freight');
    if (o.aud !== null) jwt = jwt.setAudience(o.aud ?? 'freight-api');
    if (o.exp !== null) jwt = jwt.setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 3600);
    return jwt.sign(o.key ?? DERIVED);
  };

  beforeAll(async () => {
    if (skip) return;
    api = await startTestApi(kind);
    T = await api.tenant();
    other = await api.tenant();
    viewerKeyId = (await api.request('GET', '/api/v1/auth/whoami', { key: T.keys.viewer })).json()
      .key_id;
  });
  afterAll(async () => {
    if (skip) return;
    await api?.close();
  });

  async function expectUnauthenticated(credential: string, what: string) {
    for (const [method, url, tenant] of [
      ['GET', '/api/v1/jobs', T.id],
      ['GET', '/api/v1/auth/whoami', null],
      ['GET', '/api/v1/admin/tenants', null],
    ] as const) {
      const r = await api.request(method, url, { key: credential, tenant });
      expectError(r, 401, 'UNAUTHENTICATED', `${what} on ${url}`);
      expect(r.headers['www-authenticate'], what).toMatch(/^Bearer/);
    }
  }

  it.skipIf(skip)(
    'a genuine token works (the control), and the same claims signed any other way do not',
    async () => {
      const genuine = await token();
      const me = await api.request('GET', '/api/v1/auth/whoami', { key: genuine });
      expect(me.statusCode, me.body).toBe(200);
      expect(me.json()).toMatchObject({
        key_id: viewerKeyId,
        tenant_id: T.id,
        role: 'viewer',
        via: 'jwt',
      });

      const rsa = await generateKeyPair('RS256');
      const ec = await generateKeyPair('ES256');
      const [h, p] = genuine.split('.') as [string, string];
      const hmac = (data: string, key: Uint8Array) =>
        createHmac('sha256', key).update(data).digest('base64url');
      const rsHeader = b64({ alg: 'RS256', typ: 'JWT' });
      const attempts: Array<[string, string | Promise<string>]> = [
        ['a wrong issuer', token({ iss: 'freight-evil' })],
        ['no issuer', token({ iss: null })],
        ['a wrong audience', token({ aud: 'another-api' })],
        ['no audience', token({ aud: null })],
        ['an audience list without ours', token({ claims: { aud: ['x', 'y'] }, aud: null })],
        ['HS384 with the server key', token({ alg: 'HS384' })],
        ['HS512 with the server key', token({ alg: 'HS512' })],
        ['RS256 with the attacker’s key', token({ alg: 'RS256', key: rsa.privateKey })],
        [
          'RS256 with the attacker’s key named in jwk/kid headers',
          token({
            alg: 'RS256',
            key: rsa.privateKey,
            header: { kid: 'attacker', jku: 'http://127.0.0.1:9/jwks.json' },
          }),
        ],
        ['ES256 with the attacker’s key', token({ alg: 'ES256', key: ec.privateKey })],
        [
          'an RS256 header over an HMAC of the server key (algorithm confusion)',
          `${rsHeader}.${p}.${hmac(`${rsHeader}.${p}`, DERIVED)}`,
        ],
        [
          'an HS512 header over the genuine HS256 signature',
          `${b64({ alg: 'HS512', typ: 'JWT' })}.${p}.${genuine.split('.')[2]}`,
        ],
        ...(['none', 'None', 'NONE', 'nOnE'].flatMap((alg) => [
          [`alg "${alg}" without a signature`, `${b64({ alg, typ: 'JWT' })}.${p}.`],
          [
            `alg "${alg}" with the genuine signature`,
            `${b64({ alg, typ: 'JWT' })}.${p}.${genuine.split('.')[2]}`,
          ],
        ]) as Array<[string, string]>),
        ['no alg at all', `${b64({ typ: 'JWT' })}.${p}.${genuine.split('.')[2]}`],
        [
          'an unknown critical header',
          (() => {
            const header = b64({
              alg: 'HS256',
              typ: 'JWT',
              crit: ['zz-must-understand'],
              'zz-must-understand': true,
            });
            return `${header}.${p}.${hmac(`${header}.${p}`, DERIVED)}`;
          })(),
        ],
        ['no expiry', token({ exp: null })],
        ['an expiry a second ago', token({ exp: Math.floor(Date.now() / 1000) - 1 })],
        ['an expiry that is not a number', token({ exp: null, claims: { exp: 'tomorrow' } })],
        [
          'a not-before in the future',
          token({ claims: { nbf: Math.floor(Date.now() / 1000) + 3600 } }),
        ],
        ['no subject', token({ sub: null })],
        ['an unknown key as subject', token({ sub: '0123456789ab' })],
        ['another tenant’s deleted-looking key id', token({ sub: 'ext000000000' })],
        ['a role outside the three', token({ claims: { role: 'superuser' } })],
        [
          'the raw FREIGHT_SECRET_KEY as the HMAC key (not the derived one)',
          token({ key: new TextEncoder().encode(SECRET) }),
        ],
        [
          'a header that is not JSON',
          `${Buffer.from('{"alg":"HS256"').toString('base64url')}.${p}.${genuine.split('.')[2]}`,
        ],
        [
          'a payload that is not JSON',
          `${h}.${Buffer.from('not json').toString('base64url')}.${genuine.split('.')[2]}`,
        ],
        ['four segments', `${genuine}.${genuine.split('.')[2]}`],
        ['a 5000-character credential', `${genuine}${'A'.repeat(5000)}`],
      ];
      for (const [what, value] of attempts) await expectUnauthenticated(await value, what);
      // Compared with the signature check above, the same payload with our header verifies.
      expect(
        (
          await api.request('GET', '/api/v1/auth/whoami', {
            key: `${h}.${p}.${genuine.split('.')[2]}`,
          })
        ).statusCode,
      ).toBe(200);
    },
  );

  it.skipIf(skip)(
    'claims do not grant anything: a genuine token whose claims say admin of another tenant acts as the key it names',
    async () => {
      const lying = await token({ claims: { tenant: other.id, role: 'admin' } });
      const me = await api.request('GET', '/api/v1/auth/whoami', { key: lying });
      expect(me.json()).toMatchObject({ key_id: viewerKeyId, tenant_id: T.id, role: 'viewer' });
      expectError(
        await api.request('GET', '/api/v1/admin/tenants', { key: lying }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await api.request('GET', '/api/v1/jobs', { key: lying, tenant: other.id }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await api.request('POST', '/api/v1/webhooks', {
          key: lying,
          tenant: T.id,
          body: { url: 'http://127.0.0.1:9/x' },
        }),
        403,
        'FORBIDDEN',
      );
      // A token cannot buy a token either.
      expectError(
        await api.request('POST', '/api/v1/auth/token', { key: lying, body: {} }),
        401,
        'UNAUTHENTICATED',
      );
    },
  );

  it.skipIf(skip)(
    'an expired key: the key and the tokens issued before it expired stop working',
    async () => {
      const made = await api.request('POST', '/api/v1/admin/keys', {
        body: {
          tenant_id: T.id,
          role: 'engineer',
          expires_at: new Date(Date.now() + 1500).toISOString(),
        },
      });
      expect(made.statusCode, made.body).toBe(201);
      const key = made.json().key as string;
      const jwt = (await api.request('POST', '/api/v1/auth/token', { key, body: {} })).json()
        .access_token as string;
      expect(
        (await api.request('GET', '/api/v1/jobs', { key: jwt, tenant: T.id })).statusCode,
      ).toBe(200);
      await sleep(1600);
      await expectUnauthenticated(key, 'an expired key');
      await expectUnauthenticated(jwt, 'a token of an expired key');
    },
  );

  it.skipIf(skip)(
    'a disabled tenant, then a deleted one: its keys and tokens are refused',
    async () => {
      const victim = await api.tenant();
      const jwt = (
        await api.request('POST', '/api/v1/auth/token', { key: victim.keys.admin, body: {} })
      ).json().access_token as string;
      expect(
        (await api.request('GET', '/api/v1/jobs', { key: jwt, tenant: victim.id })).statusCode,
      ).toBe(200);
      const store = api.proc.services.config.store;
      const sql = async (statements: string[]) => {
        if (store.kind === 'sqlite') {
          const db = new Database(store.path);
          db.pragma('foreign_keys = OFF');
          db.pragma('busy_timeout = 5000');
          for (const s of statements) db.prepare(s).run(victim.id);
          db.close();
        } else {
          const client = new pg.Client({ connectionString: PG_STORE_URL });
          await client.connect();
          await client.query(`SET search_path TO "${store.schema}"`);
          await client.query('SET session_replication_role = replica'); // lets the tenant row go while its keys stay
          for (const s of statements) await client.query(s.replace('?', '$1'), [victim.id]);
          await client.end();
        }
      };
      const now = new Date().toISOString();
      await sql([`UPDATE tenants SET disabled_at = '${now}' WHERE id = ?`]);
      for (const credential of [victim.keys.viewer, victim.keys.admin, jwt])
        await expectUnauthenticated(credential, 'a credential of a disabled tenant');
      await sql(['DELETE FROM tenants WHERE id = ?']);
      for (const credential of [victim.keys.engineer, victim.keys.admin, jwt])
        await expectUnauthenticated(credential, 'a credential of a deleted tenant');
      // Admins of other tenants cannot act for it either.
      expectError(
        await api.request('GET', '/api/v1/jobs', { tenant: victim.id }),
        404,
        'NOT_FOUND',
      );
    },
  );

  it.skipIf(skip)(
    'malformed Authorization headers are 401 in the error shape, never 500',
    async () => {
      const headers = [
        'Bearer',
        'Bearer ',
        `Bearer ${T.keys.viewer} extra`,
        `Token ${T.keys.viewer}`,
        `Basic ${Buffer.from(`admin:${T.keys.viewer}`).toString('base64')}`,
        `Bearer ${T.keys.viewer.slice(0, -1)}`,
        `Bearer ${T.keys.viewer}${'x'}`,
        'Bearer fk_',
        'Bearer fk_zzzzzzzzzzzz_',
        'Bearer ...',
        'Bearer a.b.c',
        'Bearer ' + 'é'.repeat(10),
        'Bearer \u0000',
        `Bearer ${'x'.repeat(20_000)}`,
      ];
      for (const authorization of headers) {
        const r = await api.app.inject({
          method: 'GET',
          url: '/api/v1/jobs',
          headers: { authorization, 'x-tenant-id': T.id },
        });
        expectError(r as never, 401, 'UNAUTHENTICATED', JSON.stringify(authorization.slice(0, 40)));
      }
    },
  );
});

describe('guessing credentials at speed is throttled per client address (FREIGHT_AUTH_FAILURE_LIMIT)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('sqlite', { env: { FREIGHT_AUTH_FAILURE_LIMIT: '5' } });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('after 5 failures an address is refused with 429 and Retry-After — even with a valid key, on REST, SSE and MCP — while other addresses are served', async () => {
    const t = await api.tenant();
    const from = (remoteAddress: string, authorization: string, url = '/api/v1/jobs') =>
      api.app.inject({
        method: 'GET',
        url,
        remoteAddress,
        headers: { authorization, 'x-tenant-id': t.id },
      });
    for (let i = 0; i < 5; i++)
      expectError(
        (await from('10.9.9.9', `Bearer fk_${'0'.repeat(12)}_${'A'.repeat(43)}`)) as never,
        401,
        'UNAUTHENTICATED',
      );
    for (const url of [
      '/api/v1/jobs',
      '/api/v1/auth/whoami',
      `/api/v1/jobs/00000000-0000-4000-8000-000000000000/events`,
    ]) {
      const blocked = await from('10.9.9.9', `Bearer ${t.keys.viewer}`, url);
      expectError(blocked as never, 429, 'RATE_LIMITED', url);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(blocked.headers['retry-after'])).toBeLessThanOrEqual(60);
    }
    const mcp = await api.app.inject({
      method: 'POST',
      url: '/mcp',
      remoteAddress: '10.9.9.9',
      headers: {
        authorization: `Bearer ${t.keys.viewer}`,
        'x-tenant-id': t.id,
        host: 'localhost',
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
      },
      payload: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
    });
    expectError(mcp as never, 429, 'RATE_LIMITED', '/mcp from the blocked address');
    // Another address, the same valid key: served.
    expect((await from('10.9.9.8', `Bearer ${t.keys.viewer}`)).statusCode).toBe(200);

    // Guesses through the token exchange's body and through /mcp count too.
    const exchange = (remoteAddress: string, apiKey: string) =>
      api.app.inject({
        method: 'POST',
        url: '/api/v1/auth/token',
        remoteAddress,
        headers: { 'content-type': 'application/json' },
        payload: { api_key: apiKey },
      });
    for (let i = 0; i < 5; i++)
      expectError(
        (await exchange('10.9.9.7', `fk_${'0'.repeat(12)}_${'B'.repeat(43)}`)) as never,
        401,
        'UNAUTHENTICATED',
      );
    expectError(
      (await exchange('10.9.9.7', t.keys.viewer)) as never,
      429,
      'RATE_LIMITED',
      'token exchange after 5 guesses',
    );
    const mcpGuess = (remoteAddress: string, key: string) =>
      api.app.inject({
        method: 'POST',
        url: '/mcp',
        remoteAddress,
        headers: {
          authorization: `Bearer ${key}`,
          'x-tenant-id': t.id,
          host: 'localhost',
          accept: 'application/json, text/event-stream',
          'content-type': 'application/json',
        },
        payload: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
      });
    for (let i = 0; i < 5; i++)
      expect(
        (await mcpGuess('10.9.9.6', `fk_${'0'.repeat(12)}_${'C'.repeat(43)}`)).statusCode,
      ).toBe(401);
    expectError(
      (await mcpGuess('10.9.9.6', t.keys.viewer)) as never,
      429,
      'RATE_LIMITED',
      '/mcp after 5 guesses',
    );
    expect((await mcpGuess('10.9.9.5', t.keys.viewer)).statusCode).toBe(200);
  });
});
