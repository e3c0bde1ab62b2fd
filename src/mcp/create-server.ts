import { McpServer } from '@modelcontextprotocol/server';
import { VERSION } from '../config/version.js';
import type { Operation } from '../operations/operation.js';
import { selectTools, toolInputSchema, type ToolFilter } from './tools.js';
import type { ToolResult } from './tool-results.js';

/** Runs one tool: validated arguments in, a tool result out (failures are results, not throws). */
export type ToolInvoker = (op: Operation, args: Record<string, unknown>) => Promise<ToolResult>;

export interface McpServerOptions extends ToolFilter {
  /** Declare output schemas (default true); some clients reject them. */
  readonly outputSchemas?: boolean;
}

const INSTRUCTIONS = `Freight moves data between databases (MySQL/MariaDB, PostgreSQL, SQLite, CSV into PostgreSQL or SQLite) as migration jobs.
Typical flow: create_migration_job → get_migration_job (progress, failed batches) → get_migration_logs (failed records) → retry_migration_job or cancel_migration_job; export_migration_logs returns a download link.
Job ids come from create_migration_job or list_migration_jobs. Connection configs may be URLs (mysql://user:pass@host:3306/db, postgresql://user@host:5432/db?schema=s, sqlite:/path.db) or objects.`;

/**
 * An MCP server whose tools are Freight's operations (DESIGN.md §1 mcp/): names, descriptions,
 * input and output schemas and annotations all come from the operation definitions.
 */
export function createMcpServer(
  operations: readonly Operation[],
  invoke: ToolInvoker,
  options: McpServerOptions = {},
): McpServer {
  const server = new McpServer(
    { name: 'freight', version: VERSION },
    { capabilities: { tools: {} }, instructions: INSTRUCTIONS },
  );
  for (const op of selectTools(operations, options)) {
    server.registerTool(
      op.id,
      {
        title: op.summary,
        description: op.description,
        inputSchema: toolInputSchema(op),
        ...(options.outputSchemas === false ? {} : { outputSchema: op.output }),
        annotations: { title: op.summary, ...op.annotations },
      },
      async (args: unknown) => invoke(op, (args ?? {}) as Record<string, unknown>),
    );
  }
  return server;
}
