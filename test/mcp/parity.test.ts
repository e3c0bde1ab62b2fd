import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS } from '../../src/operations/index.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { ALL_TOOLS, connectHttp, listTools, type Json, type ListedTool } from '../helpers/mcp.js';

/**
 * "Tool names, input schemas and descriptions equal the OpenAPI operations": the OpenAPI document
 * a client downloads from /openapi.json and the tools an admin's MCP client lists, compared with
 * each other (both come from the operation definitions, so they must never drift apart).
 */

interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  description?: string;
  schema?: Json;
}
interface OpenApiOperation {
  operationId: string;
  summary?: string;
  description?: string;
  parameters?: OpenApiParameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Json }> };
}

/** The operation's inputs as a tool would take them: name → {required, description, schema}. */
function inputsOf(
  op: OpenApiOperation,
): Map<
  string,
  { where: string; required: boolean; description: string | undefined; schema: Json }
> {
  const inputs = new Map<
    string,
    { where: string; required: boolean; description: string | undefined; schema: Json }
  >();
  for (const p of op.parameters ?? []) {
    if (p.in === 'header') continue;
    expect(inputs.has(p.name), `${op.operationId}: ${p.name} twice`).toBe(false);
    inputs.set(p.name, {
      where: p.in,
      required: p.required === true,
      description: p.description ?? p.schema?.description,
      schema: p.schema,
    });
  }
  const body = op.requestBody?.content['application/json']?.schema;
  if (body) {
    expect(body.type, `${op.operationId}: body is an object`).toBe('object');
    for (const [name, schema] of Object.entries<Json>(body.properties ?? {})) {
      expect(
        inputs.has(name),
        `${op.operationId}: ${name} is both a parameter and a body field`,
      ).toBe(false);
      inputs.set(name, {
        where: 'body',
        required: (body.required ?? []).includes(name),
        description: schema.description,
        schema,
      });
    }
  }
  return inputs;
}

/** Enum values of a property, wherever the generator put them (enum, or a list of them). */
function enumOf(schema: Json): string[] | undefined {
  if (!schema || typeof schema !== 'object') return undefined;
  if (Array.isArray(schema.enum)) return [...schema.enum].sort();
  if (Array.isArray(schema.items?.enum)) return [...schema.items.enum].sort();
  for (const alt of schema.anyOf ?? schema.oneOf ?? []) {
    const e = enumOf(alt);
    if (e) return e;
  }
  return undefined;
}

