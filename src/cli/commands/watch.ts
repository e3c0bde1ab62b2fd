import type { Config } from '../../config/config.js';
import { FreightError } from '../../domain/errors.js';
import { formatDuration, formatInt, formatRate } from '../format.js';

interface JobView {
  status: string;
  error: { code: string; message: string } | null;
  progress: {
    rows_written: number;
    rows_failed: number;
    rows_planned: number;
    rows_estimated: number;
    planning_done: boolean;
    percent: number;
    rows_per_second: number | null;
    eta_seconds: number | null;
  };
}

/**
 * `freight jobs watch <job-id>`: follows a job through the API's event stream (SSE) and draws a
 * progress bar; prints the state changes; exits 0 when the job completed, 1 otherwise.
 */
export async function watch(config: Config, jobId: string): Promise<number> {
  const base = config.apiUrl ?? 'http://localhost:8000';
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (config.apiKey) headers.authorization = `Bearer ${config.apiKey}`;
  if (config.tenantId) headers['x-tenant-id'] = config.tenantId;
  let response: Response;
  try {
    response = await fetch(new URL(`/api/v1/jobs/${encodeURIComponent(jobId)}/events`, base), {
      headers,
    });
  } catch (error) {
    throw new FreightError(
      'UNAVAILABLE',
      `the Freight API at ${base} is unreachable (${(error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message})`,
    );
  }
  if (!response.ok || !response.body) {
    const body = (await response.json().catch(() => ({}))) as {
      error?: { code?: string; message?: string };
    };
    throw new FreightError(
      (body.error?.code as 'NOT_FOUND') ?? 'INTERNAL',
      body.error?.message ?? `HTTP ${response.status}`,
    );
  }
  const tty = process.stderr.isTTY;
  let last: JobView | null = null;
  let final = 'unknown';
  const draw = (view: JobView) => {
    const p = view.progress;
    const total = p.planning_done ? p.rows_planned : Math.max(p.rows_planned, p.rows_estimated);
    const width = 28;
    const filled = Math.round((Math.min(100, p.percent) / 100) * width);
    const line =
      `${view.status.padEnd(9)} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${p.percent.toFixed(0).padStart(3)}% ` +
      `${formatInt(p.rows_written + p.rows_failed)}/${p.planning_done ? '' : '~'}${formatInt(total)} rows  ${p.rows_per_second === null ? '-' : formatRate(p.rows_per_second)} rows/s  ETA ${p.eta_seconds === null ? '-' : formatDuration(p.eta_seconds * 1000)}`;
    process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const type = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (!type || !data) continue;
      const payload = JSON.parse(data) as Record<string, unknown>;
      if (type === 'progress') {
        last = payload as unknown as JobView;
        draw(last);
      } else if (type === 'status' && !tty) {
        process.stderr.write(`status: ${String(payload.status)}\n`);
      } else if (type === 'end') {
        final = String(payload.status);
      }
    }
  }
  if (tty) process.stderr.write('\n');
  const view = last as JobView | null;
  process.stdout.write(
    `job ${jobId}: ${final}${view?.error ? ` — ${view.error.code}: ${view.error.message}` : ''}\n`,
  );
  return final === 'completed' ? 0 : 1;
}
