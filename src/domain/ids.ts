import { randomUUID } from 'node:crypto';

/** Job ids are random UUIDs: unguessable, so a foreign tenant cannot enumerate them. */
export function newJobId(): string {
  return randomUUID();
}

/** A short random id for worker processes and requests. */
export function newShortId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
}
