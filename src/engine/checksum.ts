import type { TargetType } from '../domain/column-types.js';
import { recordIdOf } from '../domain/keys.js';
import type { TablePlan } from './plan.js';
import type { Row } from './ports.js';

/**
 * An order-independent checksum of a table's canonical values: every row's canonical text is
 * hashed to 64 bits (two independent 32-bit lanes; not for security — a crypto hash per row was
 * the slowest part of validation) and the hashes summed modulo 2^64, so row order does not matter
 * and a duplicated row does not cancel out (as it would with XOR).
 *
 * Canonical text makes both sides comparable: `12.30` and `12.3`, `…00.500000` and `…00.5`,
 * `+00` and `+00:00`, and JSON key order and spacing compare equal; any real difference does not.
 */
export class TableChecksum {
  private lo = 0;
  private hi = 0;
  private count = 0;
  private readonly canon: Array<(v: unknown) => string>;

  constructor(types: readonly TargetType[]) {
    this.canon = types.map(canonicalizer);
  }

  add(rows: readonly Row[], skip?: (row: Row) => boolean): void {
    for (const row of rows) {
      if (skip?.(row)) continue;
      let text = '';
      for (let i = 0; i < this.canon.length; i++) {
        const v = row[i];
        text += v === null || v === undefined ? '\u0000N' : `\u0001${this.canon[i]!(v)}`;
      }
      const [h1, h2] = hash64(text);
      this.lo += h1;
      if (this.lo >= 0x100000000) {
        this.lo -= 0x100000000;
        this.hi += 1;
      }
      this.hi = (this.hi + h2) % 0x100000000;
      this.count++;
    }
  }

  value(): string {
    return `${this.count}:${this.hi.toString(16).padStart(8, '0')}${this.lo.toString(16).padStart(8, '0')}`;
  }
}

/** Two independent 32-bit hashes of a string (murmur3-style mixing of UTF-16 code units). */
export function hash64(text: string): [number, number] {
  let a = 0x9e3779b9 ^ text.length;
  let b = 0x85ebca6b ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0xcc9e2d51);
    a = (a << 15) | (a >>> 17);
    b = Math.imul(b ^ c, 0x1b873593);
    b = (b << 13) | (b >>> 19);
    b = Math.imul(b, 5) + 0xe6546b64;
  }
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  a = Math.imul(a ^ (a >>> 13), 0xc2b2ae35);
  a ^= a >>> 16;
  b = Math.imul(b ^ (b >>> 16), 0x7feb352d);
  b = Math.imul(b ^ (b >>> 15), 0x846ca68b);
  b ^= b >>> 16;
  return [a >>> 0, b >>> 0];
}

/** Skips rows whose record id is in `failed` (records that were never written). */
export function skipFailed(
  plan: TablePlan,
  failed: ReadonlySet<string>,
): ((row: Row) => boolean) | undefined {
  if (failed.size === 0 || plan.keyPositions.length === 0) return undefined;
  return (row) => failed.has(recordIdOf(plan.keyPositions.map((p) => row[p])));
}

export function canonicalizer(type: TargetType): (v: unknown) => string {
  switch (type.kind) {
    case 'boolean':
      return (v) => (v === true || v === 't' || v === 1 || v === '1' ? 't' : 'f');
    case 'int16':
    case 'int32':
    case 'int64':
    case 'decimal':
      return (v) => canonicalDecimal(String(v));
    case 'float32':
      return (v) => floatText(Math.fround(Number(v)));
    case 'float64':
      return (v) => floatText(Number(v));
    case 'bytes':
    case 'geometry':
      return (v) => (Buffer.isBuffer(v) ? v.toString('hex') : String(v));
    case 'timestamp':
    case 'time':
    case 'interval':
      return (v) => trimFraction(String(v));
    case 'timestamptz':
      return (v) => trimFraction(String(v).replace(/(\+00(:?00)?|Z)$/, ''));
    case 'uuid':
      return (v) => String(v).toLowerCase();
    case 'json':
      return (v) => canonicalJson(String(v));
    case 'text-array':
      return (v) => JSON.stringify(v);
    default:
      return (v) =>
        typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  }
}

function floatText(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}

function trimFraction(s: string): string {
  return s.replace(/\.(\d*?)0+(?=$|[+-])/, (_m, digits: string) => (digits ? `.${digits}` : ''));
}

/** `+012.3400` → `12.34`, `-0.0` → `0`, `1.5e3` → `1500`. */
export function canonicalDecimal(text: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!m) return text;
  const sign = m[1] === '-' ? '-' : '';
  let int = m[2] ?? '';
  let frac = m[3] ?? '';
  const exp = Number(m[4] ?? 0);
  if (exp > 0) {
    frac = frac.padEnd(exp, '0');
    int += frac.slice(0, exp);
    frac = frac.slice(exp);
  } else if (exp < 0) {
    int = int.padStart(-exp + 1, '0');
    frac = int.slice(int.length + exp) + frac;
    int = int.slice(0, int.length + exp);
  }
  int = int.replace(/^0+/, '') || '0';
  frac = frac.replace(/0+$/, '');
  const out = frac ? `${int}.${frac}` : int;
  return out === '0' ? '0' : sign + out;
}

/**
 * JSON with sorted keys (last duplicate wins, as in jsonb), no whitespace, numbers as canonical
 * decimals — parsed without JSON.parse, so big numbers keep every digit.
 */
export function canonicalJson(text: string): string {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.stringify(JSON.parse(text.slice(start, i)) as string);
  };
  const value = (): string => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      const entries = new Map<string, string>();
      ws();
      if (text[i] === '}') {
        i++;
        return '{}';
      }
      for (;;) {
        ws();
        const key = str();
        ws();
        i++; // :
        entries.set(key, value());
        ws();
        if (text[i++] === '}') break;
      }
      const keys = [...entries.keys()].sort();
      return `{${keys.map((k) => `${k}:${entries.get(k)}`).join(',')}}`;
    }
    if (ch === '[') {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return '[]';
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i++] === ']') break;
      }
      return `[${items.join(',')}]`;
    }
    if (ch === '"') return str();
    const m = /^(true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!m) throw new Error('invalid JSON');
    i += m[1]!.length;
    return /^[-\d]/.test(m[1]!) ? canonicalDecimal(m[1]!) : m[1]!;
  };
  try {
    return value();
  } catch {
    return text;
  }
}
