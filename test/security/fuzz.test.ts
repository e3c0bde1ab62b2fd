import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess, type ApiProcess } from '../../src/app/api-process.js';
import { loadConfig } from '../../src/config/config.js';
import { Worker } from '../../src/worker/worker.js';
import { createPgSchema, tempDir } from '../helpers/databases.js';
import { expectNoSecret, expectNoStackTrace, forbiddenForms } from '../helpers/secrets.js';
import { hasService } from '../helpers/services.js';
import { eventually, expectError, withoutEchoes } from './support.js';

/**
 * Property-based fuzzing from the OpenAPI document the server publishes (GET /openapi.json): for
 * every operation, requests whose path, query, headers and body are generated from its schemas —
 * valid ones and deliberately invalid ones (wrong types, unknown fields, missing fields, numbers
 * past the bounds, odd unicode, huge strings, hostile strings) — sent with credentials of the
 * right tenant, the wrong tenant, of every role, forged, or none. Whatever comes: no 5xx, errors
 * in the one documented shape, no stack trace or internal path, and no planted secret.
 *
 * Deterministic by default (the seed is printed); FUZZ_SEED=<n> replays or changes it and
 * FUZZ_RUNS=<n> changes the number of requests.
 */

const pgUp = await hasService('postgres');
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261124;
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 3000;

/** Planted in the fixture jobs' configs and a webhook URL (never in generated requests): must never come back. */
const PASSWORD = 'Fuzz-Pl4nted-Pw-zq7';
const HOOK_TOKEN = 'Fuzz-H00k-T0ken-zq5';
const FORBIDDEN = forbiddenForms([PASSWORD, HOOK_TOKEN], ['Pl4nted', 'H00k-T0ken']);
/**
 * The password generated requests carry in their configs: a job or any other success must not
 * show it back; an error may quote what the caller sent where it sent it (an unknown key's name).
 */
const INPUT_PASSWORD = 'Fuzz-Input-Pw-zq4';
const FORBIDDEN_IN_SUCCESS = forbiddenForms([INPUT_PASSWORD]);

/** Percent-encodes the UTF-8 bytes of any string (lone surrogates included, as U+FFFD). */
const encodePath = (s: string) =>
  [...Buffer.from(s)]
    .map((b) =>
      /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');

type Schema = Record<string, any>;
interface Op {
  readonly id: string;
  readonly method: string;
  readonly path: string;
  readonly params: Array<{
    name: string;
    in: 'path' | 'query' | 'header';
    required: boolean;
    schema: Schema;
  }>;
  readonly body: Schema | null;
  readonly bodyRequired: boolean;
}

/** Strings worth trying anywhere a string goes. */
const HOSTILE = [
  '',
  ' ',
  '../../../../etc/passwd',
  '..%2F..%2Fetc%2Fpasswd',
  '%00',
  '\u0000',
  '\\',
  "' OR '1'='1",
  '"; DROP TABLE jobs; --',
  '`whoami`',
  '$(id)',
  '${jndi:ldap://127.0.0.1/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '\ud800',
  '\u202e\u0645',
  'ǅ\u0301\u200d',
  '𝔣𝔯𝔢𝔦𝔤𝔥𝔱',
  '__proto__',
  'constructor',
  'NaN',
  '-1',
  '1e309',
  'null',
  'sqlite:../../etc/passwd',
  'csv:/etc',
  'sqlite:%E0%A4%A',
  `mysql://root:${INPUT_PASSWORD}@127.0.0.1:1/db`,
  `postgresql://postgres:${INPUT_PASSWORD}@169.254.169.254:5432/db`,
  `mysql://root:%ZZ@127.0.0.1/db`,
  'http://169.254.169.254/latest/meta-data/',
  'file:///etc/passwd',
  'x'.repeat(5000),
];

const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer({ min: 10_000, max: 120_000 }).map((n) => 'é'.repeat(n)) },
);

const anyJson = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 10 }),
  fc.constant([]),
  fc.constant({}),
  fc.array(fc.integer(), { maxLength: 3 }),
);

/** A value that satisfies `schema` (biased to its boundaries), or something close to it. */
function valid(
  schema: Schema,
  name: string,
  dict: Record<string, string[]>,
): fc.Arbitrary<unknown> {
  const known = dict[name];
  const fromSchema = validFromSchema(schema, name, dict);
  return known?.length
    ? fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...known) },
        { weight: 1, arbitrary: fromSchema },
      )
    : fromSchema;
}

