#!/usr/bin/env node
// The `freight` command. The TypeScript sources are compiled to dist/ by `npm ci` (prepare).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('freight: dist/ is missing; run `npm ci` (or `npm run build`) first\n');
  process.exit(1);
}
await import(entry.href);
