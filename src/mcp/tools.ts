import { z } from 'zod';
import type { Role } from '../domain/access.js';
import { roleAllows } from '../domain/access.js';
import type { Operation, Toolset } from '../operations/operation.js';

/**
 * Which operations are MCP tools, and their input schemas: one tool per operation with a toolset
 * (operations without one — token exchange, downloads — are not tools). The tool's input is the
 * operation's path, query and body fields together; the tenant never is (it comes from the
 * server's environment or the request's X-Tenant-ID header, never from tool arguments).
 */
export const TOOLSETS: readonly Toolset[] = ['jobs', 'logs', 'ops', 'admin'];

export interface ToolFilter {
  /** Toolsets to offer (default: all). */
  readonly toolsets?: readonly Toolset[];
  /** Only tools that change nothing. */
  readonly readOnly?: boolean;
  /** The caller's role when known: tools it may not call are not listed. */
  readonly role?: Role | null;
}

export function selectTools(
  operations: readonly Operation[],
  filter: ToolFilter = {},
): Operation[] {
  const sets = new Set(filter.toolsets ?? TOOLSETS);
  return operations.filter(
    (op) =>
      op.toolset !== null &&
      sets.has(op.toolset) &&
      (!filter.readOnly || op.annotations.readOnlyHint) &&
      (!filter.role || op.role === null || roleAllows(filter.role, op.role)),
  );
}

type Shape = z.ZodRawShape;

/** The flat input schema of a tool: params, query and body fields in one object (unknown keys rejected). */
export function toolInputSchema(op: Operation): z.ZodObject<Shape> {
  const shape = {
    ...(op.params?.shape ?? {}),
    ...(op.query?.shape ?? {}),
    ...(op.body?.shape ?? {}),
  } as Shape;
  return z.object(shape).strict();
}

/** Splits validated tool arguments back into the operation's params, query and body. */
export function splitToolArgs(
  op: Operation,
  args: Record<string, unknown>,
): {
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
} {
  const pick = (shape: Readonly<Shape> | undefined) =>
    Object.fromEntries(
      Object.keys(shape ?? {})
        .filter((k) => args[k] !== undefined)
        .map((k) => [k, args[k]]),
    );
  return {
    params: pick(op.params?.shape),
    query: pick(op.query?.shape),
    body: pick(op.body?.shape),
  };
}

/** Parses a toolsets list (`jobs,logs`); throws naming an unknown one. */
export function parseToolsets(value: string | undefined): Toolset[] | undefined {
  if (!value) return undefined;
  const sets = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of sets) {
    if (!(TOOLSETS as readonly string[]).includes(s))
      throw new Error(`unknown toolset "${s}" (toolsets: ${TOOLSETS.join(', ')})`);
  }
  return sets as Toolset[];
}
