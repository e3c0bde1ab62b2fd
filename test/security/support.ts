import { expect } from 'vitest';
import { expectNoStackTrace } from '../helpers/secrets.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** What the attack suites need of a response: inject()'s or fetch()'s, reduced to text. */
export interface Answer {
  readonly statusCode: number;
  readonly body: string;
  readonly headers: Record<string, unknown>;
}

/**
 * The one error shape (DESIGN.md §3, src/http/errors.ts): `{error: {code, message, details?},
 * request_id}` as JSON, the request id also in the X-Request-ID header, and nothing else — no
 * stack trace, no internal path. Returns the error for further checks.
 */
export function expectError(
  res: Answer,
  status: number | readonly number[],
  code?: string | RegExp,
  context = '',
  /** Strings the request carried: an error may quote them (an unknown route, an unknown key), so they are not held against it. */
  sent: readonly string[] = [],
): { code: string; message: string; details?: Record<string, any> } {
  const where = `${context} → ${res.statusCode} ${res.body.slice(0, 400)}`;
  if (typeof status === 'number') expect(res.statusCode, where).toBe(status);
  else expect(status, where).toContain(res.statusCode);
  expect(String(res.headers['content-type']), where).toMatch(/^application\/json/);
  let body: any;
  expect(() => (body = JSON.parse(res.body)), where).not.toThrow();
  expect(Object.keys(body).sort(), where).toEqual(['error', 'request_id']);
  expect(
    Object.keys(body.error).every((k) => ['code', 'message', 'details'].includes(k)),
    where,
  ).toBe(true);
  expect(body.error.code, where).toMatch(/^[A-Z_]+$/);
  expect(typeof body.error.message, where).toBe('string');
  expect(body.error.message.length, where).toBeGreaterThan(0);
  if (body.error.details !== undefined) expect(typeof body.error.details, where).toBe('object');
  expect(body.request_id, where).toBe(res.headers['x-request-id']);
  if (code !== undefined)
    expect(body.error.code, where).toMatch(
      typeof code === 'string' ? new RegExp(`^${code}$`) : code,
    );
  expectNoStackTrace(withoutEchoes(res.body, sent), where);
  return body.error;
}

export { sleep };

/** Polls until `check` returns something truthy. */
export function eventually<T>(
  check: () => Promise<T> | T,
  what: string,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<NonNullable<T>> {
  return waitFor(check, timeoutMs, what, everyMs);
}

/** `text` with every quoted occurrence of what the caller sent (as is, or JSON-escaped) blanked out. */
export function withoutEchoes(text: string, sent: readonly string[]): string {
  let out = text;
  for (const s of [...sent].filter((x) => x.length >= 4).sort((a, b) => b.length - a.length)) {
    out = out.replaceAll(s, '<sent>').replaceAll(JSON.stringify(s).slice(1, -1), '<sent>');
  }
  return out;
}
