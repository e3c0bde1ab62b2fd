import { describe, expect, it } from 'vitest';
import {
  compileRowEncoder,
  escapeCopyText,
  putEscapedBytes,
} from '../../src/connectors/postgres/postgres-copy.js';
import type { TargetType } from '../../src/domain/column-types.js';

/**
 * COPY text with text given as UTF-8 bytes (TargetCaps.textBytes): the bytes are escaped exactly
 * as the string would have been, so a row encodes to the same bytes either way.
 */

const TRICKY = [
  '',
  'plain',
  '\\',
  'ends with \\',
  'tab\there',
  'new\nline',
  'cr\rlf\r\n',
  '\\N',
  '\\.',
  'first\n\\.\nlast',
  '😀 𝄞 \u{10FFFF} é ß 中文\t\\',
  '\u0001\u001b\u007f',
  'x'.repeat(70_000) + '\t' + 'y\\'.repeat(10_000),
];

describe('COPY text from UTF-8 bytes', () => {
  it('escapes bytes exactly as the string escaper', () => {
    for (const s of TRICKY) {
      const src = Buffer.from(s, 'utf8');
      const out = Buffer.alloc(src.length * 2);
      const end = putEscapedBytes(out, 0, src);
      expect(out.subarray(0, end).toString('utf8')).toBe(escapeCopyText(s));
    }
  });

  it('encodes rows with Buffer cells to the same bytes as with strings, growing its buffer', () => {
    const types: TargetType[] = [
      { kind: 'int64' },
      { kind: 'text' },
      { kind: 'varchar' },
      { kind: 'json' },
      { kind: 'bytes' },
    ];
    const rows = TRICKY.map((s, i) => [
      String(i),
      s,
      i % 3 === 0 ? null : s.slice(0, 10),
      i % 2 === 0 ? '{"a":"\\t"}' : null,
      Buffer.from([i, 9, 10]),
    ]);
    const asBytes = rows.map((r) =>
      r.map((v, i) => (typeof v === 'string' && i > 0 && i < 4 ? Buffer.from(v) : v)),
    );
    // Rows first cell empty after bytes: the separator must still be written.
    rows.push(['', '', null, null, null]);
    asBytes.push(['', Buffer.alloc(0), null, null, null]);
    const encode = compileRowEncoder(types);
    const expected = encode(rows);
    expect(encode(asBytes).equals(expected)).toBe(true);
    expect(expected.toString('utf8').split('\n')).toHaveLength(rows.length + 1);
  });
});
