import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { tempDir } from '../helpers/databases.js';
import { expectError, type Answer } from './support.js';

/**
 * Hostile request shapes (auth-and-limits.test.ts has the basic malformed/oversized cases): bodies
 * past the 1 MiB limit (also streamed without a length), broken JSON of many kinds, other media
 * types, deep nesting, huge arrays and strings, unknown fields, numbers out of bounds, prototype
 * keys, query-string tricks, path parameters with traversal and encoded slashes, hostile headers.
 * Every one answers 4xx in the one error shape without a stack trace; nothing reaches the
 * server's error log; the prototype of Object is untouched; the server keeps serving.
 */

const MiB = 1024 * 1024;

describe('hostile input', () => {
  let api: TestApi;
  let T: Awaited<ReturnType<TestApi['tenant']>>;
  let jobId = '';
  const files = tempDir();
  const errorLines: string[] = [];
  const capture = new Writable({
    write(chunk: Buffer, _enc, done) {
      // Request errors (a 500 and its cause) carry the request id; job events do not.
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { level: number; request_id?: string };
        if (entry.level >= 50 && entry.request_id) errorLines.push(line);
      }
      done();
    },
  });

  beforeAll(async () => {
    api = await startTestApi('sqlite', { log: { level: 'warn', stream: capture } });
    T = await api.tenant();
    const created = await api.request('POST', '/api/v1/jobs', {
      key: T.keys.engineer,
      tenant: T.id,
      body: {
        source_config: `sqlite:${files.file('missing.db')}`,
        target_config: `sqlite:${files.file('t.db')}`,
        max_retries: 0,
      },
    });
    jobId = created.json().job_id;
    await api.waitForJob(T.id, T.keys.viewer, jobId);
  });
  afterAll(async () => {
    await api?.close();
    files.remove();
  });

  const eng = () => ({ authorization: `Bearer ${T.keys.engineer}`, 'x-tenant-id': T.id });
  const validJob = () => ({
    source_config: `sqlite:${files.file('missing.db')}`,
    target_config: `sqlite:${files.file('t2.db')}`,
  });
  async function send(
    method: string,
    url: string,
    payload?: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<Answer & { json: <T>() => T }> {
    return (await api.app.inject({
      method: method as 'POST',
      url,
      headers: {
        ...eng(),
        ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(payload !== undefined ? { payload } : {}),
    })) as unknown as Answer & { json: <T>() => T };
  }

  it('bodies over the 1 MiB limit: 413 PAYLOAD_TOO_LARGE on every route that takes one, also when streamed without a Content-Length', async () => {
    const big = JSON.stringify({ ...validJob(), started_by: 'x'.repeat(MiB) });
    for (const [method, url] of [
      ['POST', '/api/v1/jobs'],
      ['POST', `/api/v1/jobs/${jobId}/retry`],
      ['POST', '/api/v1/webhooks'],
      ['POST', '/api/v1/auth/token'],
      ['POST', '/api/v1/admin/tenants'],
      ['POST', '/api/v1/admin/keys'],
    ] as const) {
      const headers: Record<string, string> = url.startsWith('/api/v1/admin')
        ? { authorization: `Bearer ${api.adminKey}` }
        : {};
      expectError(await send(method, url, big, headers), 413, 'PAYLOAD_TOO_LARGE', url);
    }
    // Over real HTTP, chunked: the server stops reading at the limit.
    const base = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const chunks = (function* () {
      yield Buffer.from('{"started_by":"');
      for (let i = 0; i < 40; i++) yield Buffer.alloc(64 * 1024, 0x61);
      yield Buffer.from('"}');
    })();
    const res = await fetch(`${base}/api/v1/jobs`, {
      method: 'POST',
      headers: { ...eng(), 'content-type': 'application/json' },
      body: Readable.toWeb(Readable.from(chunks)) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    const text = await res.text();
    expectError(
      { statusCode: res.status, body: text, headers: Object.fromEntries(res.headers) },
      413,
      'PAYLOAD_TOO_LARGE',
      'chunked upload',
    );
  });

  it('malformed JSON of every kind is 400 BAD_REQUEST (or VALIDATION_FAILED for well-formed non-objects)', async () => {
    const broken = [
      '{',
      '{"a":}',
      "{'source_config':'x'}",
      '{"a":1}{"b":2}',
      '{"a":1,}',
      'NaN',
      '[1,]',
      '{"a":undefined}',
      '\u0000',
      '{"a":"\\x41"}',
      '{"a":1',
      '}',
      '"unterminated',
      '{"a":01}',
      '\ufeff{"a":1}',
      ' ',
      'tru',
      '{"a":1}garbage',
      '{"\\ud800": 1,',
    ];
    for (const payload of broken)
      expectError(
        await send('POST', '/api/v1/jobs', payload),
        400,
        /^(BAD_REQUEST|VALIDATION_FAILED)$/,
        JSON.stringify(payload),
      );
    for (const payload of ['null', '1', '"a string"', 'true', '[]', '[{}]']) {
      const error = expectError(
        await send('POST', '/api/v1/jobs', payload),
        400,
        'VALIDATION_FAILED',
        payload,
      );
      expect(error.message).toMatch(/^body: /);
    }
  });

  it('other media types are 415 (or 400) in the error shape', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=zz',
      'application/xml',
      'application/jsonx',
      'text/json',
      'application/octet-stream',
    ]) {
      const payload = type.startsWith('multipart')
        ? '--zz\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--zz--'
        : JSON.stringify(validJob());
      expectError(
        await send('POST', '/api/v1/jobs', payload, { 'content-type': type }),
        [400, 415],
        undefined,
        type,
      );
    }
  });

  it('deeply nested JSON, huge arrays and 100 KB strings are refused quickly', async () => {
    const started = Date.now();
    const deepArray = `{"tables":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    const deepObject = `{"source_config":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`;
    for (const [what, payload] of [
      ['200 000 nested arrays', deepArray],
      ['100 000 nested objects', deepObject],
      [
        '100 000 tables',
        JSON.stringify({
          ...validJob(),
          tables: Array.from({ length: 100_000 }, (_, i) => `t${i}`),
        }),
      ],
      [
        '50 000 nulls in tables',
        JSON.stringify({ ...validJob(), tables: Array(50_000).fill(null) }),
      ],
      ['a 100 KB started_by', JSON.stringify({ ...validJob(), started_by: 'é'.repeat(50_000) })],
      [
        'a 100 KB source URL',
        JSON.stringify({ ...validJob(), source_config: `sqlite:${'a/'.repeat(50_000)}` }),
      ],
      [
        'a 100 KB password',
        JSON.stringify({
          ...validJob(),
          source_config: {
            type: 'mysql',
            host: 'h',
            database: 'd',
            user: 'u',
            password: 'p'.repeat(100_000),
          },
        }),
      ],
      [
        'a 100 KB host',
        JSON.stringify({
          ...validJob(),
          source_config: { type: 'mysql', host: 'h'.repeat(100_000), database: 'd', user: 'u' },
        }),
      ],
      ['a 100 KB table name', JSON.stringify({ ...validJob(), tables: ['t'.repeat(100_000)] })],
      ['a 100 KB unknown key', JSON.stringify({ ...validJob(), ['k'.repeat(100_000)]: 1 })],
    ] as const) {
      const error = expectError(
        await send('POST', '/api/v1/jobs', payload),
        400,
        /^(BAD_REQUEST|VALIDATION_FAILED)$/,
        what,
      );
      expect(
        JSON.stringify(error).length,
        `${what}: the error should not echo the input`,
      ).toBeLessThan(4000);
    }
    const retry = await send(
      'POST',
      `/api/v1/jobs/${jobId}/retry`,
      JSON.stringify({ batch_ids: Array.from({ length: 100_000 }, (_, i) => i + 1) }),
    );
    expect(
      expectError(retry, 400, 'VALIDATION_FAILED', 'retry with 100 000 batch ids').details?.field,
    ).toBe('batch_ids');
    for (const [url, body, field] of [
      [
        '/api/v1/webhooks',
        { url: 'http://127.0.0.1:9/x', description: 'd'.repeat(100_000) },
        'description',
      ],
      ['/api/v1/webhooks', { url: `http://127.0.0.1:9/${'p'.repeat(100_000)}` }, 'url'],
      ['/api/v1/auth/token', { api_key: 'k'.repeat(100_000) }, 'api_key'],
    ] as const) {
      expect(
        expectError(await send('POST', url, JSON.stringify(body)), 400, 'VALIDATION_FAILED', url)
          .details?.field,
      ).toBe(field);
    }
    expect(Date.now() - started, 'refusing these took too long').toBeLessThan(10_000);
  });

  it('unknown fields are refused naming them, at the top level and inside a connection object', async () => {
    const top = expectError(
      await send('POST', '/api/v1/jobs', JSON.stringify({ ...validJob(), sql: 'DROP TABLE x' })),
      400,
      'VALIDATION_FAILED',
      'top-level unknown',
    );
    expect(JSON.stringify(top)).toMatch(/Unrecognized key: \\"sql\\"/);
    expect(top.details?.issues.map((i: { field: string }) => i.field)).toContain('sql');
    const nested = expectError(
      await send(
        'POST',
        '/api/v1/jobs',
        JSON.stringify({
          ...validJob(),
          source_config: {
            type: 'mysql',
            host: 'h',
            database: 'd',
            user: 'u',
            init_sql: 'DROP TABLE x',
          },
        }),
      ),
      400,
      'VALIDATION_FAILED',
      'nested unknown',
    );
    expect(JSON.stringify(nested)).toMatch(/init_sql/);
    const retry = expectError(
      await send('POST', `/api/v1/jobs/${jobId}/retry`, JSON.stringify({ force: true })),
      400,
      'VALIDATION_FAILED',
      'retry unknown',
    );
    expect(JSON.stringify(retry)).toMatch(/force/);
    const hook = expectError(
      await send(
        'POST',
        '/api/v1/webhooks',
        JSON.stringify({ url: 'http://127.0.0.1:9/x', secret: 'mine' }),
      ),
      400,
      'VALIDATION_FAILED',
      'webhook unknown',
    );
    expect(JSON.stringify(hook)).toMatch(/secret/);
  });

  it('connection URLs with a malformed %-escape in any part are 400 naming the part, never echoing the password', async () => {
    const secret = 'Zz-Escape-Pw-91';
    for (const [part, url] of [
      ['user', `mysql://%ZZ:${secret}@127.0.0.1:3306/db`],
      ['password', `mysql://root:${secret}%E0%A4%A@127.0.0.1:3306/db`],
      ['database', `postgresql://postgres:${secret}@127.0.0.1:5432/%`],
      ['path', 'sqlite:%E0%A4%A'],
      ['path', 'csv:data%'],
    ] as const) {
      for (const side of ['source_config', 'target_config'] as const) {
        const body = { ...validJob(), [side]: url };
        const error = expectError(
          await send('POST', '/api/v1/jobs', JSON.stringify(body)),
          400,
          'VALIDATION_FAILED',
          `${part} in ${side}`,
        );
        expect(error.details?.field).toBe(`${side}.${part}`);
        expect(error.message).toMatch(/malformed percent-encoding/);
        expect(JSON.stringify(error)).not.toContain(secret);
      }
    }
  });

  it('numbers out of bounds or of the wrong type name the field', async () => {
    const cases: Array<[string, unknown]> = [];
    for (const v of [0, -1, 100_001, 1.5, '10', null, true, [], {}, 2 ** 53, -(2 ** 63)])
      cases.push(['batch_size', v]);
    for (const v of [0, 33, -1, 1.5, '4']) cases.push(['concurrency', v]);
    for (const v of [-1, 21, 1e6, 0.5, 'three']) cases.push(['max_retries', v]);
    for (const v of ['all', 'records; drop', 1]) cases.push(['audit_level', v]);
    for (const v of ['checksum; --', 0]) cases.push(['verify', v]);
    for (const v of ['yes', 1, null]) cases.push(['create_tables', v]);
    for (const [field, value] of cases) {
      const error = expectError(
        await send('POST', '/api/v1/jobs', JSON.stringify({ ...validJob(), [field]: value })),
        400,
        'VALIDATION_FAILED',
        `${field}=${JSON.stringify(value)}`,
      );
      expect(error.details?.field, `${field}=${JSON.stringify(value)}`).toBe(field);
    }
    // JSON numbers beyond double range parse as Infinity; -0 and exponents are still numbers.
    for (const raw of ['1e309', '-1e309', '1e-400', '-0']) {
      const payload = `{"source_config":"sqlite:a.db","target_config":"sqlite:b.db","batch_size":${raw}}`;
      expectError(
        await send('POST', '/api/v1/jobs', payload),
        400,
        /^(BAD_REQUEST|VALIDATION_FAILED)$/,
        raw,
      );
    }
    for (const value of [-1, 21, 2.5]) {
      expect(
        expectError(
          await send('POST', `/api/v1/jobs/${jobId}/retry`, JSON.stringify({ max_retries: value })),
          400,
          'VALIDATION_FAILED',
          `retry max_retries ${value}`,
        ).details?.field,
      ).toBe('max_retries');
    }
    for (const ids of [[0], [-5], [1.5], ['1'], [2 ** 64]]) {
      expect(
        expectError(
          await send('POST', `/api/v1/jobs/${jobId}/retry`, JSON.stringify({ batch_ids: ids })),
          400,
          'VALIDATION_FAILED',
          `batch_ids ${JSON.stringify(ids)}`,
        ).details?.field,
      ).toMatch(/^batch_ids/);
    }
  });

  it('__proto__ and constructor keys pollute nothing: refused, and Object.prototype is untouched', async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const payloads = [
      '{"__proto__":{"polluted":"yes"}}',
      `{"source_config":"sqlite:a.db","target_config":"sqlite:b.db","__proto__":{"polluted":"yes","isAdmin":true}}`,
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      `{"source_config":{"type":"sqlite","path":"a.db","__proto__":{"polluted":"yes"}},"target_config":"sqlite:b.db"}`,
      `{"source_config":"sqlite:a.db","target_config":"sqlite:b.db","tables":["x"],"constructor":{"prototype":{"polluted":"yes"}}}`,
      '{"\\u005f\\u005fproto\\u005f\\u005f":{"polluted":"yes"}}',
    ];
    for (const payload of payloads) {
      for (const url of [
        '/api/v1/jobs',
        `/api/v1/jobs/${jobId}/retry`,
        '/api/v1/webhooks',
        '/api/v1/auth/token',
      ]) {
        expectError(
          await send('POST', url, payload),
          400,
          /^(BAD_REQUEST|VALIDATION_FAILED)$/,
          `${url} ${payload}`,
        );
      }
    }
    for (const query of [
      '__proto__[polluted]=yes',
      'constructor[prototype][polluted]=yes',
      '__proto__.polluted=yes',
      'limit=5&__proto__=x',
    ]) {
      expectError(await send('GET', `/api/v1/jobs?${query}`), 400, 'VALIDATION_FAILED', query);
    }
    const probe = {} as Record<string, unknown>;
    expect(probe.polluted).toBeUndefined();
    expect(probe.isAdmin).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    // And the server's own objects: a fresh job listing has no stray fields.
    const list = await send('GET', '/api/v1/jobs');
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain('polluted');
  });

  it('query-string abuse: repeated and array parameters, bounds, junk values, very long queries', async () => {
    const bad = [
      'limit=1&limit=2',
      'limit[]=1',
      'limit[0]=1',
      'status[]=failed',
      'status=failed&status=bogus',
      'status=failed,,running',
      'status=FAILED',
      'limit=0',
      'limit=101',
      'limit=-1',
      'limit=1.5',
      'limit=abc',
      'limit=1e400',
      // Only plain decimal digits are numbers (Number() would read these as 16, 100 and 5).
      'limit=0x10',
      'limit=1e2',
      'limit=%205',
      'limit=',
      'offset=0x0',
      'offset=-1',
      'offset=10000001',
      'created_after=yesterday',
      'created_after=2026-13-45T99:00:00Z',
      "created_after=2026-01-01T00:00:00Z' OR '1'='1",
      'nope=1',
      `limit=${'9'.repeat(5000)}`,
    ];
    for (const q of bad)
      expectError(
        await send('GET', `/api/v1/jobs?${q}`),
        400,
        'VALIDATION_FAILED',
        q.slice(0, 100),
      );
    for (const q of ['format=xml', 'format=csv&format=json', 'status=nope'])
      expectError(
        await send('GET', `/api/v1/logs/export/${jobId}?${q}`),
        400,
        'VALIDATION_FAILED',
        q,
      );
    for (const q of ['cursor=0', 'cursor=-1', 'cursor=x', 'cursor=0x1', 'cursor=1e1', 'limit=501'])
      expectError(
        await send('GET', `/api/v1/jobs/${jobId}/logs?${q}`),
        400,
        'VALIDATION_FAILED',
        q,
      );
    // Documented forms still work: repeated status, comma-separated status, a malformed escape in a value is just text.
    for (const q of [
      'status=failed&status=completed',
      'status=failed,completed',
      'limit=5&offset=0',
      'limit=007',
      `status=${'failed,'.repeat(2000)}failed`,
    ]) {
      const r = await send('GET', `/api/v1/jobs?${q}`);
      expect(r.statusCode, `${q.slice(0, 100)}: ${r.body.slice(0, 200)}`).toBe(200);
    }
    expectError(
      await send('GET', '/api/v1/jobs?created_after=%zz'),
      400,
      'VALIDATION_FAILED',
      'malformed escape in a query value',
    );
  });

  it('path parameters with traversal, encoded slashes, NUL, unicode and excess length never reach another route or file', async () => {
    const paths: Array<[string, string, number[]]> = [
      ['GET', '/api/v1/jobs/..%2F..%2Fadmin%2Ftenants', [400]],
      ['GET', '/api/v1/jobs/..%2f..%2fadmin%2ftenants', [400]],
      ['GET', '/api/v1/jobs/%2e%2e%2f%2e%2e%2fadmin%2ftenants', [400]],
      ['GET', '/api/v1/jobs/../admin/tenants', [403, 404]], // the client normalizes it: the admin route, which an engineer may not use
      ['GET', '/api/v1/jobs/%2e%2e', [400, 404]],
      ['GET', `/api/v1/jobs/${jobId}%00`, [400]],
      ['GET', `/api/v1/jobs/${jobId}%2F..%2F..`, [400]],
      ['GET', `/api/v1/jobs/${jobId.toUpperCase().replace(/-/g, '%2D')}`, [200, 400, 404]],
      ['GET', '/api/v1/jobs/%E2%80%AE00000000-0000-4000-8000-000000000000', [400]],
      ['GET', '/api/v1/jobs/%', [400]],
      ['GET', '/api/v1/jobs/%zz', [400]],
      ['GET', `/api/v1/jobs/${'a'.repeat(3000)}`, [400, 414]],
      ['DELETE', '/api/v1/jobs/..%2F..%2Fadmin%2Fkeys%2Fxyz', [400]],
      ['GET', '/api/v1/logs/export/..%2F..%2F..%2Fetc%2Fpasswd?format=csv', [400]],
      ['GET', '/api/v1/exports/..%2F..%2F..%2F..%2Fetc%2Fpasswd', [404]],
      ['GET', '/api/v1/exports/%2Fetc%2Fpasswd%00.csv', [404]],
      ['GET', `/api/v1/exports/${'x'.repeat(5000)}`, [400, 404, 414]],
      ['GET', '/api/v1/webhooks/wh_0000000000000000%2F..%2F..%2Fjobs/deliveries', [400]],
      ['DELETE', '/api/v1/webhooks/..%2F..%2Fjobs', [400]],
      ['DELETE', '/api/v1/admin/keys/..%2F..%2Fjobs', [400, 404]],
      ['GET', '/api/v1/jobs/00000000-0000-4000-8000-000000000000/events%2F..%2F..', [404]],
      ['GET', '//api/v1/jobs', [200, 404]],
      ['GET', '/api/v1//jobs', [404]],
      ['GET', '/API/V1/JOBS', [404]],
    ];
    for (const [method, url, statuses] of paths) {
      const headers: Record<string, string> = url.startsWith('/api/v1/admin')
        ? { authorization: `Bearer ${api.adminKey}` }
        : {};
      const r = await send(method, url, undefined, headers);
      if (r.statusCode === 200) {
        expect(statuses, `${method} ${url} → 200 ${r.body.slice(0, 200)}`).toContain(200);
        continue;
      }
      expectError(
        r,
        statuses.filter((s) => s !== 200),
        undefined,
        `${method} ${url}`,
      );
      expect(r.body, `${method} ${url}`).not.toMatch(/root:x:0:0/);
    }
    // Refused calls are audited, but a path parameter that is not a well-formed id is not recorded as their target.
    const audit = await send('GET', `/api/v1/admin/audit?tenant_id=${T.id}&limit=500`, undefined, {
      authorization: `Bearer ${api.adminKey}`,
    });
    const targets = audit
      .json<{ events: Array<{ action: string; target: string | null }> }>()
      .events.filter((e) => e.action === 'cancel_migration_job')
      .map((e) => e.target);
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets)
      expect(target === null || /^[0-9a-f-]{36}$/.test(target), String(target)).toBe(true);
  });

  it('hostile headers: X-Tenant-ID forms, methods the API does not have', async () => {
    for (const header of [
      '../other',
      'A',
      'ü',
      '1'.repeat(64),
      ' x',
      'x,y',
      "x' OR '1'='1",
      '*',
      '-x',
      '_x',
    ]) {
      const r = await send('GET', '/api/v1/jobs', undefined, { 'x-tenant-id': header });
      const error = expectError(r, [400, 403], undefined, `X-Tenant-ID ${JSON.stringify(header)}`);
      if (r.statusCode === 400) expect(error.details?.field).toBe('x-tenant-id');
    }
    for (const method of ['PUT', 'PATCH', 'OPTIONS', 'TRACE']) {
      const r = await send(method, '/api/v1/jobs');
      expectError(r, [404, 405], undefined, method);
    }
  });

  it('after all that: nothing reached the error log, and the server still serves', async () => {
    expect(errorLines, errorLines.join('\n').slice(0, 2000)).toEqual([]);
    const r = await send('GET', `/api/v1/jobs/${jobId}`);
    expect(r.statusCode).toBe(200);
  });
});
