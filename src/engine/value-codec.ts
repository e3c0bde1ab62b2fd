import { daysInMonth, digitsAt } from '../domain/calendar.js';
import type { SourceType, TargetType } from '../domain/column-types.js';

/**
 * Canonical values and the converters between a source column and its target column.
 *
 * Canonical form, by target type kind — what a target writer receives:
 *
 *   boolean            boolean
 *   int16, int32       number (integer)
 *   int64, decimal     decimal string, or a safe-integer number
 *   float32, float64   number (NaN and ±Infinity allowed)
 *   bits               string of '0'/'1', exactly `length` long
 *   varchar, char,     string; or, where the target takes text as bytes (TargetCaps.textBytes),
 *   text, json, uuid,  a Buffer of its UTF-8 bytes: the source then need not decode it (ReadHints)
 *   native
 *   bytes, geometry    Buffer
 *   date               'YYYY-MM-DD'
 *   timestamp          'YYYY-MM-DD HH:MM:SS[.ffffff]'            (naive)
 *   timestamptz        'YYYY-MM-DD HH:MM:SS[.ffffff]+00:00'      (UTC)
 *   time               'HH:MM:SS[.ffffff]'
 *   interval           '[-]H…H:MM:SS[.ffffff]'
 *   text-array         string[]
 *
 * A converter either returns the value or a `ValueIssue`: `fail` drops the record (logged with
 * its key), `warn` writes `replacement` and logs the record as a warning — never a silent change.
 */
export class ValueIssue {
  constructor(
    readonly kind: 'fail' | 'warn',
    readonly message: string,
    readonly replacement: unknown = null,
  ) {}
}

export type Converter = (value: unknown) => unknown;

export interface ConverterContext {
  readonly column: string;
  /** The target can store U+0000 in text (SQLite yes, PostgreSQL no). */
  readonly textAllowsNul: boolean;
  /** The target column accepts NULL (a policy replacement with NULL needs it). */
  readonly nullable: boolean;
  /** The target writes text given as UTF-8 bytes (TargetCaps.textBytes): Buffers stay Buffers. */
  readonly textBytes?: boolean;
}

const ZERO_OR_PARTIAL_DATE = /^(\d{4})-(\d{2})-(\d{2})/;
const JSON_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

