import { Transform, type TransformCallback } from 'node:stream';
import { FreightError } from '../../domain/errors.js';

/**
 * Passes bytes through unchanged and fails on the first invalid UTF-8 sequence, naming its line.
 * Without it the decoder would turn a Latin-1 `é` into U+FFFD — a silent change of the value.
 * Validation is the native decoder's (fast); the slow scan runs only to locate an error.
 */
export class Utf8Check extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private line = 1;

  constructor(private readonly file: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.decoder.decode(chunk, { stream: true });
    } catch {
      callback(this.invalid(this.line + countLines(chunk, firstInvalid(chunk))));
      return;
    }
    this.line += countLines(chunk, chunk.length);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.decoder.decode();
      callback();
    } catch {
      callback(this.invalid(this.line));
    }
  }

  private invalid(line: number): FreightError {
    return new FreightError(
      'SCHEMA_CONFLICT',
      `csv file ${this.file}: line ${line}: not valid UTF-8 (convert the file to UTF-8 first, e.g. iconv -f latin1 -t utf-8)`,
      { details: { file: this.file, line } },
    );
  }
}

function countLines(chunk: Buffer, end: number): number {
  let n = 0;
  for (let i = chunk.indexOf(10); i >= 0 && i < end; i = chunk.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * Offset of the first byte that cannot start or continue a UTF-8 sequence here. Continuation
 * bytes at the very start may complete a sequence begun in the previous chunk and are skipped.
 */
function firstInvalid(chunk: Buffer): number {
  let i = 0;
  while (i < 3 && i < chunk.length && (chunk[i]! & 0xc0) === 0x80) i++;
  while (i < chunk.length) {
    const b = chunk[i]!;
    const size =
      b < 0x80
        ? 1
        : b >= 0xc2 && b < 0xe0
          ? 2
          : b >= 0xe0 && b < 0xf0
            ? 3
            : b >= 0xf0 && b < 0xf5
              ? 4
              : 0;
    if (size === 0) return i;
    if (i + size > chunk.length) return i;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(chunk.subarray(i, i + size));
    } catch {
      return i;
    }
    i += size;
  }
  return chunk.length;
}
