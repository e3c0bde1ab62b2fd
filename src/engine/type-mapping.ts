import type { SourceType, TargetType } from '../domain/column-types.js';
import type { Probe, ProbeResult, SourceColumn, TargetCaps } from './ports.js';

/**
 * Source type → target type (MYSQL_TO_POSTGRES.md, "Default type mapping"). Decisions that depend
 * on the data (TINYINT(1), TIME beyond a day, the ENUM error value, unsigned identity keys) are
 * asked of the source as probes first and answered here.
 */

const INT64_MAX = 9223372036854775807n;

/** The probes a column needs before its type can be decided. */
export function probesFor(column: SourceColumn): Probe[] {
  const t = column.type;
  if (column.generated) return [];
  if (t.kind === 'integer' && t.boolCandidate) return [{ kind: 'only-01', column: column.name }];
  if (t.kind === 'time') return [{ kind: 'outside-day', column: column.name }];
  if (t.kind === 'enum' && !t.values.includes(''))
    return [{ kind: 'has-empty', column: column.name }];
  if (t.kind === 'integer' && t.bytes === 8 && t.unsigned && column.autoIncrement) {
    return [{ kind: 'max', column: column.name }];
  }
  return [];
}

export interface MappedColumn {
  readonly type: TargetType;
  readonly identity: boolean;
  readonly check?: { kind: 'in'; values: string[] } | { kind: 'subset'; values: string[] };
  readonly notes: string[];
}

/**
 * Decides a column's target type from its source type, the probe answers and the target's types.
 * `autoIncrementNext` is the table's next auto-increment value: an identity must be able to go on
 * from it, not only hold the values already there.
 */
export function mapColumn(
  column: SourceColumn,
  answers: ReadonlyMap<Probe['kind'], ProbeResult>,
  caps: TargetCaps,
  sourceDialect: string,
  autoIncrementNext?: string,
): MappedColumn {
  const notes: string[] = [];
  const t = column.type;
  let type = baseType(t, answers, sourceDialect, notes, column.name);
  let identity = false;
  if (column.autoIncrement && t.kind === 'integer') {
    if (t.bytes === 8 && t.unsigned) {
      const max = answers.get('max');
      const valuesFit = max === null || max === undefined || BigInt(String(max)) <= INT64_MAX;
      const counterFits =
        autoIncrementNext === undefined ||
        !/^\d+$/.test(autoIncrementNext) ||
        BigInt(autoIncrementNext) - 1n <= INT64_MAX;
      if (valuesFit && counterFits) {
        type = { kind: 'int64' };
        notes.push(
          `${column.name}: BIGINT UNSIGNED AUTO_INCREMENT → bigint identity (every value fits; numeric(20,0) cannot be an identity)`,
        );
      } else {
        notes.push(
          `${column.name}: BIGINT UNSIGNED AUTO_INCREMENT ${valuesFit ? `counts from ${autoIncrementNext}` : 'holds values'} beyond bigint, so it stays numeric(20,0) without an identity (no generated values on the target)`,
        );
      }
    }
    identity = type.kind === 'int16' || type.kind === 'int32' || type.kind === 'int64';
  }
  type = fallback(type, caps, notes, column.name);
  let check: MappedColumn['check'];
  if (t.kind === 'enum') {
    const values = [...t.values];
    if (answers.get('has-empty') === true) {
      values.push('');
      notes.push(`${column.name}: the data holds the ENUM error value '', so the CHECK allows it`);
    }
    check = { kind: 'in', values };
  } else if (t.kind === 'set' && type.kind === 'text-array') {
    check = { kind: 'subset', values: [...t.values] };
  }
  return { type, identity, ...(check ? { check } : {}), notes };
}