function validFromSchema(
  schema: Schema,
  name: string,
  dict: Record<string, string[]>,
): fc.Arbitrary<unknown> {
  if (schema.anyOf || schema.oneOf)
    return fc.oneof(...(schema.anyOf ?? schema.oneOf).map((s: Schema) => valid(s, name, dict)));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.const !== undefined) return fc.constant(schema.const);
  const type = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (type.includes('null') && type.length > 1)
    return fc.oneof(
      fc.constant(null),
      validFromSchema({ ...schema, type: type.find((t: string) => t !== 'null') }, name, dict),
    );
  switch (type[0]) {
    case 'string': {
      if (schema.format === 'uuid') return fc.uuid({ version: 4 });
      if (schema.format === 'date-time')
        return fc
          .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
          .map((d) => d.toISOString());
      if (schema.format === 'uri')
        return fc.oneof(
          fc.webUrl(),
          fc.constantFrom('http://127.0.0.1:9/hook', 'http://[::1]/x', 'http://169.254.169.254/'),
        );
      const min = schema.minLength ?? 0;
      const max = Math.min(schema.maxLength ?? 64, 64);
      if (schema.pattern) {
        try {
          return fc
            .stringMatching(new RegExp(schema.pattern))
            .filter((s) => s.length >= min && s.length <= (schema.maxLength ?? Infinity));
        } catch {
          // a pattern fast-check cannot generate from: plain strings
        }
      }
      return fc.string({ minLength: min, maxLength: Math.max(min, max) });
    }
    case 'integer':
    case 'number': {
      const min =
        schema.exclusiveMinimum !== undefined
          ? schema.exclusiveMinimum + 1
          : (schema.minimum ?? -1000);
      const max =
        schema.exclusiveMaximum !== undefined
          ? schema.exclusiveMaximum - 1
          : Math.min(schema.maximum ?? 1_000_000, Number.MAX_SAFE_INTEGER);
      return fc.oneof(
        fc.constantFrom(min, max),
        fc.integer({ min: Math.max(min, -1e9), max: Math.min(max, 1e9) }),
      );
    }
    case 'boolean':
      return fc.boolean();
    case 'array': {
      const minLength = schema.minItems ?? 0;
      return fc.array(valid(schema.items ?? {}, name, dict), {
        minLength,
        maxLength: Math.max(minLength, Math.min(schema.maxItems ?? 4, 4)),
      });
    }
    case 'object': {
      const props = Object.entries((schema.properties ?? {}) as Record<string, Schema>);
      if (props.length === 0) return fc.constant({});
      return fc.record(Object.fromEntries(props.map(([k, s]) => [k, valid(s, k, dict)])), {
        requiredKeys: (schema.required ?? []) as never[],
      });
    }
    default:
      return anyJson;
  }
}

/** Something `schema` should refuse: wrong types, past the bounds, unknown or missing fields, hostile strings. */
function invalid(
  schema: Schema,
  name: string,
  dict: Record<string, string[]>,
): fc.Arbitrary<unknown> {
  const options: fc.Arbitrary<unknown>[] = [anyJson, hostileString];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === 'integer' || type === 'number') {
    const edges = [
      schema.minimum !== undefined ? schema.minimum - 1 : null,
      schema.maximum !== undefined ? schema.maximum + 1 : null,
      schema.exclusiveMinimum,
      0.5,
      -0,
      2 ** 64,
      -(2 ** 53) - 2,
    ].filter((x) => x !== null && x !== undefined);
    options.push(fc.constantFrom(...edges));
  }
  if (type === 'string' && schema.maxLength)
    options.push(fc.constant('z'.repeat(schema.maxLength + 1)));
  if (type === 'array')
    options.push(
      fc.constant([]),
      fc.array(anyJson, { minLength: 1, maxLength: 3 }),
      fc.constant(Array.from({ length: (schema.maxItems ?? 1000) + 1 }, () => 'x')),
    );
  if (type === 'object' && schema.properties) {
    const base = valid(schema, name, dict) as fc.Arbitrary<Record<string, unknown>>;
    const props = Object.keys(schema.properties);
    options.push(
      base.chain((o) =>
        fc.tuple(hostileString, anyJson).map(([k, v]) => ({ ...o, [k || 'zz_unknown']: v })),
      ),
    );
    if ((schema.required ?? []).length > 0)
      options.push(
        base.chain((o) =>
          fc
            .constantFrom(...(schema.required as string[]))
            .map((k) => Object.fromEntries(Object.entries(o).filter(([key]) => key !== k))),
        ),
      );
    options.push(
      base.chain((o) =>
        fc
          .constantFrom(...props)
          .chain((k) => invalid(schema.properties[k], k, dict).map((v) => ({ ...o, [k]: v }))),
      ),
    );
    options.push(
      base.map(
        (o) =>
          JSON.parse(
            `{"__proto__": {"polluted": true}, ${JSON.stringify(o).slice(1)}`.replace(/, }$/, '}'),
          ) as unknown,
      ),
    );
  }
  return fc.oneof(...options);
}

