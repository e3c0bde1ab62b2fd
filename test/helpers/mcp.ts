import {
  Client,
  InMemoryTransport,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/client/validators/ajv';
import type { McpServer } from '@modelcontextprotocol/server';
import { expect } from 'vitest';

/** Parsed JSON, as loose as JSON.parse gives it: tests read the fields they check. */
export type Json = ReturnType<typeof JSON.parse>;

export interface ToolResult {
  content: Array<{ type: string; text?: string }>;
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

export interface ListedTool {
  name: string;
  description?: string;
  inputSchema: {
    type: string;
    properties?: Record<string, Json>;
    required?: string[];
    additionalProperties?: unknown;
  };
  outputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

/**
 * The SDK's own client (v2) on the server's Streamable HTTP endpoint, with the headers a user
 * configures: `Authorization: Bearer <key>` and `X-Tenant-ID`. `era: 'modern'` negotiates the
 * 2026-07-28 protocol (server/discover); the default is the 2025 initialize handshake.
 */
export async function connectHttp(
  url: string,
  o: {
    key?: string | null;
    tenant?: string | null;
    era?: 'legacy' | 'modern';
    headers?: Record<string, string>;
  } = {},
): Promise<Client> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.key) headers.Authorization = `Bearer ${o.key}`;
  if (o.tenant) headers['X-Tenant-ID'] = o.tenant;
  const client = new Client(
    { name: 'freight-tests', version: '1.0.0' },
    o.era === 'modern' ? { versionNegotiation: { mode: 'auto' } } : {},
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }),
  );
  return client;
}

/** The SDK's client paired with a server in this process (no HTTP). */
export async function connectInMemory(server: McpServer): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'freight-tests', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

export async function listTools(client: Client): Promise<ListedTool[]> {
  return (await client.listTools()).tools as ListedTool[];
}

/** Every place a key occurs in a JSON value (e.g. "$ref"). */
export function findKey(value: unknown, key: string, at = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => findKey(v, key, `${at}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [
      ...(k === key ? [`${at}.${k}`] : []),
      ...findKey(v, key, `${at}.${k}`),
    ]);
  }
  return [];
}

const validator = new AjvJsonSchemaValidator();

/**
 * A client with the checks every tool result must pass: a success carries structuredContent
 * that validates against the tool's declared outputSchema, and one text block holding the same
 * JSON; a failure is an isError result (not a protocol error) with a readable text and no
 * structuredContent. Records which tools succeeded and failed.
 */
export class ToolChecker {
  private tools = new Map<string, ListedTool>();
  private validators = new Map<
    string,
    (input: unknown) => { valid: boolean; errorMessage?: string | undefined }
  >();

  /** `seen` may be shared by several checkers (one per role) to tell which tools were exercised. */
  constructor(
    readonly client: Client,
    readonly seen: { succeeded: Set<string>; failed: Set<string> } = {
      succeeded: new Set(),
      failed: new Set(),
    },
  ) {}

  async init(): Promise<this> {
    for (const t of await listTools(this.client)) this.tools.set(t.name, t);
    return this;
  }

  async call(name: string, args: Record<string, unknown> = {}): Promise<ToolResult> {
    return (await this.client.callTool({ name, arguments: args })) as ToolResult;
  }

  /** Calls a tool that must succeed; returns its structuredContent. */
  async ok(name: string, args: Record<string, unknown> = {}): Promise<Json> {
    const result = await this.call(name, args);
    expect(result.isError ?? false, `${name} failed: ${result.content?.[0]?.text}`).toBe(false);
    const data = result.structuredContent;
    expect(data, `${name}: no structuredContent`).toBeTypeOf('object');
    const texts = result.content.filter((c) => c.type === 'text');
    expect(texts, `${name}: one text block`).toHaveLength(1);
    expect(
      JSON.parse(texts[0]!.text!),
      `${name}: the text is the structured content as JSON`,
    ).toEqual(data);
    const tool = this.tools.get(name);
    expect(tool, `${name} is listed`).toBeDefined();
    if (tool?.outputSchema) {
      let validate = this.validators.get(name);
      if (!validate) {
        validate = validator.getValidator(tool.outputSchema as never);
        this.validators.set(name, validate);
      }
      const verdict = validate(data);
      expect(
        verdict.valid,
        `${name}: structuredContent does not match the outputSchema: ${verdict.errorMessage}`,
      ).toBe(true);
    }
    this.seen.succeeded.add(name);
    return data as Json;
  }

  /** Calls a tool that must fail as a tool result; returns its text. */
  async fail(name: string, args: Record<string, unknown> = {}): Promise<string> {
    const result = await this.call(name, args);
    expect(
      result.isError,
      `${name} should have failed: ${JSON.stringify(result.structuredContent)}`,
    ).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    const text = result.content?.[0]?.text;
    expect(text).toBeTypeOf('string');
    this.seen.failed.add(name);
    return text!;
  }
}

/** Polls get_migration_job through MCP until the job's status satisfies `until`. */
export async function waitForJobTool(
  tools: ToolChecker,
  jobId: string,
  until: (status: string) => boolean = (s) =>
    ['completed', 'completed_with_errors', 'failed', 'cancelled'].includes(s),
  timeoutMs = 60_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await tools.ok('get_migration_job', { job_id: jobId });
    if (until(job.status)) return job;
    if (Date.now() > deadline)
      throw new Error(`job ${jobId} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The tool names, as the issue lists them. */
export const JOB_TOOLS = [
  'create_migration_job',
  'list_migration_jobs',
  'get_migration_job',
  'get_job_progress',
  'list_job_batches',
  'retry_migration_job',
  'cancel_migration_job',
] as const;
export const LOG_TOOLS = ['get_migration_logs', 'export_migration_logs'] as const;
export const OPS_TOOLS = ['get_job_statistics', 'get_worker_status', 'health_check'] as const;
export const ADMIN_TOOLS = [
  'get_tenant_statistics',
  'create_tenant',
  'list_tenants',
  'create_api_key',
  'list_api_keys',
  'revoke_api_key',
  'list_audit_events',
] as const;
export const ALL_TOOLS = [...JOB_TOOLS, ...LOG_TOOLS, ...OPS_TOOLS, ...ADMIN_TOOLS];
/** What an engineer may call: everything but the admin tools. */
export const ENGINEER_TOOLS = [...JOB_TOOLS, ...LOG_TOOLS, ...OPS_TOOLS];
/** What a viewer may call: reads only (export needs engineer). */
export const VIEWER_TOOLS = [
  'list_migration_jobs',
  'get_migration_job',
  'get_job_progress',
  'list_job_batches',
  'get_migration_logs',
  'get_job_statistics',
  'get_worker_status',
  'health_check',
];
