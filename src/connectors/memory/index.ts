import type { ConnectionConfig } from '../../domain/connection.js';
import { registerConnector } from '../index.js';
import { memoryDatabase } from './memory-database.js';
import { MemorySource } from './memory-source.js';
import { MemoryTarget } from './memory-target.js';

export { memoryDatabase, dropMemoryDatabase, type MemoryDatabase } from './memory-database.js';

/** Registers `memory:` connections (tests only). */
export function registerMemoryConnector(): void {
  const name = (c: ConnectionConfig) => (c as Extract<ConnectionConfig, { type: 'memory' }>).name;
  registerConnector('memory', {
    source: async (c) => new MemorySource(memoryDatabase(name(c)), name(c)),
    target: async (c) => new MemoryTarget(memoryDatabase(name(c)), name(c)),
  });
}
