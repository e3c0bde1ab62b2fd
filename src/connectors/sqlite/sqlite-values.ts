import type { SourceType, TargetType } from '../../domain/column-types.js';
import { FreightError } from '../../domain/errors.js';
import { canonicalDecimal } from '../../engine/checksum.js';
import type { Row } from '../../engine/ports.js';
import { decimalStorage } from './sqlite-type-map.js';

/**
 * Values between better-sqlite3 and Freight's canonical form (engine/value-codec.ts).
 *
 * Statements are read with `safeIntegers(true)`, so every INTEGER arrives as a BigInt and a
 * 64-bit value is never rounded through a double: it becomes a number when that is exact, else a
 * decimal string. REAL values are numbers, BLOBs Buffers, TEXT strings (NUL bytes included).
 * better-sqlite3 binds only numbers, strings, BigInts, Buffers and null, and binds NaN as NULL:
 * the encoders below turn canonical values into those without changing them.
 */

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INTEGER_TEXT = /^[-+]?\d+$/;
const SPECIAL_FLOATS = new Set(['NaN', 'Infinity', '-Infinity']);

/** Stored value → canonical value (non-null values only). */
export type Decoder = (v: unknown) => unknown;
/** Canonical value → bound value (non-null values only); may throw DATA_ERROR. */
export type Encoder = (v: unknown) => unknown;

/** A value as read → canonical: BigInt → number when exact, else its decimal string. */
export function fromSqlite(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v.toString();
  return v;
}

/** NaN and ±Infinity are stored as text in a REAL column (SQLite turns a NaN REAL into NULL). */
function fromFloat(v: unknown): unknown {
  if (typeof v === 'string' && SPECIAL_FLOATS.has(v)) return Number(v);
  return typeof v === 'bigint' ? Number(v) : v;
}

/** Source reads: what a column of this source type needs beyond `fromSqlite`. */
export function sourceDecoder(type: SourceType): Decoder {
  return type.kind === 'float' ? fromFloat : fromSqlite;
}

/** Target reads (checksums): stored values back to the canonical form of the column's type. */
export function targetDecoder(type: TargetType): Decoder {
  switch (type.kind) {
    case 'boolean':
      return (v) => (v === 1n ? true : v === 0n ? false : fromSqlite(v));
    case 'float32':
    case 'float64':
      return fromFloat;
    case 'decimal':
      return (v) => (typeof v === 'number' && !Number.isSafeInteger(v) ? String(v) : fromSqlite(v));
    case 'text-array':
      return (v) => {
        if (typeof v !== 'string') return fromSqlite(v);
        try {
          const parsed: unknown = JSON.parse(v);
          return Array.isArray(parsed) ? parsed.map((x) => (x === null ? null : String(x))) : v;
        } catch {
          return v;
        }
      };
    default:
      return fromSqlite;
  }
}

/** Converts a row in place with one decoder per column. */
export function decodeRow(row: Row, decoders: readonly Decoder[]): Row {
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (v !== null) row[i] = decoders[i]!(v);
  }
  return row;
}

/**
 * What every column does with JS values SQLite has no storage class for. better-sqlite3 binds
 * every number as a REAL, so an integer is bound as a BigInt: it stays an INTEGER in a column
 * without affinity and becomes '12', not '12.0', in a TEXT column.
 */
function common(v: unknown): unknown {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    return Number.isSafeInteger(v) && !Object.is(v, -0) ? BigInt(v) : v;
  }
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v);
  if (Array.isArray(v)) return JSON.stringify(v);
  return v;
}

/** An integer as text → BigInt (bound exactly); beyond 64 bits it would become a REAL: refused. */
function toInteger(v: unknown, column: string): unknown {
  if (typeof v === 'string' && INTEGER_TEXT.test(v)) {
    const n = BigInt(v);
    if (n < INT64_MIN || n > INT64_MAX) {
      throw new FreightError(
        'DATA_ERROR',
        `column ${column}: value ${v} does not fit in a 64-bit SQLite INTEGER`,
      );
    }
    return n;
  }
  return common(v);
}

/**
 * Target writes: canonical value → bound value for a column of this type. Throws DATA_ERROR for a
 * value SQLite would store inexactly (the row is then a record error, never a silent change).
 */
export function targetEncoder(type: TargetType, column: string): Encoder {
  switch (type.kind) {
    case 'int16':
    case 'int32':
    case 'int64':
      return (v) => toInteger(v, column);
    case 'decimal':
      if (decimalStorage(type) === 'text')
        return (v) => (typeof v === 'number' || typeof v === 'bigint' ? String(v) : common(v));
      return (type.scale ?? 0) === 0 ? (v) => toInteger(v, column) : common;
    case 'float32':
    case 'float64':
      return (v) => {
        if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : v;
        return typeof v === 'string' && SPECIAL_FLOATS.has(v) && v !== 'NaN'
          ? Number(v)
          : common(v);
      };
    default:
      return common;
  }
}

/** Key values bound in source range predicates: integers exactly, booleans as 0/1. */
export function sourceKeyEncoder(type: SourceType | undefined): Encoder {
  if (type?.kind === 'integer' || type?.kind === 'boolean')
    return (v) => (typeof v === 'string' && INTEGER_TEXT.test(v) ? BigInt(v) : common(v));
  return common;
}

/**
 * Exact comparison of two decimals (text or numbers), for key ranges over decimals stored as TEXT,
 * where SQLite would compare them as strings ('10' < '9').
 */
export function compareDecimals(a: unknown, b: unknown): number {
  const x = canonicalDecimal(String(fromSqlite(a)));
  const y = canonicalDecimal(String(fromSqlite(b)));
  if (x === y) return 0;
  const neg = x.startsWith('-');
  if (neg !== y.startsWith('-')) return neg ? -1 : 1;
  const [xi = '', xf = ''] = x.replace(/^-/, '').split('.');
  const [yi = '', yf = ''] = y.replace(/^-/, '').split('.');
  let c =
    xi.length !== yi.length ? Math.sign(xi.length - yi.length) : xi < yi ? -1 : xi > yi ? 1 : 0;
  if (c === 0) {
    const width = Math.max(xf.length, yf.length);
    const p = xf.padEnd(width, '0');
    const q = yf.padEnd(width, '0');
    c = p < q ? -1 : p > q ? 1 : 0;
  }
  return neg ? -c : c;
}
