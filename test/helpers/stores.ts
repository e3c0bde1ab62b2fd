import { openStore } from '../../src/store/open-store.js';
import type { MetadataStore } from '../../src/store/store.js';
import { dropPgSchema, PG_STORE_URL, tempDir, uniqueName } from './databases.js';

export const STORE_KINDS = ['sqlite', 'postgresql'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** A fresh metadata store of either kind: a temp SQLite file, or its own PostgreSQL schema. */
export async function openTestStore(
  kind: StoreKind,
): Promise<{ store: MetadataStore; cleanup: () => Promise<void> }> {
  const secretKey = 'test-secret-key-0123456789abcdef';
  if (kind === 'sqlite') {
    const dir = tempDir();
    const store = await openStore({
      store: { kind: 'sqlite', path: dir.file('freight.db') },
      home: dir.dir,
      secretKey,
    });
    return {
      store,
      cleanup: async () => {
        await store.close();
        dir.remove();
      },
    };
  }
  const schema = uniqueName('fstore');
  const store = await openStore({
    store: { kind: 'postgresql', url: PG_STORE_URL, schema },
    home: '/nonexistent',
    secretKey,
  });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await dropPgSchema(schema);
    },
  };
}
