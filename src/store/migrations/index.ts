import type { Kysely, Migration, MigrationProvider } from 'kysely';
import * as m0001 from './0001-initial.js';
import * as m0002 from './0002-job-locks.js';
import * as m0003 from './0003-control-plane.js';
import * as m0004 from './0004-webhooks.js';

export type StoreDialect = 'sqlite' | 'postgresql';

interface DialectMigration {
  up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void>;
}

/** Numbered migrations, in order. Add new files as `000N-name.ts` and list them here. */
const MIGRATIONS: Record<string, DialectMigration> = {
  '0001-initial': m0001,
  '0002-job-locks': m0002,
  '0003-control-plane': m0003,
  '0004-webhooks': m0004,
};

/** Migrations live in code (not read from disk), so the built package carries them. */
export class CodeMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: StoreDialect) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const [name, migration] of Object.entries(MIGRATIONS)) {
      out[name] = { up: (db) => migration.up(db, this.dialect) };
    }
    return out;
  }
}
