import { ZodError } from 'zod';
import { FreightError, isFreightError } from '../domain/errors.js';

/** Prints an error as one line that names the problem; the stack only with FREIGHT_DEBUG-like verbosity. */
export function reportError(error: unknown, verbose = false): number {
  if (isFreightError(error)) {
    process.stderr.write(`freight: ${error.code}: ${error.message}\n`);
  } else if (error instanceof ZodError) {
    const issue = error.issues[0];
    process.stderr.write(
      `freight: invalid input: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? error.message}\n`,
    );
  } else {
    process.stderr.write(
      `freight: unexpected error: ${(error as Error)?.message ?? String(error)}\n`,
    );
  }
  if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return error instanceof FreightError && error.code === 'CANCELLED' ? 130 : 1;
}
