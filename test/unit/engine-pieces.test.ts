import { describe, expect, it } from 'vitest';
import { decodeKey, encodeKey, recordIdOf } from '../../src/domain/keys.js';
import { canonicalDecimal, canonicalJson, TableChecksum } from '../../src/engine/checksum.js';
import { planIdentifiers, truncateBytes } from '../../src/engine/identifiers.js';
import type { TargetCaps } from '../../src/engine/ports.js';
import { backoffMs } from '../../src/engine/retry.js';
import { compileConverter, ValueIssue } from '../../src/engine/value-codec.js';

const pgCaps = {
  dialect: 'postgresql',
  maxIdentifierBytes: 63,
  foldIdentifiers: true,
} as TargetCaps;

describe('engine building blocks', () => {
  it('round-trips key tuples without losing big numbers or bytes', () => {
    const key = ['9007199254740993', 42, Buffer.from([0, 255]), 'a"b'];
    expect(decodeKey(encodeKey(key))).toEqual(key);
    expect(recordIdOf(['18446744073709551615'])).toBe('18446744073709551615');
    expect(recordIdOf(['a', 1])).toBe('["a",1]');
  });

  it('lower-cases identifiers when unique, keeps case otherwise, and fails on truncation collisions', () => {
    expect([...planIdentifiers(['UserName', 'Email'], pgCaps, 'columns').values()]).toEqual([
      'username',
      'email',
    ]);
    expect([...planIdentifiers(['Name', 'name'], pgCaps, 'columns').values()]).toEqual([
      'Name',
      'name',
    ]);
    const long = 'x'.repeat(70);
    expect(() => planIdentifiers([`${long}a`, `${long}b`], pgCaps, 'columns')).toThrow(
      /would both be named/,
    );
    expect(Buffer.byteLength(truncateBytes('é'.repeat(40), 63))).toBe(62);
  });

  it('backs off exponentially with jitter, capped', () => {
    expect(backoffMs(1, 200, 30_000, () => 0)).toBe(100);
    expect(backoffMs(3, 200, 30_000, () => 0.999)).toBeLessThanOrEqual(800);
    expect(backoffMs(20, 200, 30_000, () => 0.999)).toBeLessThanOrEqual(30_000);
  });

  it('canonicalizes decimals and JSON so equal values compare equal and different ones do not', () => {
    expect(canonicalDecimal('+0012.3400')).toBe('12.34');
    expect(canonicalDecimal('-0.000')).toBe('0');
    expect(canonicalDecimal('1.5e3')).toBe('1500');
    expect(canonicalDecimal('12e-3')).toBe('0.012');
    expect(canonicalJson('{"b": [1, 2.50], "a": {"y": null, "x": "é\\u00e9"}}')).toBe(
      '{"a":{"x":"éé","y":null},"b":[1,2.5]}',
    );
    expect(canonicalJson('{"n": 12345678901234567890}')).toBe('{"n":12345678901234567890}');
    expect(canonicalJson('{"a":1,"a":2}')).toBe('{"a":2}');
  });

  it('computes an order-independent checksum that sees duplicates', () => {
    const types = [{ kind: 'int64' }, { kind: 'text' }] as const;
    const a = new TableChecksum(types);
    a.add([
      [1, 'x'],
      [2, 'y'],
    ]);
    const b = new TableChecksum(types);
    b.add([
      [2, 'y'],
      ['1', 'x'],
    ]);
    expect(a.value()).toBe(b.value());
    const c = new TableChecksum(types);
    c.add([
      [1, 'x'],
      [2, 'y'],
      [2, 'y'],
    ]);
    expect(c.value()).not.toBe(a.value());
  });

  it('never changes a value silently when converting', () => {
    const ctx = { column: 'c', textAllowsNul: false, nullable: true };
    const toBool = compileConverter(
      { kind: 'integer', bytes: 1, unsigned: false, boolCandidate: true },
      { kind: 'boolean' },
      ctx,
    )!;
    expect(toBool(1)).toBe(true);
    expect(toBool(2)).toBeInstanceOf(ValueIssue);
    const toDate = compileConverter({ kind: 'date' }, { kind: 'date' }, ctx)!;
    expect(toDate('2024-02-29')).toBe('2024-02-29');
    expect((toDate('2023-02-29') as ValueIssue).kind).toBe('warn');
    expect((toDate('0000-00-00') as ValueIssue).replacement).toBeNull();
    const notNull = compileConverter(
      { kind: 'date' },
      { kind: 'date' },
      { ...ctx, nullable: false },
    )!;
    expect((notNull('0000-00-00') as ValueIssue).kind).toBe('fail');
    const text = compileConverter({ kind: 'varchar', length: 5 }, { kind: 'text' }, ctx)!;
    expect((text('a\0b') as ValueIssue).kind).toBe('fail');
    const json = compileConverter({ kind: 'json' }, { kind: 'json' }, ctx)!;
    expect(json('{"a":"\\\\u0000"}')).toBe('{"a":"\\\\u0000"}');
    expect(json('{"a":"\\u0000"}')).toBeInstanceOf(ValueIssue);
    const bits = compileConverter({ kind: 'bit', length: 10 }, { kind: 'bits', length: 10 }, ctx)!;
    expect(bits(Buffer.from([0, 5]))).toBe('0000000101');
    // Text read as UTF-8 bytes (TargetCaps.textBytes) stays bytes, with the same checks.
    const bytesCtx = { ...ctx, textBytes: true };
    const textBytes = compileConverter({ kind: 'text' }, { kind: 'text' }, bytesCtx)!;
    const plain = Buffer.from('é\tx');
    expect(textBytes(plain)).toBe(plain);
    expect((textBytes(Buffer.from('a\0b')) as ValueIssue).message).toMatch(/NUL byte/);
    const jsonBytes = compileConverter({ kind: 'json' }, { kind: 'json' }, bytesCtx)!;
    const escaped = Buffer.from('{"a":"\\\\u0000"}');
    expect(jsonBytes(escaped)).toBe(escaped);
    expect(jsonBytes(Buffer.from('{"a":"\\u0000"}'))).toBeInstanceOf(ValueIssue);
    // Without textBytes a Buffer becomes its text, as before.
    expect(text(Buffer.from('abc'))).toBe('abc');
    const tz = compileConverter({ kind: 'timestamp' }, { kind: 'timestamptz' }, ctx)!;
    expect(tz('2020-01-01 10:00:00.5')).toBe('2020-01-01 10:00:00.5+00:00');
  });
});
