import type { TargetType } from '../../domain/column-types.js';
import type { Row } from '../../engine/ports.js';

/**
 * COPY text format (MYSQL_TO_POSTGRES.md, "Writing with COPY"): columns separated by tab, rows by
 * newline, NULL as `\N`; backslash, tab, newline and carriage return escaped. A literal `\N` string
 * becomes `\\N` and a `\.` line `\\.`, so neither is mistaken for NULL or end of data.
 */

const NEEDS_ESCAPE = /[\\\t\n\r]/;
const BACKSLASH = /\\/g;
const TAB = /\t/g;
const LF = /\n/g;
const CR = /\r/g;

export function escapeCopyText(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(BACKSLASH, '\\\\').replace(TAB, '\\t').replace(LF, '\\n').replace(CR, '\\r');
}

/** The type's text input form (what a literal or COPY carries, before COPY escaping). */
export type TextForm = (value: unknown) => string;

export function textForm(type: TargetType): TextForm {
  switch (type.kind) {
    case 'boolean':
      return (v) => (v === true || v === 't' || v === 'true' || v === 1 ? 't' : 'f');
    case 'bytes':
      return (v) => `\\x${(Buffer.isBuffer(v) ? v : Buffer.from(String(v))).toString('hex')}`;
    case 'geometry':
      return (v) => (Buffer.isBuffer(v) ? v.toString('hex') : String(v));
    case 'text-array':
      return (v) => pgArrayLiteral(v as unknown[]);
    default:
      return (v) => (typeof v === 'string' ? v : String(v));
  }
}

function pgArrayLiteral(values: readonly unknown[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${String(v).replace(/["\\]/g, '\\$&')}"`)).join(',')}}`;
}

/** A COPY cell encoder per column: numbers and booleans skip escaping (they cannot need it). */
export type CellEncoder = (value: unknown) => string;

export function cellEncoder(type: TargetType): CellEncoder {
  switch (type.kind) {
    case 'int16':
    case 'int32':
    case 'int64':
    case 'decimal':
      return (v) => (typeof v === 'number' ? String(v) : escapeCopyText(String(v)));
    case 'float32':
    case 'float64':
      // String(-0) is '0': keep the sign of negative zero.
      return (v) =>
        typeof v === 'number' ? (Object.is(v, -0) ? '-0' : String(v)) : escapeCopyText(String(v));
    case 'boolean':
      return (v) => (v === true ? 't' : v === false ? 'f' : escapeCopyText(textForm(type)(v)));
    case 'bytes':
      return (v) => `\\\\x${(Buffer.isBuffer(v) ? v : Buffer.from(String(v))).toString('hex')}`;
    default: {
      const form = textForm(type);
      return (v) => escapeCopyText(typeof v === 'string' ? v : form(v));
    }
  }
}

/**
 * Encodes rows as COPY text into a Buffer, one UTF-8 write per row: no chunk-sized string to
 * flatten and re-encode, and ten times fewer native calls than a write per cell (measured: about
 * 30% less CPU than either).
 */
export function compileRowEncoder(types: readonly TargetType[]): (rows: readonly Row[]) => Buffer {
  const encoders = types.map(cellEncoder);
  const n = encoders.length;
  let estimate = 64 * 1024;
  return (rows) => {
    let buf = Buffer.allocUnsafe(estimate);
    let off = 0;
    for (const row of rows) {
      let line = '';
      for (let i = 0; i < n; i++) {
        const v = row[i];
        line += v === null || v === undefined ? '\\N' : encoders[i]!(v);
        line += i === n - 1 ? '\n' : '\t';
      }
      // UTF-8 takes at most 3 bytes per UTF-16 code unit.
      if (off + line.length * 3 > buf.length) {
        const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, off + line.length * 3));
        buf.copy(bigger, 0, 0, off);
        buf = bigger;
      }
      off += buf.write(line, off, 'utf8');
    }
    estimate = Math.max(estimate, Math.ceil(off * 1.25));
    return buf.subarray(0, off);
  };
}
