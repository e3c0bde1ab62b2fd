/**
 * Freight's type vocabulary. Source connectors describe their columns as a `SourceType`; the
 * engine's type mapping decides a `TargetType` for each; target connectors render a `TargetType` as
 * their own DDL. Differences between databases are data here, not branches in the engine.
 */

/** What a source column holds, independent of the database it lives in. */
export type SourceType =
  | { kind: 'boolean' }
  /** `bytes`: storage size (MySQL MEDIUMINT = 3). `boolCandidate`: MySQL TINYINT(1)/BOOL. */
  | { kind: 'integer'; bytes: 1 | 2 | 3 | 4 | 8; unsigned: boolean; boolCandidate?: boolean }
  | { kind: 'decimal'; precision?: number; scale?: number }
  | { kind: 'float'; bytes: 4 | 8 }
  | { kind: 'bit'; length: number }
  | { kind: 'char'; length?: number }
  | { kind: 'varchar'; length?: number }
  | { kind: 'text' }
  /** `fixed`: BINARY(n), padded with 0x00 by the source. */
  | { kind: 'binary'; length?: number; fixed?: boolean }
  | { kind: 'enum'; values: string[] }
  | { kind: 'set'; values: string[] }
  | { kind: 'date' }
  /** Naive date-time (MySQL DATETIME, PostgreSQL timestamp without time zone). */
  | { kind: 'datetime'; precision?: number }
  /** An instant (MySQL TIMESTAMP, PostgreSQL timestamptz); sources deliver it in UTC. */
  | { kind: 'timestamp'; precision?: number }
  /** Time of day, or a duration where the source allows it (MySQL TIME spans ±838:59:59). */
  | { kind: 'time'; precision?: number }
  | { kind: 'interval' }
  | { kind: 'year' }
  | { kind: 'json'; binary?: boolean }
  | { kind: 'uuid' }
  | { kind: 'geometry'; subtype?: string }
  | { kind: 'array'; element: string }
  /** A type only its own database understands; carried as text, natively into the same dialect. */
  | { kind: 'native'; dialect: string; type: string };

/** What a target column will be. Targets render these as DDL (`postgres-type-map.ts`, ...). */
export type TargetType =
  | { kind: 'boolean' }
  | { kind: 'int16' }
  | { kind: 'int32' }
  | { kind: 'int64' }
  | { kind: 'decimal'; precision?: number; scale?: number }
  | { kind: 'float32' }
  | { kind: 'float64' }
  | { kind: 'bits'; length: number }
  | { kind: 'varchar'; length?: number }
  | { kind: 'char'; length?: number }
  | { kind: 'text' }
  | { kind: 'bytes' }
  | { kind: 'date' }
  | { kind: 'timestamp'; precision?: number }
  | { kind: 'timestamptz'; precision?: number }
  | { kind: 'time'; precision?: number }
  | { kind: 'interval' }
  | { kind: 'json' }
  | { kind: 'uuid' }
  | { kind: 'text-array' }
  | { kind: 'geometry' }
  | { kind: 'native'; dialect: string; type: string };

export type TargetTypeKind = TargetType['kind'];

/** Every target type kind, once (the record makes the compiler insist on each). */
const EVERY_KIND: Record<TargetTypeKind, true> = {
  boolean: true,
  int16: true,
  int32: true,
  int64: true,
  decimal: true,
  float32: true,
  float64: true,
  bits: true,
  varchar: true,
  char: true,
  text: true,
  bytes: true,
  date: true,
  timestamp: true,
  timestamptz: true,
  time: true,
  interval: true,
  json: true,
  uuid: true,
  'text-array': true,
  geometry: true,
  native: true,
};

/** The target type kinds except `except`: what a target declares it has (TargetCaps.types). */
export function targetKindsExcept(...except: TargetTypeKind[]): ReadonlySet<TargetTypeKind> {
  return new Set(
    (Object.keys(EVERY_KIND) as TargetTypeKind[]).filter((kind) => !except.includes(kind)),
  );
}

/** Renders a source type for summaries and plans ("integer(8) unsigned"). */
export function describeSourceType(type: SourceType): string {
  switch (type.kind) {
    case 'integer':
      return `integer(${type.bytes})${type.unsigned ? ' unsigned' : ''}`;
    case 'decimal':
      return type.precision === undefined
        ? 'decimal'
        : `decimal(${type.precision},${type.scale ?? 0})`;
    case 'float':
      return type.bytes === 4 ? 'float' : 'double';
    case 'native':
      return `${type.dialect}:${type.type}`;
    case 'enum':
    case 'set':
      return `${type.kind}(${type.values.length} values)`;
    default:
      return 'length' in type && type.length !== undefined
        ? `${type.kind}(${type.length})`
        : type.kind;
  }
}

/**
 * Whether every database orders values of this type the same way. Keys of these types can be
 * compared as ranges on the target too; text keys cannot (collations differ between databases), so
 * their batches are replaced by the exact set of keys instead.
 */
export function isOrderSafe(type: TargetType): boolean {
  switch (type.kind) {
    case 'int16':
    case 'int32':
    case 'int64':
    case 'decimal':
    case 'date':
    case 'timestamp':
    case 'timestamptz':
    case 'boolean':
      return true;
    default:
      return false;
  }
}
