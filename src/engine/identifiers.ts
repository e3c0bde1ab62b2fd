import { FreightError } from '../domain/errors.js';
import type { TargetCaps } from './ports.js';

/**
 * Target identifiers (MYSQL_TO_POSTGRES.md): lower-cased when that keeps them unique, truncated to
 * the target's byte limit on a character boundary; a collision after either fails the plan with a
 * message naming both originals. Quoting (reserved words included) is each target's job.
 */
export function planIdentifiers(
  names: readonly string[],
  caps: TargetCaps,
  what: string,
): Map<string, string> {
  const folded = caps.foldIdentifiers ? names.map((n) => n.toLowerCase()) : [...names];
  const foldable = new Set(folded).size === names.length;
  const out = new Map<string, string>();
  const seen = new Map<string, string>();
  names.forEach((name, i) => {
    const target = truncateBytes(foldable ? folded[i]! : name, caps.maxIdentifierBytes);
    const clash = seen.get(target);
    if (clash !== undefined) {
      throw new FreightError(
        'SCHEMA_CONFLICT',
        `${what} "${clash}" and "${name}" would both be named "${target}" on the target (after lower-casing or truncation to ${caps.maxIdentifierBytes} bytes); rename one`,
      );
    }
    seen.set(target, name);
    out.set(name, target);
  });
  return out;
}

/** Cuts `text` to at most `limit` UTF-8 bytes without splitting a character. */
export function truncateBytes(text: string, limit: number): string {
  if (Buffer.byteLength(text) <= limit) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (bytes + size > limit) break;
    out += ch;
    bytes += size;
  }
  return out;
}

/** A generated name (index, constraint) unique within `taken`, within the byte limit. */
export function uniqueName(base: string, taken: Set<string>, limit: number): string {
  let name = truncateBytes(base, limit);
  for (let i = 2; taken.has(name); i++) {
    const suffix = `_${i}`;
    name = truncateBytes(base, limit - suffix.length) + suffix;
  }
  taken.add(name);
  return name;
}
