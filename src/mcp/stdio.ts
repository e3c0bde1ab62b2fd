import { serveStdio } from '@modelcontextprotocol/server/stdio';
import type { Config } from '../config/config.js';
import type { Role } from '../domain/access.js';
import { OPERATIONS } from '../operations/index.js';
import { createMcpServer } from './create-server.js';
import { remoteInvoker } from './remote.js';
import { parseToolsets } from './tools.js';

/**
 * `freight mcp`: an MCP server on stdio for Claude Desktop and other local clients. It calls the
 * REST API at FREIGHT_API_URL with FREIGHT_API_KEY and FREIGHT_TENANT_ID from its environment;
 * it writes only MCP messages to stdout (diagnostics go to stderr).
 */
export async function runStdioServer(
  config: Config,
  flags: { toolsets?: string; readOnly?: boolean; outputSchemas?: boolean },
): Promise<void> {
  const baseUrl = config.apiUrl ?? 'http://localhost:8000';
  const api = { baseUrl, apiKey: config.apiKey, tenantId: config.tenantId };
  const toolsets = parseToolsets(flags.toolsets ?? config.mcp.toolsets);
  const readOnly = flags.readOnly ?? config.mcp.readOnly;
  const outputSchemas = flags.outputSchemas ?? config.mcp.outputSchemas;
  if (!config.apiKey)
    process.stderr.write(
      'freight mcp: FREIGHT_API_KEY is not set; tool calls will be refused by the API\n',
    );
  const invoke = remoteInvoker(api);
  const handle = serveStdio(
    async () => {
      const role = await discoverRole(baseUrl, config.apiKey);
      return createMcpServer(OPERATIONS, invoke, {
        ...(toolsets ? { toolsets } : {}),
        readOnly,
        outputSchemas,
        role,
      });
    },
    { onerror: (error) => process.stderr.write(`freight mcp: ${error.message}\n`) },
  );
  const stop = () => {
    void handle.close().finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
}

/** The key's role, to list only its tools; null (list all) when the API cannot say within 3 s. */
async function discoverRole(baseUrl: string, apiKey: string | undefined): Promise<Role | null> {
  if (!apiKey) return null;
  try {
    const res = await fetch(new URL('/api/v1/auth/whoami', baseUrl), {
      headers: { authorization: `Bearer ${apiKey}` },
      signal: AbortSignal.timeout(3000),
    });
    if (!res.ok) return null;
    const body = (await res.json()) as { role?: string };
    return body.role === 'viewer' || body.role === 'engineer' || body.role === 'admin'
      ? body.role
      : null;
  } catch {
    process.stderr.write(
      `freight mcp: the Freight API at ${baseUrl} is not answering; listing every tool\n`,
    );
    return null;
  }
}
