import { rmSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/config.js';
import { createSampleDatabase } from '../../connectors/sqlite/sqlite-sample.js';
import { formatInt } from '../format.js';
import { migrate, type MigrateFlags } from './migrate.js';

/**
 * `freight demo`: the main job on the embedded default, with nothing else installed — generates a
 * sample shop database in SQLite and migrates it into a second SQLite database, with the live
 * progress bar, checksum validation and the summary.
 */
export async function demo(
  config: Config,
  flags: { scale?: string; target?: string; json?: boolean; progress: boolean },
): Promise<number> {
  const scale = Number(flags.scale ?? 1);
  const sourceFile = path.join(config.home, 'demo', 'shop.db');
  process.stderr.write(`freight: generating the sample database ${sourceFile} …\n`);
  const { tables } = createSampleDatabase(sourceFile, scale);
  process.stderr.write(
    `freight: ${Object.entries(tables)
      .map(([t, n]) => `${t} ${formatInt(n)}`)
      .join(', ')} rows\n`,
  );
  let target = flags.target;
  if (!target) {
    const targetFile = path.join(config.home, 'demo', 'shop-copy.db');
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${targetFile}${suffix}`, { force: true });
    target = `sqlite:${targetFile}`;
  }
  const migrateFlags: MigrateFlags = {
    create: true,
    verify: 'checksum',
    progress: flags.progress,
    ...(flags.json ? { json: true } : {}),
  };
  return migrate(config, `sqlite:${sourceFile}`, target, migrateFlags);
}