/** Every string in a JSON value, keys included. */
function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => [k, ...stringsIn(v)]);
  return [];
}

function operationsFrom(doc: { paths: Record<string, Record<string, any>> }): Op[] {
  const ops: Op[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const body = op.requestBody?.content?.['application/json']?.schema ?? null;
      ops.push({
        id: op.operationId,
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        body,
        bodyRequired: Boolean(op.requestBody?.required),
      });
    }
  }
  return ops;
}

describe.skipIf(!pgUp)('fuzzing every operation from the OpenAPI document', () => {
  const home = tempDir();
  let proc: ApiProcess;
  let pg: Awaited<ReturnType<typeof createPgSchema>>;
  const dict: Record<string, string[]> = {};
  let creds: Array<{ name: string; authorization: string | null }> = [];
  let tenants: string[] = [];
  let ops: Op[] = [];

  beforeAll(async () => {
    pg = await createPgSchema('fsecfuzz');
    const config = loadConfig({
      FREIGHT_HOME: home.dir,
      FREIGHT_DATA_DIRS: home.dir,
      FREIGHT_SECRET_KEY: 'test-secret-key-0123456789abcdef',
      FREIGHT_AUTH_FAILURE_LIMIT: '1000000',
      FREIGHT_RATE_LIMIT: '1000000',
    });
    // No worker while fuzzing: jobs the fuzzer creates stay pending (nothing connects to generated hosts).
    proc = await startApiProcess(config, { worker: false, server: { logger: false } });
    const admin = proc.bootstrapKey!.key;
    const call = async (
      method: string,
      url: string,
      key: string,
      tenant: string | null,
      payload?: unknown,
    ) => {
      const r = await proc.app.inject({
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${key}`, ...(tenant ? { 'x-tenant-id': tenant } : {}) },
        ...(payload ? { payload: payload as object } : {}),
      });
      if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
      return r.json();
    };
    const keys: Record<string, Record<string, string>> = {};
    for (const t of ['fuzz-a', 'fuzz-b']) {
      await call('POST', '/api/v1/admin/tenants', admin, null, { tenant_id: t });
      keys[t] = {};
      for (const role of ['viewer', 'engineer', 'admin'])
        keys[t]![role] = (
          await call('POST', '/api/v1/admin/keys', admin, null, { tenant_id: t, role })
        ).key;
    }
    const A = keys['fuzz-a']!;
    const spare = await call('POST', '/api/v1/admin/keys', admin, null, {
      tenant_id: 'fuzz-a',
      role: 'viewer',
    });
    const jwt = (await call('POST', '/api/v1/auth/token', A.viewer!, null, {}))
      .access_token as string;

    // A's finished jobs (run by a worker that stops before the fuzzing): one copied, one failed on its password.
    const db = new Database(home.file('shop.db'));
    db.exec(
      `CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO items (v) VALUES ('a'), ('b'), ('c');`,
    );
    db.close();
    const completed = (
      await call('POST', '/api/v1/jobs', A.engineer!, 'fuzz-a', {
        source_config: `sqlite:${home.file('shop.db')}`,
        target_config: `postgresql://postgres:${PASSWORD}@127.0.0.1:5432/test?schema=${pg.name}`,
      })
    ).job_id as string;
    const failed = (
      await call('POST', '/api/v1/jobs', A.engineer!, 'fuzz-a', {
        source_config: {
          type: 'mysql',
          host: '127.0.0.1',
          port: 3306,
          database: 'nope',
          user: 'fuzz_nobody',
          password: PASSWORD,
        },
        target_config: `sqlite:${home.file('never.db')}`,
        max_retries: 0,
      })
    ).job_id as string;
    const worker = new Worker({
      ledger: proc.services.store,
      queue: proc.services.queue,
      connectors: proc.services.connectors,
      guard: proc.services.guard,
      concurrency: 2,
    });
    worker.start();
    const statusOf = async (id: string) =>
      (await call('GET', `/api/v1/jobs/${id}`, A.viewer!, 'fuzz-a')).status as string;
    await eventually(
      async () =>
        (await statusOf(completed)) === 'completed' && (await statusOf(failed)) === 'failed',
      'the fixture jobs to finish',
      30_000,
    );
    await worker.stop();
    const hook = await call('POST', '/api/v1/webhooks', A.engineer!, 'fuzz-a', {
      url: `http://127.0.0.1:9/services/${HOOK_TOKEN}/x`,
      kind: 'slack',
    });
    const spareHook = await call('POST', '/api/v1/webhooks', A.engineer!, 'fuzz-a', {
      url: 'http://127.0.0.1:9/spare',
    });
    const exportUrl = (
      await call('GET', `/api/v1/logs/export/${completed}?format=json`, A.engineer!, 'fuzz-a')
    ).export_url as string;
    const exportToken = new URL(exportUrl).pathname.split('/').pop()!;

    // Values the generators mix in for parameters of these names, so requests also reach real resources.
    Object.assign(dict, {
      job_id: [completed, failed, randomUUID(), '00000000-0000-0000-0000-000000000000'],
      webhook_id: [hook.webhook_id, spareHook.webhook_id, 'wh_0000000000000000'],
      key_id: [spare.key_id, '000000000000'],
      token: [exportToken, `${exportToken.slice(0, -3)}abc`, exportToken.split('.')[0]!],
      tenant_id: ['fuzz-a', 'fuzz-b', 'platform', 'no-such-tenant'],
      source_config: [
        `sqlite:${home.file('shop.db')}`,
        `mysql://u:${INPUT_PASSWORD}@127.0.0.1:1/d`,
        'csv:data',
      ],
      target_config: [
        `sqlite:${home.file('out.db')}`,
        `postgresql://postgres:${INPUT_PASSWORD}@127.0.0.1:1/test`,
      ],
      password: [INPUT_PASSWORD],
      api_key: [A.viewer!, `fk_${'0'.repeat(12)}_${'A'.repeat(43)}`],
      url: [
        'http://127.0.0.1:9/fuzz',
        'http://169.254.169.254/',
        'https://hooks.slack.com/services/T/B/x',
      ],
    });
    creds = [
      { name: 'A viewer', authorization: `Bearer ${A.viewer}` },
      { name: 'A engineer', authorization: `Bearer ${A.engineer}` },
      { name: 'A admin', authorization: `Bearer ${A.admin}` },
      { name: 'A viewer JWT', authorization: `Bearer ${jwt}` },
      { name: 'B engineer', authorization: `Bearer ${keys['fuzz-b']!.engineer}` },
      { name: 'platform admin', authorization: `Bearer ${admin}` },
      { name: 'forged key', authorization: `Bearer fk_${'1'.repeat(12)}_${'Z'.repeat(43)}` },
      { name: 'garbage', authorization: 'Bearer a.b.c' },
      { name: 'basic', authorization: 'Basic YTpi' },
      { name: 'none', authorization: null },
    ];
    tenants = ['fuzz-a', 'fuzz-b', 'platform', 'no-such-tenant', 'FUZZ-A', '../fuzz-a', ''];

    const doc = (await proc.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    ops = operationsFrom(doc);
  });

  afterAll(async () => {
    await proc?.close({ hard: true });
    await pg?.drop();
    home.remove();
  });

  it(`answers every generated request without a 5xx, a stack trace or a secret (seed ${SEED}, ${RUNS} runs)`, async () => {
    console.info(`fuzz: seed ${SEED}, ${RUNS} runs (FUZZ_SEED / FUZZ_RUNS to change)`);
    expect(ops.length).toBeGreaterThanOrEqual(25);
    const seen = new Map<string, Set<number>>();

    const requestArb = fc.constantFrom(...ops).chain((op) => {
      const param = (p: Op['params'][number]) => {
        if (p.in === 'header') return fc.constant(undefined); // x-tenant-id: chosen below
        const present = p.required || p.in === 'path' ? fc.constant(true) : fc.boolean();
        return present.chain((yes) =>
          yes
            ? fc.oneof(
                { weight: 3, arbitrary: valid(p.schema, p.name, dict) },
                { weight: 1, arbitrary: invalid(p.schema, p.name, dict) },
              )
            : fc.constant(undefined),
        );
      };
      const body = op.body
        ? fc.oneof(
            { weight: 4, arbitrary: valid(op.body, 'body', dict).map((v) => ({ json: v })) },
            { weight: 4, arbitrary: invalid(op.body, 'body', dict).map((v) => ({ json: v })) },
            {
              weight: 1,
              arbitrary: fc
                .constantFrom('{', '{"a":', 'null', '[', '\u0000', '{"__proto__":{"x":1}}')
                .map((raw) => ({ raw })),
            },
            { weight: 1, arbitrary: fc.constant(undefined) },
          )
        : fc.oneof(
            { weight: 9, arbitrary: fc.constant(undefined) },
            { weight: 1, arbitrary: anyJson.map((v) => ({ json: v })) },
          );
      return fc.record({
        op: fc.constant(op),
        params: fc.tuple(...op.params.map(param)),
        body,
        // Mostly tenant A's own credentials and header, so requests get past authorization often enough to go deep.
        cred: fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(...creds.slice(0, 4)) },
          { weight: 2, arbitrary: fc.constantFrom(...creds) },
        ),
        tenant: fc.oneof(
          { weight: 6, arbitrary: fc.constant('fuzz-a') },
          { weight: 2, arbitrary: fc.constantFrom(...tenants) },
          {
            weight: 1,
            arbitrary: hostileString.filter((s) => s.length < 200 && /^[\x20-\x7e]*$/.test(s)),
          },
          { weight: 1, arbitrary: fc.constant(null) },
        ),
        rawPath: fc.boolean(),
        contentType: fc.oneof(
          { weight: 9, arbitrary: fc.constant('application/json') },
          {
            weight: 1,
            arbitrary: fc.constantFrom(
              'text/plain',
              'application/x-www-form-urlencoded',
              'application/json; charset=utf-16',
            ),
          },
        ),
      });
    });

    await fc.assert(
      fc.asyncProperty(
        requestArb,
        async ({ op, params, body, cred, tenant, contentType, rawPath }) => {
          let path = op.path;
          const query = new URLSearchParams();
          op.params.forEach((p, i) => {
            const value = params[i];
            if (value === undefined) return;
            const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
            // Path values are usually percent-encoded; printable ones sometimes go in as they are (their own %-escapes, dots and all).
            if (p.in === 'path')
              path = path.replace(
                `{${p.name}}`,
                (rawPath && /^[\x21-\x7e]+$/.test(text(value))
                  ? text(value)
                  : encodePath(text(value))) || '%20',
              );
            else if (p.in === 'query')
              for (const v of Array.isArray(value) ? value : [value]) query.append(p.name, text(v));
          });
          // The event stream of a job that is not finished never ends: only finished or foreign jobs are watched.
          // (A's failed job may have been retried by now, and without a worker it stays pending.)
          if (op.id === 'stream_job_events' && path.includes(dict.job_id![1]!)) return;
          const headers: Record<string, string> = {};
          if (cred.authorization) headers.authorization = cred.authorization;
          if (tenant !== null) headers['x-tenant-id'] = tenant;
          let payload: string | undefined;
          if (body) {
            payload = 'raw' in body ? body.raw : JSON.stringify(body.json);
            headers['content-type'] = contentType;
          }
          const url = `${path}${query.size ? `?${query}` : ''}`;
          const res = await proc.app.inject({
            method: op.method as 'GET',
            url,
            headers,
            ...(payload !== undefined ? { payload } : {}),
          });
          const where = `${op.id}: ${op.method} ${url.slice(0, 300)} as ${cred.name} for ${JSON.stringify(tenant)} with ${payload?.slice(0, 300)}`;
          expect(
            res.statusCode,
            `${where} → ${res.statusCode} ${res.body.slice(0, 500)}`,
          ).toBeLessThan(500);
          const text = `${JSON.stringify(res.headers)}\n${res.body}`;
          expectNoSecret(
            text,
            where,
            res.statusCode < 400 ? [...FORBIDDEN, ...FORBIDDEN_IN_SUCCESS] : FORBIDDEN,
          );
          // What the request itself carried may be quoted back (an unknown route or key): not held against the answer.
          const sent = [
            url,
            url.split('?')[0]!,
            ...stringsIn(body && 'json' in body ? body.json : undefined),
            ...(body && 'raw' in body ? [body.raw] : []),
            ...[...query.values()],
          ];
          expectNoStackTrace(withoutEchoes(res.body, sent), where);
          if (res.statusCode >= 400)
            expectError(res as never, res.statusCode, undefined, where, sent);
          const s = seen.get(op.id) ?? new Set<number>();
          s.add(res.statusCode);
          seen.set(op.id, s);
        },
      ),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );

    // Every operation was exercised, and most reached past validation at least once.
    for (const op of ops) expect(seen.has(op.id), `${op.id} was never requested`).toBe(true);
    const succeeded = ops.filter((op) => [...(seen.get(op.id) ?? [])].some((s) => s < 300));
    expect(
      succeeded.length,
      `operations that succeeded at least once: ${succeeded.map((o) => o.id).join(', ')}`,
    ).toBeGreaterThanOrEqual(ops.length * 0.6);
    console.info(
      `fuzz: statuses per operation ${JSON.stringify(Object.fromEntries([...seen].map(([k, v]) => [k, [...v].sort()])))}`,
    );
  });
});
