import { targetKindsExcept, type SourceType, type TargetType } from '../../domain/column-types.js';

/**
 * SQLite declared type → Freight source type. SQLite stores any value in any column; the declared
 * type only gives the column an *affinity* (https://sqlite.org/datatype3.html §3.1), decided by
 * substrings in this order: INT → INTEGER; CHAR, CLOB, TEXT → TEXT; BLOB or none → BLOB;
 * REAL, FLOA, DOUB → REAL; otherwise NUMERIC. The mapping follows the same order, after the names
 * that say more than their affinity (BOOLEAN, DECIMAL(p,s), DATE, DATETIME, TIME, JSON, UUID).
 *
 * BOOLEAN is a *candidate* boolean, like MySQL TINYINT(1): SQLite keeps whatever integer was
 * stored, so the engine probes that the data holds only 0, 1 and NULL before choosing a boolean
 * (the value codec then turns 0/1 into false/true); a column holding 2 stays an integer.
 */
export function sqliteSourceType(declared: string): SourceType {
  const type = declared.trim().toUpperCase();
  if (type === '') return { kind: 'native', dialect: 'sqlite', type: '' };
  const args = /\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)/.exec(type);
  const base = type.replace(/\(.*$/s, '').trim();
  if (base === 'BOOL' || base === 'BOOLEAN')
    return { kind: 'integer', bytes: 8, unsigned: false, boolCandidate: true };
  if (type.includes('INT')) return { kind: 'integer', bytes: 8, unsigned: false };
  if (/CHAR|CLOB|TEXT/.test(type))
    return args ? { kind: 'varchar', length: Number(args[1]) } : { kind: 'text' };
  if (type.includes('BLOB')) return { kind: 'binary' };
  if (/REAL|FLOA|DOUB/.test(type)) return { kind: 'float', bytes: 8 };
  if (base === 'DECIMAL' || base === 'NUMERIC') {
    return args
      ? { kind: 'decimal', precision: Number(args[1]), scale: Number(args[2] ?? 0) }
      : { kind: 'decimal' };
  }
  if (base === 'DATE') return { kind: 'date' };
  if (base === 'DATETIME' || base === 'TIMESTAMP' || base === 'TIMESTAMP WITHOUT TIME ZONE')
    return { kind: 'datetime' };
  if (base === 'TIMESTAMPTZ' || base === 'TIMESTAMP WITH TIME ZONE') return { kind: 'timestamp' };
  if (base === 'TIME' || base === 'TIME WITHOUT TIME ZONE') return { kind: 'time' };
  if (base === 'JSON' || base === 'JSONB') return { kind: 'json' };
  if (base === 'UUID') return { kind: 'uuid' };
  return { kind: 'native', dialect: 'sqlite', type: declared.trim() };
}

/** Every target type kind: SQLite stores each of them exactly (see `sqliteTypeName`). */
export const SQLITE_TARGET_TYPES = targetKindsExcept();

/**
 * Whether a decimal column is stored as a number (NUMERIC affinity) or as text. Numbers keep
 * at most 15 significant digits through a REAL, and integers up to 18 digits always fit in a
 * 64-bit INTEGER; anything wider, or of unknown precision, stays text so no digit is lost.
 */
export function decimalStorage(type: Extract<TargetType, { kind: 'decimal' }>): 'numeric' | 'text' {
  if (type.precision === undefined) return 'text';
  if ((type.scale ?? 0) === 0) return type.precision <= 18 ? 'numeric' : 'text';
  return type.precision <= 15 ? 'numeric' : 'text';
}

/** A native SQLite type kept as declared only when it is a plain type name (it is spliced into DDL). */
const PLAIN_TYPE = /^[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?$/;
const CONSTRAINT_WORD =
  /\b(PRIMARY|KEY|NOT|NULL|DEFAULT|CHECK|REFERENCES|COLLATE|GENERATED|AS|UNIQUE|CONSTRAINT)\b/i;

/**
 * The declared type of a target column, chosen so SQLite's affinity never changes a value:
 * text-like values get TEXT affinity (a '0101' bit string or a '123' JSON document stays text);
 * DATE, DATETIME, TIMESTAMPTZ and TIME get NUMERIC affinity, which leaves ISO text untouched;
 * booleans are 0/1 in a BOOLEAN (NUMERIC) column; bytes are BLOBs.
 */
export function sqliteTypeName(type: TargetType): string {
  switch (type.kind) {
    case 'boolean':
      return 'BOOLEAN';
    case 'int16':
    case 'int32':
    case 'int64':
      return 'INTEGER';
    case 'decimal':
      return decimalStorage(type) === 'numeric'
        ? `NUMERIC(${type.precision},${type.scale ?? 0})`
        : 'TEXT';
    case 'float32':
    case 'float64':
      return 'REAL';
    case 'varchar':
      return type.length !== undefined ? `VARCHAR(${type.length})` : 'TEXT';
    case 'char':
      return type.length !== undefined ? `CHARACTER(${type.length})` : 'TEXT';
    case 'bytes':
    case 'geometry':
      return 'BLOB';
    case 'date':
      return 'DATE';
    case 'timestamp':
      return 'DATETIME';
    case 'timestamptz':
      return 'TIMESTAMPTZ';
    case 'time':
      return 'TIME';
    case 'native':
      // The same dialect: the column keeps its declared type, hence its affinity ('' = none).
      if (
        type.dialect === 'sqlite' &&
        (type.type === '' || (PLAIN_TYPE.test(type.type) && !CONSTRAINT_WORD.test(type.type)))
      ) {
        return type.type;
      }
      return 'TEXT';
    case 'bits':
    case 'text':
    case 'json':
    case 'uuid':
    case 'interval':
    case 'text-array':
      return 'TEXT';
  }
}
