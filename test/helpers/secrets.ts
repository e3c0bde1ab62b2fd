import { expect } from 'vitest';

/**
 * Planted secrets and the forms they could leak in. A password can surface as itself, percent-
 * encoded (from a URL-form config), or base64/base64url/hex-encoded (a serialized buffer, a
 * Basic auth header, a careless debug dump); each form of each secret is looked for.
 */
export function forbiddenForms(
  secrets: readonly string[],
  fragments: readonly string[] = [],
): string[] {
  const forms = secrets.flatMap((s) => [
    s,
    encodeURIComponent(s),
    Buffer.from(s).toString('base64'),
    Buffer.from(s).toString('base64url'),
    Buffer.from(s).toString('hex'),
  ]);
  return [...new Set([...forms, ...fragments])];
}

/** Fails naming where the secret was found, with the text around it. */
export function expectNoSecret(text: string, where: string, forbidden: readonly string[]): void {
  for (const secret of forbidden) {
    const at = text.indexOf(secret);
    expect(
      at < 0,
      `${where} contains ${secret}: …${text.slice(Math.max(0, at - 200), at + 100)}…`,
    ).toBe(true);
  }
}

/** What a leaked stack trace or internal path looks like in a response. */
export const STACK_TRACE_PATTERNS: readonly RegExp[] = [
  /\n\s*at [^\n]+[(:]/, // a V8 stack frame ("    at fn (file:line:col)")
  /\bat (?:async )?[\w$.<>]+ \((?:file:\/\/|\/|node:)/, // a frame, even inside a JSON string
  /\/work\//,
  /node_modules/,
  /file:\/\//,
  /\b(?:Type|Reference|Syntax|Range|URI)?Error: [^\n"]*\\n\s*at /, // an error with its stack, escaped in JSON
  /\.(?:ts|js|mjs):\d+:\d+/, // file:line:column
];

export function expectNoStackTrace(text: string, where: string): void {
  for (const pattern of STACK_TRACE_PATTERNS) {
    const m = pattern.exec(text);
    expect(
      m,
      `${where} looks like it carries a stack trace or an internal path (${pattern}): …${m ? text.slice(Math.max(0, m.index - 100), m.index + 200) : ''}…`,
    ).toBeNull();
  }
}
