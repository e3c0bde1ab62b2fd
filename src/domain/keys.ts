/**
 * Key tuples as stored text (batch ranges, plan cursors, record ids). Values stay in canonical
 * form: big integers and decimals are strings, so nothing passes through a lossy JS number;
 * bytes are tagged base64 so a binary key survives the round trip.
 */

type Json = null | boolean | number | string | { $bytes: string } | { $number: string } | Json[];

function toJson(value: unknown): Json {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array)
    return { $bytes: Buffer.from(value).toString('base64') };
  if (typeof value === 'bigint') return value.toString();
  // NaN and ±Infinity have no JSON form: tagged, so a float key bound survives the round trip.
  if (typeof value === 'number' && !Number.isFinite(value)) return { $number: String(value) };
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean')
    return value;
  if (Array.isArray(value)) return value.map(toJson);
  return String(value);
}

function fromJson(value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && '$bytes' in value) {
    return Buffer.from(String((value as { $bytes: string }).$bytes), 'base64');
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && '$number' in value) {
    return Number((value as { $number: string }).$number);
  }
  if (Array.isArray(value)) return value.map(fromJson);
  return value;
}

export function encodeKey(tuple: readonly unknown[]): string {
  return JSON.stringify(tuple.map(toJson));
}

export function decodeKey(text: string): unknown[] {
  return (JSON.parse(text) as unknown[]).map(fromJson);
}

/** How a record is named in logs: the bare value for one-column keys, a JSON array otherwise. */
export function recordIdOf(tuple: readonly unknown[]): string {
  if (tuple.length === 1) {
    const v = toJson(tuple[0]);
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  }
  return JSON.stringify(tuple.map(toJson));
}

/** `[lo, hi)` in words, for per-batch log lines. */
export function describeRange(
  lo: readonly unknown[] | null,
  hi: readonly unknown[] | null,
): string {
  const side = (k: readonly unknown[] | null, open: string) => (k === null ? open : recordIdOf(k));
  return `[${side(lo, '-∞')}, ${side(hi, '+∞')})`;
}