/** A converter from `source` to `target` values, or null when values pass through unchanged. */
export function compileConverter(
  source: SourceType,
  target: TargetType,
  ctx: ConverterContext,
): Converter | null {
  const fail = (message: string) => new ValueIssue('fail', `column ${ctx.column}: ${message}`);
  const nulled = (message: string) =>
    ctx.nullable
      ? new ValueIssue('warn', `column ${ctx.column}: ${message}, written as NULL (policy)`, null)
      : fail(`${message} and the column is NOT NULL`);
  const nulFailure = () => fail('text contains a NUL byte (U+0000), which the target cannot store');
  const noNul = (v: unknown): unknown => {
    if (ctx.textBytes && Buffer.isBuffer(v)) return v.includes(0) ? nulFailure() : v;
    const s = typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
    return s.includes('\0') ? nulFailure() : s;
  };
  const textual = ctx.textAllowsNul
    ? (v: unknown) =>
        typeof v === 'string'
          ? v
          : Buffer.isBuffer(v)
            ? ctx.textBytes
              ? v
              : v.toString('utf8')
            : String(v)
    : noNul;

  switch (target.kind) {
    case 'boolean':
      if (source.kind === 'boolean') return null;
      if (source.kind === 'bit') return (v) => bitBoolean(v, fail);
      return (v) => {
        if (v === 0 || v === '0' || v === false || v === 0n) return false;
        if (v === 1 || v === '1' || v === true || v === 1n) return true;
        return fail(`value ${String(v)} is not 0 or 1 and cannot become a boolean`);
      };
    case 'int16':
    case 'int32':
    case 'int64':
      if (source.kind === 'integer' || source.kind === 'year') return null;
      if (source.kind === 'boolean') return (v) => (v === true ? 1 : v === false ? 0 : v);
      return (v) => (isIntegerText(v) ? v : fail(`value ${preview(v)} is not an integer`));
    case 'decimal':
      if (source.kind === 'decimal' || source.kind === 'integer') {
        return (v) => (typeof v === 'number' ? numberToDecimal(v, fail) : v);
      }
      return (v) => {
        if (typeof v === 'number') return numberToDecimal(v, fail);
        return isDecimalText(v) ? v : fail(`value ${preview(v)} is not a decimal number`);
      };
    case 'float32':
    case 'float64':
      if (source.kind === 'float') return null;
      return (v) => {
        const n = typeof v === 'number' ? v : Number(v);
        return Number.isNaN(n) && String(v) !== 'NaN'
          ? fail(`value ${preview(v)} is not a number`)
          : n;
      };
    case 'bits':
      return (v) => toBits(v, target.length, fail);
    case 'native':
      // The same database on both sides: its own text form travels unchanged.
      if (source.kind === 'native' && source.dialect === target.dialect) return null;
      return textual;
    case 'varchar':
    case 'char':
    case 'text':
    case 'uuid':
      if (
        ctx.textAllowsNul &&
        (source.kind === 'varchar' || source.kind === 'char' || source.kind === 'text')
      )
        return null;
      if (source.kind === 'enum') return null;
      return textual;
    case 'json':
      return (v) => {
        if (ctx.textBytes && Buffer.isBuffer(v)) {
          // The escape is rare: only then is the text decoded to tell `\u0000` from `\\u0000`.
          if (!ctx.textAllowsNul && v.includes('\\u0000') && JSON_NUL.test(v.toString('utf8')))
            return fail('JSON contains \\u0000, which the target cannot store');
          return ctx.textAllowsNul ? v : noNul(v);
        }
        const s = typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
        if (!ctx.textAllowsNul && s.includes('\\u0000') && JSON_NUL.test(s)) {
          return fail('JSON contains \\u0000, which the target cannot store');
        }
        return ctx.textAllowsNul ? s : noNul(s);
      };
    case 'bytes':
    case 'geometry':
      return (v) =>
        Buffer.isBuffer(v)
          ? v
          : v instanceof Uint8Array
            ? Buffer.from(v)
            : Buffer.from(String(v), 'utf8');
    case 'text-array':
      return (v) => {
        if (Array.isArray(v)) return v.map(String);
        const s = String(v);
        return s === '' ? [] : s.split(',');
      };
    case 'date':
      return (v) => checkDate(String(v), 'date', nulled, fail);
    case 'timestamp':
      return (v) => checkDate(String(v), 'datetime', nulled, fail);
    case 'timestamptz':
      return (v) => {
        const checked = checkDate(String(v), 'timestamp', nulled, fail);
        if (typeof checked !== 'string') return checked;
        return /[+-]\d{2}(:?\d{2})?$|Z$/.test(checked) ? checked : `${checked}+00:00`;
      };
    case 'time':
      return (v) => {
        const s = String(v);
        return /^(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?$/.test(s)
          ? s
          : fail(`time ${s} is outside 00:00:00–23:59:59`);
      };
    case 'interval':
      return null;
  }
}

function preview(v: unknown): string {
  const s = Buffer.isBuffer(v) ? `0x${v.subarray(0, 16).toString('hex')}` : String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function isIntegerText(v: unknown): boolean {
  if (typeof v === 'number') return Number.isInteger(v);
  if (typeof v === 'bigint') return true;
  return typeof v === 'string' && /^[-+]?\d+$/.test(v);
}

function isDecimalText(v: unknown): boolean {
  return typeof v === 'string' && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v);
}

function numberToDecimal(n: number, fail: (m: string) => ValueIssue): unknown {
  if (!Number.isFinite(n)) return fail(`value ${n} cannot be stored as a decimal`);
  return Number.isSafeInteger(n) ? n : String(n);
}

function bitBoolean(v: unknown, fail: (m: string) => ValueIssue): unknown {
  if (Buffer.isBuffer(v)) {
    const x = v.reduce((acc, b) => acc | b, 0);
    if (
      v.length > 0 &&
      v.subarray(0, -1).every((b) => b === 0) &&
      (v.at(-1) === 0 || v.at(-1) === 1)
    )
      return x === 1;
    return fail(`bit value 0x${v.toString('hex')} is not 0 or 1`);
  }
  if (v === '0' || v === 0 || v === false) return false;
  if (v === '1' || v === 1 || v === true) return true;
  return fail(`bit value ${preview(v)} is not 0 or 1`);
}

function toBits(v: unknown, length: number, fail: (m: string) => ValueIssue): unknown {
  let bits: string;
  if (Buffer.isBuffer(v)) bits = [...v].map((b) => b.toString(2).padStart(8, '0')).join('');
  else if (typeof v === 'number' || typeof v === 'bigint') bits = BigInt(v).toString(2);
  else bits = String(v);
  if (!/^[01]*$/.test(bits)) return fail(`value ${preview(v)} is not a bit string`);
  if (bits.length > length) {
    const extra = bits.slice(0, bits.length - length);
    if (/1/.test(extra)) return fail(`bit value ${bits} is longer than bit(${length})`);
    bits = bits.slice(bits.length - length);
  }
  return bits.padStart(length, '0');
}

/**
 * MySQL zero dates ('0000-00-00'), partial dates ('2020-00-15') and invalid dates ('2020-02-30')
 * have no PostgreSQL value: NULL by policy, logged (MYSQL_TO_POSTGRES.md). The common case — a
 * well-formed date with a day up to 28 — is decided from character codes alone.
 */
function checkDate(
  s: string,
  what: 'date' | 'datetime' | 'timestamp',
  nulled: (m: string) => ValueIssue,
  fail: (m: string) => ValueIssue,
): unknown {
  // PostgreSQL's own special values travel to databases that accept them (a record error elsewhere).
  if (s === 'infinity' || s === '-infinity') return s;
  if (s.endsWith(' BC')) {
    const inner = checkDate(s.slice(0, -3), what, nulled, fail);
    return typeof inner === 'string' ? s : inner;
  }
  if (s.length >= 10 && s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45) {
    const year = digitsAt(s, 0, 4);
    const month = digitsAt(s, 5, 2);
    const day = digitsAt(s, 8, 2);
    if (year > 0 && month >= 1 && month <= 12 && day >= 1 && day <= 28) {
      if (s.length === 10 || (what !== 'date' && timeOk(s))) return s;
    }
  }
  const m = ZERO_OR_PARTIAL_DATE.exec(s);
  if (!m) return fail(`${what} ${preview(s)} is not in YYYY-MM-DD form`);
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (year === 0 && month === 0 && day === 0) return nulled(`zero ${what} '${s}'`);
  if (year === 0 || month === 0 || day === 0) return nulled(`partial ${what} '${s}'`);
  if (month > 12 || day > daysInMonth(year, month)) return nulled(`invalid ${what} '${s}'`);
  if (what !== 'date' && s.length > 10 && !timeOk(s))
    return fail(`${what} ${preview(s)} has an invalid time`);
  if (what === 'date' && s.length > 10) return fail(`date ${preview(s)} has extra characters`);
  return s;
}

/** ` HH:MM:SS[.ffffff][±HH[:MM]|Z]` after the date. */
function timeOk(s: string): boolean {
  if (s.charCodeAt(10) !== 32 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return false;
  const h = digitsAt(s, 11, 2);
  const mi = digitsAt(s, 14, 2);
  const se = digitsAt(s, 17, 2);
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59) return false;
  return s.length === 19 || /^(\.\d{1,6})?(?:[+-]\d{2}(?::?\d{2})?|Z)?$/.test(s.slice(19));
}

/** A row converter for a whole table: only the columns whose converter is not the identity run. */
export interface RowConversion {
  /** Converts rows in place; returns issues by row index (a failed row must not be written). */
  convert(rows: unknown[][]): RowIssues | null;
}

export interface RowIssues {
  /** Row index → issues (fail or warn) for that row. */
  readonly byRow: Map<number, ValueIssue[]>;
}

export function compileRowConversion(converters: ReadonlyArray<Converter | null>): RowConversion {
  const active = converters.flatMap((c, i) => (c ? [[i, c] as const] : []));
  if (active.length === 0) return { convert: () => null };
  return {
    convert(rows) {
      let issues: Map<number, ValueIssue[]> | null = null;
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r]!;
        for (const [i, convert] of active) {
          const v = row[i];
          if (v === null || v === undefined) continue;
          const out = convert(v);
          if (out instanceof ValueIssue) {
            issues ??= new Map();
            const list = issues.get(r);
            if (list) list.push(out);
            else issues.set(r, [out]);
            row[i] = out.replacement;
          } else {
            row[i] = out;
          }
        }
      }
      return issues ? { byRow: issues } : null;
    },
  };
}
