import { targetKindsExcept, type SourceType, type TargetType } from '../../domain/column-types.js';

/** PostgreSQL spelling of each target type. */
export function pgTypeName(type: TargetType): string {
  switch (type.kind) {
    case 'boolean':
      return 'boolean';
    case 'int16':
      return 'smallint';
    case 'int32':
      return 'integer';
    case 'int64':
      return 'bigint';
    case 'decimal':
      return type.precision !== undefined
        ? `numeric(${type.precision},${type.scale ?? 0})`
        : 'numeric';
    case 'float32':
      return 'real';
    case 'float64':
      return 'double precision';
    case 'bits':
      return `bit(${type.length})`;
    case 'varchar':
      return type.length !== undefined ? `varchar(${type.length})` : 'varchar';
    case 'char':
      return type.length !== undefined ? `char(${type.length})` : 'char';
    case 'text':
      return 'text';
    case 'bytes':
      return 'bytea';
    case 'date':
      return 'date';
    case 'timestamp':
      return type.precision !== undefined
        ? `timestamp(${type.precision}) without time zone`
        : 'timestamp without time zone';
    case 'timestamptz':
      return type.precision !== undefined
        ? `timestamp(${type.precision}) with time zone`
        : 'timestamp with time zone';
    case 'time':
      return type.precision !== undefined
        ? `time(${type.precision}) without time zone`
        : 'time without time zone';
    case 'interval':
      return 'interval';
    case 'json':
      return 'jsonb';
    case 'uuid':
      return 'uuid';
    case 'text-array':
      return 'text[]';
    case 'geometry':
      return 'geometry';
    case 'native':
      return type.type;
  }
}

/** Geometry only where PostGIS is installed (PostgresTarget adds it). */
export const PG_TARGET_TYPES = targetKindsExcept('geometry');

/**
 * A PostgreSQL column (format_type output and udt name) → Freight source type. Types without an
 * equivalent elsewhere stay `native`: carried as their text form, exactly, into PostgreSQL.
 * `enumLabels` (an enum type's labels in sort order) makes it an `enum`, which every target can
 * hold as text with a CHECK — the enum type itself need not exist on the target.
 */
export function pgSourceType(
  formatted: string,
  udt: string,
  dataType: string,
  enumLabels?: readonly string[],
): SourceType {
  const f = formatted.toLowerCase();
  const args = /\(([^)]*)\)/
    .exec(f)?.[1]
    ?.split(',')
    .map((s) => Number(s.trim()));
  if (dataType === 'ARRAY' || f.endsWith('[]'))
    return { kind: 'native', dialect: 'postgresql', type: formatted };
  if (enumLabels) return { kind: 'enum', values: [...enumLabels] };
  switch (udt) {
    case 'bool':
      return { kind: 'boolean' };
    case 'int2':
      return { kind: 'integer', bytes: 2, unsigned: false };
    case 'int4':
      return { kind: 'integer', bytes: 4, unsigned: false };
    case 'int8':
      return { kind: 'integer', bytes: 8, unsigned: false };
    case 'numeric':
      return args && args.length >= 1
        ? { kind: 'decimal', precision: args[0]!, scale: args[1] ?? 0 }
        : { kind: 'decimal' };
    case 'float4':
      return { kind: 'float', bytes: 4 };
    case 'float8':
      return { kind: 'float', bytes: 8 };
    case 'varchar':
      return args ? { kind: 'varchar', length: args[0]! } : { kind: 'text' };
    case 'bpchar':
      return { kind: 'native', dialect: 'postgresql', type: formatted };
    case 'text':
    case 'citext':
    case 'name':
      return udt === 'text'
        ? { kind: 'text' }
        : { kind: 'native', dialect: 'postgresql', type: formatted };
    case 'bytea':
      return { kind: 'binary' };
    case 'date':
      return { kind: 'date' };
    case 'timestamp':
      return { kind: 'datetime', ...(args ? { precision: args[0]! } : {}) };
    case 'timestamptz':
      return { kind: 'timestamp', ...(args ? { precision: args[0]! } : {}) };
    case 'time':
      return { kind: 'time', ...(args ? { precision: args[0]! } : {}) };
    case 'interval':
      return { kind: 'interval' };
    case 'json':
    case 'jsonb':
      return { kind: 'json', binary: udt === 'jsonb' };
    case 'uuid':
      return { kind: 'uuid' };
    case 'bit':
      return { kind: 'bit', length: args?.[0] ?? 1 };
    default:
      return { kind: 'native', dialect: 'postgresql', type: formatted };
  }
}