function baseType(
  t: SourceType,
  answers: ReadonlyMap<Probe['kind'], ProbeResult>,
  sourceDialect: string,
  notes: string[],
  name: string,
): TargetType {
  switch (t.kind) {
    case 'boolean':
      return { kind: 'boolean' };
    case 'integer':
      if (t.boolCandidate) {
        if (answers.get('only-01') === true) return { kind: 'boolean' };
        notes.push(`${name}: TINYINT(1) holds values other than 0 and 1, so it stays an integer`);
      }
      if (t.bytes === 1) return { kind: 'int16' };
      if (t.bytes === 2) return t.unsigned ? { kind: 'int32' } : { kind: 'int16' };
      if (t.bytes === 3) return { kind: 'int32' };
      if (t.bytes === 4) return t.unsigned ? { kind: 'int64' } : { kind: 'int32' };
      return t.unsigned ? { kind: 'decimal', precision: 20, scale: 0 } : { kind: 'int64' };
    case 'decimal':
      return {
        kind: 'decimal',
        ...(t.precision !== undefined ? { precision: t.precision, scale: t.scale ?? 0 } : {}),
      };
    case 'float':
      return t.bytes === 4 ? { kind: 'float32' } : { kind: 'float64' };
    case 'bit':
      return t.length === 1 ? { kind: 'boolean' } : { kind: 'bits', length: t.length };
    case 'char':
    case 'varchar':
      return { kind: 'varchar', ...(t.length !== undefined ? { length: t.length } : {}) };
    case 'text':
      return { kind: 'text' };
    case 'binary':
      return { kind: 'bytes' };
    case 'enum':
      return { kind: 'text' };
    case 'set':
      return { kind: 'text-array' };
    case 'date':
      return { kind: 'date' };
    case 'datetime':
      return {
        kind: 'timestamp',
        ...(t.precision !== undefined ? { precision: t.precision } : {}),
      };
    case 'timestamp':
      return {
        kind: 'timestamptz',
        ...(t.precision !== undefined ? { precision: t.precision } : {}),
      };
    case 'time':
      if (answers.get('outside-day') === true) {
        notes.push(`${name}: TIME values leave 00:00–24:00, so the column becomes an interval`);
        return { kind: 'interval' };
      }
      return { kind: 'time', ...(t.precision !== undefined ? { precision: t.precision } : {}) };
    case 'interval':
      return { kind: 'interval' };
    case 'year':
      return { kind: 'int16' };
    case 'json':
      // PostgreSQL json keeps its text exactly (duplicate keys, spacing); jsonb would normalize it.
      return sourceDialect === 'postgresql' && !t.binary
        ? { kind: 'native', dialect: 'postgresql', type: 'json' }
        : { kind: 'json' };
    case 'uuid':
      return { kind: 'uuid' };
    case 'geometry':
      return { kind: 'geometry' };
    case 'array':
      return sourceDialect === 'postgresql'
        ? { kind: 'native', dialect: 'postgresql', type: `${t.element}[]` }
        : { kind: 'text' };
    case 'native':
      return { kind: 'native', dialect: t.dialect, type: t.type };
  }
}

/** A type the target lacks becomes the closest one it has; the note says so. */
function fallback(type: TargetType, caps: TargetCaps, notes: string[], name: string): TargetType {
  if (type.kind === 'native') {
    if (type.dialect === caps.dialect) return type;
    notes.push(`${name}: ${type.dialect} type ${type.type} is carried as text`);
    return { kind: 'text' };
  }
  if (caps.types.has(type.kind)) return type;
  const alternatives: Partial<Record<TargetType['kind'], TargetType>> = {
    geometry: { kind: 'bytes' },
    boolean: { kind: 'int16' },
    'text-array': { kind: 'text' },
    bits: { kind: 'text' },
    uuid: { kind: 'text' },
    interval: { kind: 'text' },
    json: { kind: 'text' },
    char: { kind: 'text' },
  };
  const alt = alternatives[type.kind] ?? { kind: 'text' };
  notes.push(
    `${name}: the target has no ${type.kind} type, so the column is ${alt.kind}${type.kind === 'geometry' ? ' (WKB)' : ''}`,
  );
  return fallback(alt, caps, notes, name);
}
