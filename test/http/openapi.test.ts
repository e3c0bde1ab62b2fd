import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPIV3_1 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ERRORS } from '../../src/domain/errors.js';
import { OPERATIONS } from '../../src/operations/index.js';
import type { Operation } from '../../src/operations/operation.js';
import { ErrorBody } from '../../src/operations/schemas.js';
import { startTestApi, type TestApi } from '../helpers/api.js';

/**
 * The OpenAPI document (DESIGN.md §3): valid for an independent validator, and complete for
 * every operation — description, input and output schemas, error responses — and honest: every
 * status the running server answers with is one the document lists for that operation.
 */

type Doc = OpenAPIV3_1.Document;
type Op = OpenAPIV3_1.OperationObject;
type Schema = OpenAPIV3_1.SchemaObject;

const shapeKeys = (schema: z.ZodType | undefined): string[] =>
  Object.keys((schema as unknown as { shape?: Record<string, unknown> } | undefined)?.shape ?? {});

describe('OpenAPI document', () => {
  let api: TestApi;
  let doc: Doc;

  beforeAll(async () => {
    api = await startTestApi('sqlite');
    const r = await api.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('application/json');
    doc = r.json();
  });
  afterAll(async () => {
    await api?.close();
  });

  const operationOf = (op: Operation): Op => {
    const item = doc.paths?.[op.path] as Record<string, Op> | undefined;
    expect(item, `path ${op.path}`).toBeDefined();
    const found = item![op.method.toLowerCase()];
    expect(found, `${op.method} ${op.path}`).toBeDefined();
    return found!;
  };
  const jsonSchema = (
    o: OpenAPIV3_1.ResponseObject | OpenAPIV3_1.RequestBodyObject | undefined,
  ): Schema | undefined =>
    (o?.content?.['application/json']?.schema as Schema | undefined) ?? undefined;

  it('validates with @apidevtools/swagger-parser (OpenAPI 3.1)', async () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    const validated = (await SwaggerParser.validate(structuredClone(doc) as never)) as Doc;
    expect(validated.info.title).toBe('Freight API');
    // Dereferencing works too (no dangling $refs).
    await SwaggerParser.dereference(structuredClone(doc) as never);
  });

  it('has every operation once under its operationId; routes outside OPERATIONS are documented just as fully', () => {
    const ids: string[] = [];
    for (const [path, item] of Object.entries(doc.paths ?? {})) {
      for (const [method, op] of Object.entries(item as Record<string, Op>)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        const where = `${method.toUpperCase()} ${path}`;
        expect(op.operationId, where).toBeTruthy();
        ids.push(op.operationId!);
        if (OPERATIONS.some((o) => o.id === op.operationId)) continue;
        // A route of its own (the export download, streams): described, secured or explicitly public, with its errors.
        expect(op.description?.trim(), `${where} description`).toBeTruthy();
        expect(op.security, `${where} security`).toBeDefined();
        const responses = Object.keys(op.responses ?? {});
        expect(responses, `${where} success response`).toContain('200');
        expect(responses, `${where} 404`).toContain('404');
        if ((op.security ?? []).length > 0)
          expect(responses, `${where} 401/403`).toEqual(expect.arrayContaining(['401', '403']));
        for (const m of path.matchAll(/\{([a-z_]+)\}/g)) {
          expect(
            (op.parameters as OpenAPIV3_1.ParameterObject[] | undefined)?.some(
              (p) => p.in === 'path' && p.name === m[1],
            ),
            `${where} parameter ${m[1]}`,
          ).toBe(true);
        }
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (const op of OPERATIONS) expect(ids).toContain(op.id);
    expect(ids).toContain('download_log_export');
  });

  it.each(OPERATIONS.map((op) => [op.id, op] as const))(
    '%s: description, inputs, output, security and every error response',
    (_id, op) => {
      const o = operationOf(op);
      expect(o.operationId).toBe(op.id);
      expect(o.summary).toBe(op.summary);
      expect(o.description?.trim(), 'description').toBeTruthy();
      expect(o.description).toBe(op.description);
      expect(o.description, 'a description, not the summary again').not.toBe(o.summary);
      expect(o.tags).toEqual([...op.tags]);

      const params = (o.parameters ?? []) as OpenAPIV3_1.ParameterObject[];
      for (const name of shapeKeys(op.params)) {
        const p = params.find((x) => x.in === 'path' && x.name === name);
        expect(p, `path parameter ${name}`).toBeDefined();
        expect(p!.required).toBe(true);
        expect(p!.schema, `schema of ${name}`).toBeTruthy();
        expect(op.path).toContain(`{${name}}`);
      }
      for (const m of op.path.matchAll(/\{([a-z_]+)\}/g))
        expect(shapeKeys(op.params)).toContain(m[1]);
      for (const name of shapeKeys(op.query)) {
        const p = params.find((x) => x.in === 'query' && x.name === name);
        expect(p, `query parameter ${name}`).toBeDefined();
        expect(p!.schema, `schema of ${name}`).toBeTruthy();
      }
      if (!op.query) expect(params.filter((x) => x.in === 'query')).toEqual([]);
      if (op.tenantScoped)
        expect(
          params.some((x) => x.in === 'header' && x.name.toLowerCase() === 'x-tenant-id'),
          'X-Tenant-ID header',
        ).toBe(true);

      const body = o.requestBody as OpenAPIV3_1.RequestBodyObject | undefined;
      if (op.body) {
        const schema = jsonSchema(body);
        expect(schema, 'request body schema').toBeDefined();
        expect(schema!.type).toBe('object');
        expect(Object.keys(schema!.properties ?? {}).sort()).toEqual(shapeKeys(op.body).sort());
      } else {
        expect(body, 'no request body').toBeUndefined();
      }

      const responses = o.responses as Record<string, OpenAPIV3_1.ResponseObject>;
      const success = jsonSchema(responses[String(op.successStatus)]);
      expect(success, `${op.successStatus} response schema`).toBeDefined();
      expect(success!.type).toBe('object');
      const outputKeys = shapeKeys(op.output);
      if (outputKeys.length > 0)
        expect(Object.keys(success!.properties ?? {}).sort()).toEqual(outputKeys.sort());
      expect(Object.keys(responses).filter((s) => /^2\d\d$/.test(s))).toEqual([
        String(op.successStatus),
      ]);

      expect(op.errors.length).toBeGreaterThan(0);
      for (const code of op.errors) {
        const status = String(ERRORS[code].status);
        const r = responses[status];
        expect(r, `${code} → ${status} response`).toBeDefined();
        expect(r!.description).toBeTruthy();
        const schema = jsonSchema(r);
        expect(schema, `${status} error body schema`).toBeDefined();
        expect(schema!.required).toEqual(expect.arrayContaining(['error', 'request_id']));
        const error = schema!.properties!.error as Schema;
        expect(error.required).toEqual(expect.arrayContaining(['code', 'message']));
        expect(Object.keys(error.properties ?? {})).toEqual(
          expect.arrayContaining(['code', 'message', 'details']),
        );
      }
      // Every operation that takes input can answer 400, and every one can answer 500.
      for (const status of ['500', ...(op.params || op.query || op.body ? ['400'] : [])])
        expect(jsonSchema(responses[status]), `${status} response`).toBeDefined();

      if (op.role === null) expect(o.security).toEqual([]);
      else {
        expect(o.security).toEqual([{ bearerAuth: [] }]);
        expect(responses['401'], '401 for an authenticated operation').toBeDefined();
        // 403 whenever some credential can be refused: a role above viewer, or a tenant to mismatch.
        if (op.role !== 'viewer' || op.tenantScoped)
          expect(responses['403'], '403 for a role or tenant check').toBeDefined();
      }
      if (op.tenantScoped) expect(op.errors).toContain('TENANT_REQUIRED');
    },
  );

  it('marks a request body optional exactly when every field of it is (retry takes none at all)', () => {
    for (const op of OPERATIONS) {
      if (!op.body) continue;
      const o = (
        doc.paths![op.path] as Record<string, Op & { requestBody?: { required?: boolean } }>
      )[op.method.toLowerCase()]!;
      expect(o.requestBody?.required ?? false, op.id).toBe(!op.body.safeParse({}).success);
    }
    expect(
      (
        doc.paths!['/api/v1/jobs/{job_id}/retry'] as Record<
          string,
          { requestBody?: { required?: boolean } }
        >
      ).post!.requestBody?.required,
    ).toBe(false);
  });

  it('documents the export download: no security, the file on 200, 404 for a bad link', () => {
    const o = (doc.paths!['/api/v1/exports/{token}'] as Record<string, Op>).get!;
    expect(o.security).toEqual([]);
    expect(o.description).toBeTruthy();
    expect(Object.keys(o.responses!)).toEqual(expect.arrayContaining(['200', '404']));
    expect(doc.components?.securitySchemes?.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
  });

  it('is honest: statuses the running server answers for each operation are documented, with the documented error body', async () => {
    const tenant = await api.tenant();
    const missingJob = '00000000-0000-4000-8000-000000000000';
    const path = (op: Operation, jobId = missingJob) =>
      op.path
        .replace('{job_id}', jobId)
        .replace('{key_id}', 'nosuchkey')
        .replace('{webhook_id}', 'wh_0000000000000000');
    let checked = 0;
    for (const op of OPERATIONS) {
      const o = operationOf(op);
      const documented = Object.keys(o.responses ?? {});
      const attempts: Array<{
        key?: string | null;
        tenant?: string | null;
        url: string;
        body?: unknown;
      }> = [
        { key: null, tenant: tenant.id, url: path(op) }, // 401 (or public)
        { key: tenant.keys.viewer, tenant: null, url: path(op) }, // 400 tenant / 403 role
        { key: tenant.keys.viewer, tenant: 'someone-else', url: path(op) }, // 403
        { key: tenant.keys.admin, tenant: tenant.id, url: path(op) }, // 404 job / 200 / 201 / 409
        { key: tenant.keys.admin, tenant: tenant.id, url: `${path(op, 'not-a-uuid')}?limit=abc` }, // 400 validation
      ];
      for (const a of attempts) {
        const body = op.body
          ? op.id === 'create_api_key'
            ? { tenant_id: tenant.id, role: 'viewer' }
            : op.id === 'create_tenant'
              ? { tenant_id: `oa-${checked}-${Date.now()}` }
              : {}
          : undefined;
        const r = await api.request(op.method, a.url, {
          key: a.key,
          tenant: a.tenant,
          ...(body !== undefined ? { body } : {}),
        });
        checked++;
        expect(
          documented,
          `${op.id} answered ${r.statusCode} (${r.body.slice(0, 200)}) — not in the document`,
        ).toContain(String(r.statusCode));
        if (r.statusCode >= 400) {
          expect(
            ErrorBody.strict().safeParse(r.json()).success,
            `${op.id} ${r.statusCode} body: ${r.body}`,
          ).toBe(true);
          expect(r.json().request_id).toBe(r.headers['x-request-id']);
        }
      }
    }
    expect(checked).toBe(OPERATIONS.length * 5);
  });

  it('serves Swagger UI at /docs', async () => {
    const r = await api.app.inject({ method: 'GET', url: '/docs' });
    const page =
      r.statusCode === 302
        ? await api.app.inject({ method: 'GET', url: r.headers.location as string })
        : r;
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toMatch(/swagger-ui/i);
    const ui = await api.app.inject({ method: 'GET', url: '/docs/json' });
    expect(ui.statusCode).toBe(200);
    expect(ui.json().paths['/api/v1/jobs']).toBeDefined();
  });
});
