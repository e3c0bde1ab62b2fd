import type { SourceType } from '../../domain/column-types.js';

/** information_schema.COLUMNS fields the type mapping reads. */
export interface MysqlColumnInfo {
  readonly dataType: string;
  readonly columnType: string;
  readonly charLength: number | null;
  readonly precision: number | null;
  readonly scale: number | null;
  readonly datetimePrecision: number | null;
  /** MariaDB stores JSON as LONGTEXT with a `json_valid(col)` CHECK. */
  readonly jsonCheck: boolean;
}

/**
 * MySQL/MariaDB column type → Freight source type (MYSQL_TO_POSTGRES.md). Integer sizes come from
 * the storage type, never from the display width; TINYINT(1) is only a *candidate* boolean — the
 * engine probes the data before deciding.
 */
export function mysqlSourceType(c: MysqlColumnInfo): SourceType {
  const type = c.dataType.toLowerCase();
  const full = c.columnType.toLowerCase();
  const unsigned = /\bunsigned\b/.test(full);
  switch (type) {
    case 'tinyint':
      return {
        kind: 'integer',
        bytes: 1,
        unsigned,
        ...(/^tinyint\(1\)/.test(full) ? { boolCandidate: true } : {}),
      };
    case 'bool':
    case 'boolean':
      return { kind: 'integer', bytes: 1, unsigned: false, boolCandidate: true };
    case 'smallint':
      return { kind: 'integer', bytes: 2, unsigned };
    case 'mediumint':
      return { kind: 'integer', bytes: 3, unsigned };
    case 'int':
    case 'integer':
      return { kind: 'integer', bytes: 4, unsigned };
    case 'bigint':
      return { kind: 'integer', bytes: 8, unsigned };
    case 'decimal':
    case 'numeric':
    case 'fixed':
      return { kind: 'decimal', precision: c.precision ?? 10, scale: c.scale ?? 0 };
    case 'float':
      return { kind: 'float', bytes: 4 };
    case 'double':
    case 'real':
    case 'double precision':
      return { kind: 'float', bytes: 8 };
    case 'bit':
      return { kind: 'bit', length: c.precision ?? bitLength(full) };
    case 'char':
      return { kind: 'char', length: c.charLength ?? 1 };
    case 'varchar':
      return { kind: 'varchar', length: c.charLength ?? 255 };
    case 'tinytext':
    case 'text':
    case 'mediumtext':
    case 'longtext':
      return c.jsonCheck ? { kind: 'json' } : { kind: 'text' };
    case 'json':
      return { kind: 'json', binary: true };
    case 'binary':
      return { kind: 'binary', length: c.charLength ?? 1, fixed: true };
    case 'varbinary':
      return { kind: 'binary', length: c.charLength ?? undefined };
    case 'tinyblob':
    case 'blob':
    case 'mediumblob':
    case 'longblob':
      return { kind: 'binary' };
    case 'enum':
      return { kind: 'enum', values: parseEnumValues(c.columnType) };
    case 'set':
      return { kind: 'set', values: parseEnumValues(c.columnType) };
    case 'date':
      return { kind: 'date' };
    case 'datetime':
      return { kind: 'datetime', precision: c.datetimePrecision ?? 0 };
    case 'timestamp':
      return { kind: 'timestamp', precision: c.datetimePrecision ?? 0 };
    case 'time':
      return { kind: 'time', precision: c.datetimePrecision ?? 0 };
    case 'year':
      return { kind: 'year' };
    case 'uuid':
      return { kind: 'uuid' };
    case 'geometry':
    case 'point':
    case 'linestring':
    case 'polygon':
    case 'multipoint':
    case 'multilinestring':
    case 'multipolygon':
    case 'geometrycollection':
    case 'geomcollection':
      return { kind: 'geometry', subtype: type };
    default:
      return { kind: 'native', dialect: 'mysql', type: full };
  }
}

function bitLength(full: string): number {
  const m = /bit\((\d+)\)/.exec(full);
  return m ? Number(m[1]) : 1;
}

/** `enum('a','it''s','b\\c')` → ['a', "it's", 'b\c'] (information_schema doubles quotes). */
export function parseEnumValues(columnType: string): string[] {
  const body = columnType.slice(columnType.indexOf('(') + 1, columnType.lastIndexOf(')'));
  const values: string[] = [];
  let i = 0;
  while (i < body.length) {
    if (body[i] !== "'") {
      i++;
      continue;
    }
    let value = '';
    i++;
    while (i < body.length) {
      const ch = body[i]!;
      if (ch === "'" && body[i + 1] === "'") {
        value += "'";
        i += 2;
      } else if (ch === '\\' && i + 1 < body.length) {
        value += body[i + 1];
        i += 2;
      } else if (ch === "'") {
        i++;
        break;
      } else {
        value += ch;
        i++;
      }
    }
    values.push(value);
  }
  return values;
}
