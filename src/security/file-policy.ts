import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { FreightError } from '../domain/errors.js';

/**
 * Where file-based connectors (`sqlite:`, `csv:`) may read and write in server mode: only inside
 * the configured data directories — per tenant when `{tenant}` appears in a directory — after
 * resolving `..` and symbolic links (of the path, or of its deepest existing parent for a file
 * that does not exist yet). The command line keeps full access: it runs as the user.
 */
export interface FilePolicy {
  /** Directories (absolute), possibly containing `{tenant}`. Empty: file connectors are refused. */
  readonly dataDirs: readonly string[];
  /**
   * This server's own files (the SQLite metadata store, the secret key), refused even inside a
   * data directory — with their SQLite companions (`-wal`, `-shm`, `-journal`).
   */
  readonly protectedPaths?: readonly string[];
}

export function confinePath(
  input: string,
  policy: FilePolicy,
  tenantId: string,
  field: string,
): string {
  if (policy.dataDirs.length === 0) {
    throw new FreightError(
      'POLICY_VIOLATION',
      `${field}: file connectors (sqlite:, csv:) are disabled on this server (no FREIGHT_DATA_DIRS configured)`,
      {
        details: { field, rule: 'file connectors need FREIGHT_DATA_DIRS' },
      },
    );
  }
  if (input.includes('\0'))
    throw new FreightError('VALIDATION_FAILED', `${field}: the path contains a NUL byte`, {
      details: { field },
    });
  const roots = policy.dataDirs.map((dir) => realOrResolved(dir.replaceAll('{tenant}', tenantId)));
  // Relative paths are relative to the first data directory, never to the server's working directory.
  const candidate = path.resolve(roots[0]!, input);
  const real = realOrResolved(candidate);
  for (const own of policy.protectedPaths ?? []) {
    const file = realOrResolved(own);
    if (
      real === file ||
      ['-wal', '-shm', '-journal'].some((suffix) => real === `${file}${suffix}`)
    ) {
      throw new FreightError(
        'POLICY_VIOLATION',
        `${field}: the path is one of this server's own files (its metadata store or secret key), which no job may use`,
        {
          details: { field, rule: "the server's own files" },
        },
      );
    }
  }
  for (const root of roots) {
    const rel = path.relative(root, real);
    if (rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel)))
      return real;
  }
  throw new FreightError(
    'POLICY_VIOLATION',
    `${field}: the path is outside the data directories this server allows (rule: file connectors may only use files under FREIGHT_DATA_DIRS${policy.dataDirs.some((d) => d.includes('{tenant}')) ? ', per tenant' : ''}, after resolving ".." and symbolic links)`,
    {
      details: { field, rule: 'path outside FREIGHT_DATA_DIRS' },
    },
  );
}

/**
 * The files a directory source reads (those whose names match `pattern`), each confined like the
 * directory itself: a symbolic link in it that leads outside the data directories is refused.
 * Nothing when `dir` is not a directory.
 */
export function confineEntries(
  dir: string,
  pattern: RegExp,
  policy: FilePolicy,
  tenantId: string,
  field: string,
): void {
  let entries;
  try {
    if (!statSync(dir).isDirectory()) return;
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // missing or unreadable: the connector reports it
  }
  for (const entry of entries) {
    if (!pattern.test(entry.name) || entry.isDirectory()) continue;
    try {
      confinePath(path.join(dir, entry.name), policy, tenantId, field);
    } catch (error) {
      if (!(error instanceof FreightError)) throw error;
      throw new FreightError(
        error.code,
        error.message.replace(`${field}: `, `${field}: ${entry.name} in the directory: `),
        { details: { ...error.details, file: entry.name } },
      );
    }
  }
}

/**
 * The real path of `p`, or of its deepest existing ancestor joined with the rest. A dangling
 * symbolic link on the way is followed to where its target would be created.
 */
function realOrResolved(p: string, hops = 0): string {
  const absolute = path.resolve(p);
  const missing: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      return path.join(realpathSync(current), ...[...missing].reverse());
    } catch {
      let link: string | null = null;
      try {
        if (lstatSync(current).isSymbolicLink()) link = readlinkSync(current);
      } catch {
        // does not exist: look at its parent
      }
      // More hops than the kernel follows (40): opening it fails with ELOOP anyway.
      if (link !== null && hops < 40)
        return realOrResolved(
          path.join(path.resolve(path.dirname(current), link), ...[...missing].reverse()),
          hops + 1,
        );
      const parent = path.dirname(current);
      if (parent === current) return absolute;
      missing.push(path.basename(current));
      current = parent;
    }
  }
}
