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

/** The letter after the backslash by byte value, 0 for a byte that is copied as it is. */
const ESCAPE_LETTER = new Uint8Array(256);
ESCAPE_LETTER[0x5c] = 0x5c; // backslash
ESCAPE_LETTER[0x09] = 0x74; // tab: t
ESCAPE_LETTER[0x0a] = 0x6e; // newline: n
ESCAPE_LETTER[0x0d] = 0x72; // carriage return: r

/**
 * Writes UTF-8 text bytes COPY-escaped into `out` at `off` (room for 2 × `src.length` needed) and
 * returns the new offset. None of the four bytes occurs inside a multi-byte UTF-8 sequence, so
 * text is escaped byte by byte. A plain loop: measured faster than native searches plus copies,
 * whose per-call cost dominates on short values.
 */
export function putEscapedBytes(out: Buffer, off: number, src: Buffer): number {
  const n = src.length;
  let i = 0;
  for (; i < n; i++) {
    const b = src[i]!;
    if (ESCAPE_LETTER[b] !== 0) break;
    out[off + i] = b;
  }
  off += i;
  for (; i < n; i++) {
    const b = src[i]!;
    const letter = ESCAPE_LETTER[b]!;
    if (letter === 0) out[off++] = b;
    else {
      out[off++] = 0x5c;
      out[off++] = letter;
    }
  }
  return off;
}

/** Target kinds whose values may arrive as UTF-8 bytes (TargetCaps.textBytes). */
const TEXT_KINDS = new Set<TargetType['kind']>([
  'varchar',
  'char',
  'text',
  'json',
  'uuid',
  'native',
]);

/**
 * Encodes rows as COPY text into a Buffer, one UTF-8 write per run of string cells: no chunk-sized
 * string to flatten and re-encode, and far fewer native calls than a write per cell (measured:
 * about 30% less CPU than either). Text given as UTF-8 bytes is escaped and copied as bytes.
 */
export function compileRowEncoder(types: readonly TargetType[]): (rows: readonly Row[]) => Buffer {
  const encoders = types.map(cellEncoder);
  const bytesOk = types.map((t) => TEXT_KINDS.has(t.kind));
  const n = encoders.length;
  let estimate = 64 * 1024;
  return (rows) => {
    let buf = Buffer.allocUnsafe(estimate);
    let off = 0;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit; escaping at most doubles a byte.
    const room = (bytes: number) => {
      if (off + bytes <= buf.length) return;
      const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, off + bytes));
      buf.copy(bigger, 0, 0, off);
      buf = bigger;
    };
    for (const row of rows) {
      let line = '';
      for (let i = 0; i < n; i++) {
        const v = row[i];
        if (v === null || v === undefined) line += '\\N';
        else if (bytesOk[i] && Buffer.isBuffer(v)) {
          room(line.length * 3 + v.length * 2 + 1);
          if (line.length > 0) off += buf.write(line, off, 'utf8');
          line = '';
          off = putEscapedBytes(buf, off, v);
        } else line += encoders[i]!(v);
        if (line.length > 0) line += i === n - 1 ? '\n' : '\t';
        else {
          // After bytes (or an empty first cell) the separator goes straight into the buffer.
          room(1);
          buf[off++] = i === n - 1 ? 0x0a : 0x09;
        }
      }
      if (line.length > 0) {
        room(line.length * 3);
        off += buf.write(line, off, 'utf8');
      }
    }
    estimate = Math.max(estimate, Math.ceil(off * 1.25));
    return buf.subarray(0, off);
  };
}
