import type { JobEvent } from '../engine/events.js';
import { formatDuration, formatInt, formatRate } from './format.js';

interface TableProgress {
  estimated: number;
  planned: number;
  plannedDone: boolean;
  written: number;
  failed: number;
}

/**
 * A live progress bar on stderr, fed by the runner's events: rows done of rows planned (estimated
 * until planning ends), rate over the last seconds, ETA. Without a terminal it prints a line per
 * table event and every few seconds instead of redrawing.
 */
export class ProgressBar {
  private readonly tables = new Map<string, TableProgress>();
  private readonly started = Date.now();
  private readonly samples: Array<[number, number]> = [];
  private timer: NodeJS.Timeout | null = null;
  private lastLine = 0;
  private status = 'pending';
  private retries = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly enabled = true,
  ) {}

  get tty(): boolean {
    return Boolean(this.stream.isTTY);
  }

  start(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => this.render(), this.tty ? 100 : 5000);
    this.timer.unref();
  }

  onEvent = (event: JobEvent): void => {
    switch (event.type) {
      case 'status':
        this.status = event.status;
        break;
      case 'table-prepared':
        this.tables.set(event.table, {
          estimated: event.estimatedRows,
          planned: 0,
          plannedDone: false,
          written: 0,
          failed: 0,
        });
        this.line(
          `table ${event.table} → ${event.target}${event.created ? ' (created)' : ' (existing)'}`,
        );
        break;
      case 'table-planned': {
        const t = this.table(event.table);
        t.planned = event.plannedRows;
        t.plannedDone = event.done;
        if (event.done)
          this.line(
            `planned ${event.table}: ${formatInt(event.plannedRows)} rows in ${formatInt(event.batches)} batches`,
          );
        break;
      }
      case 'batch-finished': {
        const t = this.table(event.table);
        if (event.status === 'retrying') {
          this.retries++;
          this.line(
            `batch ${event.batchId} of ${event.table} will be retried: ${event.error ?? ''}`,
          );
        }
        t.written += event.rowsWritten;
        t.failed += event.rowsFailed;
        if (event.status === 'failed' && event.error)
          this.line(`batch ${event.batchId} of ${event.table} failed: ${event.error}`);
        break;
      }
      case 'table-finalized':
        this.line(
          `indexes and constraints of ${event.table} built${event.failed ? ` (${event.failed} failed)` : ''}`,
        );
        break;
      case 'table-validated':
        this.line(
          `validated ${event.table}: source ${formatInt(event.sourceRows)}, target ${formatInt(event.targetRows)} rows ${event.passed ? '✓' : '✗'}`,
        );
        break;
      case 'log':
        this.line(`${event.level}: ${event.message}`);
        break;
    }
  };

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.enabled && this.tty) this.stream.write('\r\x1b[K');
  }

  private table(name: string): TableProgress {
    let t = this.tables.get(name);
    if (!t) {
      t = { estimated: 0, planned: 0, plannedDone: false, written: 0, failed: 0 };
      this.tables.set(name, t);
    }
    return t;
  }

  private line(text: string): void {
    if (!this.enabled) return;
    if (this.tty) this.stream.write(`\r\x1b[K${text}\n`);
    else this.stream.write(`${text}\n`);
    this.render(true);
  }

  private render(afterLine = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    let done = 0;
    let total = 0;
    let exact = true;
    for (const t of this.tables.values()) {
      done += t.written + t.failed;
      total += t.plannedDone ? t.planned : Math.max(t.planned, t.estimated);
      exact &&= t.plannedDone;
    }
    this.samples.push([now, done]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 5000) this.samples.shift();
    const [t0, d0] = this.samples[0]!;
    const rate = now > t0 ? ((done - d0) * 1000) / (now - t0) : 0;
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const eta = rate > 0 && total > done ? formatDuration(((total - done) / rate) * 1000) : '-';
    const width = 28;
    const filled = Math.round(fraction * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const text =
      `${this.status.padEnd(9)} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ` +
      `${formatInt(done)}/${exact ? '' : '~'}${formatInt(total)} rows  ${formatRate(rate)} rows/s  ETA ${eta}` +
      `  ${formatDuration(now - this.started)}${this.retries ? `  retries ${this.retries}` : ''}`;
    if (this.tty) this.stream.write(`\r\x1b[K${text}`);
    else if (!afterLine && now - this.lastLine >= 4900) {
      this.stream.write(`${text}\n`);
      this.lastLine = now;
    }
  }
}
