import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { BIN, REPO } from '../helpers/cli.js';
import { eventually } from './support.js';

/**
 * `freight` child processes for the distributed-mode suites: everything they print is kept (the
 * planted-secret test reads every line), and they are stopped by their own pid.
 */
export class FreightProcess {
  readonly child: ChildProcess;
  private out = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string>,
  ) {
    if (!existsSync(path.join(REPO, 'dist/cli/main.js')))
      throw new Error('dist/ is missing: run `npm run build` first');
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve();
      }),
    );
  }

  /** Everything it printed on stdout and stderr so far. */
  output(): string {
    return this.out;
  }

  /** Waits for a line matching `pattern`; fails with the output if the process exits first. */
  async waitFor(pattern: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpExecArray> {
    const m = await eventually(
      () => pattern.exec(this.out) ?? (this.exitInfo ? ('exited' as const) : null),
      `${this.name}: ${what}`,
      timeoutMs,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${this.out}`);
    });
    if (m === 'exited')
      throw new Error(
        `${this.name} exited (${JSON.stringify(this.exitInfo)}) before ${what}:\n${this.out}`,
      );
    return m;
  }

  /** SIGTERM (graceful), then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exitInfo) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A TCP port nobody listens on right now (for METRICS_PORT, which cannot be 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}
