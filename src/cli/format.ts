/** Small formatting helpers for terminal output. */

export function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(3)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${(s - m * 60).toFixed(1)}s`;
}

export function formatRate(rowsPerSecond: number): string {
  if (!Number.isFinite(rowsPerSecond)) return '-';
  if (rowsPerSecond >= 10_000) return `${(rowsPerSecond / 1000).toFixed(0)}k`;
  if (rowsPerSecond >= 1000) return `${(rowsPerSecond / 1000).toFixed(1)}k`;
  return rowsPerSecond.toFixed(0);
}

export function pad(text: string, width: number, align: 'left' | 'right' = 'right'): string {
  const len = [...text].length;
  if (len >= width) return text;
  return align === 'right' ? ' '.repeat(width - len) + text : text + ' '.repeat(width - len);
}
