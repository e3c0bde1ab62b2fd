/** Removes every occurrence of the given secrets from a message (driver errors may echo them). */
export function scrub(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const secret of secrets) {
    if (secret.length >= 1) out = out.split(secret).join('********');
  }
  return out;
}