describe('MCP tools and OpenAPI operations are the same operations', () => {
  let api: TestApi;
  let client: Client;
  let doc: Json;
  let tools: ListedTool[];
  let operations: Map<string, OpenApiOperation & { method: string; path: string }>;

  beforeAll(async () => {
    api = await startTestApi('sqlite');
    const base = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const res = await fetch(`${base}/openapi.json`);
    expect(res.status).toBe(200);
    doc = await res.json();
    operations = new Map();
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      for (const [method, op] of Object.entries<Json>(item)) {
        if (!op?.operationId) continue;
        expect(operations.has(op.operationId), `operationId ${op.operationId} is unique`).toBe(
          false,
        );
        operations.set(op.operationId, { ...op, method: method.toUpperCase(), path });
      }
    }
    client = await connectHttp(`${base}/mcp`, { key: api.adminKey });
    tools = await listTools(client);
  });
  afterAll(async () => {
    await client?.close();
    await api?.close();
  });

  it('every tool is an OpenAPI operation of the same name, with the same description and summary', () => {
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(ALL_TOOLS));
    for (const tool of tools) {
      const op = operations.get(tool.name);
      expect(op, `tool ${tool.name} has an OpenAPI operation`).toBeDefined();
      expect(tool.description, tool.name).toBe(op!.description);
      expect(tool.description!.length, `${tool.name} is described`).toBeGreaterThan(20);
      expect(
        (tool as ListedTool & { title?: string }).title ?? tool.annotations?.title,
        tool.name,
      ).toBe(op!.summary);
      // …and both are the one operation definition.
      const def = OPERATIONS.find((d) => d.id === tool.name)!;
      expect(op!.method).toBe(def.method);
      expect(op!.path).toBe(def.path);
    }
  });

  it('every operation with a toolset is a tool; the others (token exchange, whoami, the export download) are not', () => {
    const names = new Set(tools.map((t) => t.name));
    for (const [id] of operations) {
      const def = OPERATIONS.find((d) => d.id === id);
      if (def?.toolset)
        expect(names.has(id), `${id} (toolset ${def.toolset}) is a tool`).toBe(true);
      else expect(names.has(id), `${id} has no toolset and is not a tool`).toBe(false);
    }
    for (const def of OPERATIONS)
      expect(operations.has(def.id), `${def.id} is in the OpenAPI document`).toBe(true);
    for (const id of ['create_access_token', 'whoami', 'download_log_export']) {
      expect(operations.has(id), `${id} is an OpenAPI operation`).toBe(true);
      expect(names.has(id), `${id} is not a tool`).toBe(false);
    }
    expect(tools).toHaveLength(OPERATIONS.filter((d) => d.toolset !== null).length);
  });

  it("a tool's arguments are exactly the operation's path, query and body fields — same names, same required-ness, same descriptions and allowed values; X-Tenant-ID is never an argument", () => {
    for (const tool of tools) {
      const op = operations.get(tool.name)!;
      const inputs = inputsOf(op);
      const props: Record<string, Json> = tool.inputSchema.properties ?? {};
      const required = new Set(tool.inputSchema.required ?? []);
      expect(
        Object.keys(props).sort(),
        `${tool.name}: arguments = parameters + body fields`,
      ).toEqual([...inputs.keys()].sort());
      for (const [name, input] of inputs) {
        // A path parameter is always required; otherwise the tool requires what the operation requires.
        expect(required.has(name), `${tool.name}.${name} required (${input.where})`).toBe(
          input.required,
        );
        expect(props[name].description, `${tool.name}.${name} description`).toBe(input.description);
        expect(enumOf(props[name]), `${tool.name}.${name} allowed values`).toEqual(
          enumOf(input.schema),
        );
      }
      for (const name of required)
        expect(inputs.has(name), `${tool.name}: required ${name} is an operation input`).toBe(true);
      // The tenant comes from X-Tenant-ID (HTTP) or FREIGHT_TENANT_ID (stdio), never from the model.
      const headers = (op.parameters ?? [])
        .filter((p) => p.in === 'header')
        .map((p) => p.name.toLowerCase());
      const def = OPERATIONS.find((d) => d.id === tool.name)!;
      expect(
        headers.includes('x-tenant-id'),
        `${tool.name}: X-Tenant-ID header ⇔ tenant-scoped`,
      ).toBe(def.tenantScoped);
      for (const name of Object.keys(props))
        expect(name.toLowerCase()).not.toMatch(/^x-|tenant-id/);
      if (def.tenantScoped) expect(Object.keys(props), tool.name).not.toContain('tenant_id');
      expect(tool.inputSchema.additionalProperties, `${tool.name} rejects unknown arguments`).toBe(
        false,
      );
    }
  });

  it('the arguments the issue names are there', () => {
    const props = (name: string) =>
      Object.keys(tools.find((t) => t.name === name)!.inputSchema.properties ?? {});
    expect(props('create_migration_job')).toEqual(
      expect.arrayContaining([
        'source_config',
        'target_config',
        'tables',
        'batch_size',
        'max_retries',
        'started_by',
      ]),
    );
    expect(props('retry_migration_job')).toEqual(
      expect.arrayContaining(['job_id', 'batch_ids', 'max_retries']),
    );
    expect(props('export_migration_logs')).toEqual(expect.arrayContaining(['job_id', 'format']));
    expect(
      enumOf(tools.find((t) => t.name === 'export_migration_logs')!.inputSchema.properties!.format),
    ).toEqual(expect.arrayContaining(['csv', 'json']));
    expect(props('list_migration_jobs')).toEqual(
      expect.arrayContaining(['status', 'created_after', 'created_before', 'limit', 'offset']),
    );
    expect(props('get_migration_logs')).toEqual(
      expect.arrayContaining(['job_id', 'status', 'limit', 'cursor']),
    );
    expect(
      tools.find((t) => t.name === 'create_migration_job')!.inputSchema.required?.sort(),
    ).toEqual(['source_config', 'target_config']);
    // The comparison above is not vacuous: the OpenAPI side has the same details.
    const exportInputs = inputsOf(operations.get('export_migration_logs')!);
    expect(exportInputs.get('job_id')).toMatchObject({ where: 'path', required: true });
    expect(exportInputs.get('format')).toMatchObject({
      where: 'query',
      required: false,
      description: expect.stringContaining('csv'),
    });
    expect(enumOf(exportInputs.get('format')!.schema)).toEqual(
      expect.arrayContaining(['csv', 'json']),
    );
    expect(inputsOf(operations.get('create_migration_job')!).get('source_config')).toMatchObject({
      where: 'body',
      required: true,
    });
  });
});
