import type { ConnectionConfig } from '../domain/connection.js';
import { FreightError } from '../domain/errors.js';
import type { Connectors, SourceConnector, TargetConnector } from '../engine/ports.js';
import { CsvSource } from './csv/csv-source.js';
import { MysqlSource } from './mysql/mysql-source.js';
import { PostgresSource } from './postgres/postgres-source.js';
import { PostgresTarget } from './postgres/postgres-target.js';
import { SqliteSource } from './sqlite/sqlite-source.js';
import { SqliteTarget } from './sqlite/sqlite-target.js';

type SourceFactory = (
  config: ConnectionConfig,
  options: { poolSize: number },
) => Promise<SourceConnector>;
type TargetFactory = (
  config: ConnectionConfig,
  options: { poolSize: number },
) => Promise<TargetConnector>;

const sources = new Map<string, SourceFactory>([
  ['mysql', async (c, o) => new MysqlSource(c as Extract<ConnectionConfig, { type: 'mysql' }>, o)],
  [
    'mariadb',
    async (c, o) => new MysqlSource(c as Extract<ConnectionConfig, { type: 'mariadb' }>, o),
  ],
  [
    'postgresql',
    async (c, o) => PostgresSource.open(c as Extract<ConnectionConfig, { type: 'postgresql' }>, o),
  ],
  [
    'sqlite',
    async (c, o) => SqliteSource.open(c as Extract<ConnectionConfig, { type: 'sqlite' }>, o),
  ],
  ['csv', async (c) => CsvSource.open(c as Extract<ConnectionConfig, { type: 'csv' }>)],
]);

const targets = new Map<string, TargetFactory>([
  [
    'postgresql',
    async (c, o) => PostgresTarget.open(c as Extract<ConnectionConfig, { type: 'postgresql' }>, o),
  ],
  [
    'sqlite',
    async (c, o) => SqliteTarget.open(c as Extract<ConnectionConfig, { type: 'sqlite' }>, o),
  ],
]);

/** Adds a connector type (tests register the in-memory fake this way). */
export function registerConnector(
  type: string,
  factories: { source?: SourceFactory; target?: TargetFactory },
): void {
  if (factories.source) sources.set(type, factories.source);
  if (factories.target) targets.set(type, factories.target);
}

/** The connectors every Freight process uses: one factory per database type. */
export const connectors: Connectors = {
  async openSource(config, options) {
    const factory = sources.get(config.type);
    if (!factory)
      throw new FreightError(
        'UNSUPPORTED',
        `${config.type} cannot be a source (sources: ${[...sources.keys()].join(', ')})`,
      );
    return factory(config, options);
  },
  async openTarget(config, options) {
    const factory = targets.get(config.type);
    if (!factory)
      throw new FreightError(
        'UNSUPPORTED',
        `${config.type} cannot be a target (targets: ${[...targets.keys()].join(', ')})`,
      );
    return factory(config, options);
  },
};

export function sourceTypes(): string[] {
  return [...sources.keys()];
}

export function targetTypes(): string[] {
  return [...targets.keys()];
}
