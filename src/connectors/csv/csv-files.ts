import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { FreightError } from '../../domain/errors.js';

/**
 * The tables of a CSV source: a file is one table named after the file without its extension; a
 * directory holds one table per `*.csv` file (case-insensitive extension; subdirectories and other
 * files ignored), in name order. Names are kept as they are: the engine folds and quotes them.
 *
 * Returns table name → file path. A missing path is DATABASE_NOT_FOUND; two files with the same
 * table name (`a.csv`, `a.CSV`) are SCHEMA_CONFLICT.
 */
export async function csvTables(location: string): Promise<Map<string, string>> {
  let info;
  try {
    info = await stat(location);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new FreightError('DATABASE_NOT_FOUND', `csv path ${location} does not exist`, {
        details: { path: location },
      });
    }
    throw new FreightError(
      code === 'EACCES' ? 'PERMISSION_DENIED' : 'DATABASE_ERROR',
      `csv path ${location}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (!info.isDirectory()) return new Map([[tableName(location), location]]);
  const entries = await readdir(location, { withFileTypes: true });
  const files = entries
    .filter((e) => /\.csv$/i.test(e.name) && (e.isFile() || e.isSymbolicLink()))
    .map((e) => e.name)
    .sort();
  const tables = new Map<string, string>();
  for (const file of files) {
    const name = tableName(file);
    const clash = tables.get(name);
    if (clash !== undefined) {
      throw new FreightError(
        'SCHEMA_CONFLICT',
        `csv files ${path.basename(clash)} and ${file} in ${location} would both be table ${name}; rename one`,
      );
    }
    tables.set(name, path.join(location, file));
  }
  return tables;
}

/** `orders.csv` → `orders`; `2024.orders.csv` → `2024.orders`. */
function tableName(file: string): string {
  return path.parse(file).name;
}
