import http from 'node:http';

/** One dispatched Server-Sent Event, as the WHATWG HTML spec (§9.2 "Server-sent events") defines it. */
export interface SseEvent {
  readonly type: string;
  readonly data: string;
  readonly lastEventId: string;
}

/**
 * An incremental parser of `text/event-stream` per the spec: lines end in CRLF, LF or CR; a line
 * starting with ':' is a comment; `field: value` (one leading space dropped from the value);
 * `data` lines accumulate, joined with '\n'; `event` sets the type (default "message"); `id`
 * sets the last event id (kept across events); `retry` is a reconnection time; an empty line
 * dispatches; an event with an empty data buffer is not dispatched.
 */
export class SseParser {
  private buffer = '';
  private pendingCr = false;
  private data = '';
  private type = '';
  lastEventId = '';
  retry: number | null = null;
  comments: string[] = [];

  constructor(private readonly onEvent: (event: SseEvent) => void) {}

  push(text: string): void {
    let start = 0;
    let input = text;
    if (this.pendingCr && input.startsWith('\n')) input = input.slice(1);
    this.pendingCr = false;
    for (let i = 0; i < input.length; i++) {
      const c = input[i];
      if (c !== '\n' && c !== '\r') continue;
      this.line(this.buffer + input.slice(start, i));
      this.buffer = '';
      if (c === '\r') {
        if (i + 1 === input.length) this.pendingCr = true;
        else if (input[i + 1] === '\n') i++;
      }
      start = i + 1;
    }
    this.buffer += input.slice(start);
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data === '') {
        this.type = '';
        return;
      }
      const data = this.data.endsWith('\n') ? this.data.slice(0, -1) : this.data;
      const event = { type: this.type || 'message', data, lastEventId: this.lastEventId };
      this.data = '';
      this.type = '';
      this.onEvent(event);
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data += `${value}\n`;
    else if (field === 'id') {
      if (!value.includes('\0')) this.lastEventId = value;
    } else if (field === 'retry') {
      if (/^\d+$/.test(value)) this.retry = Number(value);
    }
  }
}

export interface SseStream {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The body, for a refused request (not an event stream). */
  readonly body: string | null;
  readonly events: SseEvent[];
  /** When each event was dispatched (Date.now()), by index. */
  readonly times: number[];
  readonly parser: SseParser | null;
  /** Resolves when the server ends the stream (or the client closes it). */
  readonly ended: Promise<void>;
  /** Resolves with the first event (from now on, or already received) that matches. */
  next(match: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

/** Opens an event stream with node's http client, reading the body as it arrives. */
export function openSse(url: string, headers: Record<string, string>): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const status = res.statusCode ?? 0;
      const isStream =
        status === 200 && String(res.headers['content-type']).startsWith('text/event-stream');
      if (!isStream) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () =>
          resolve({
            status,
            headers: res.headers,
            body,
            events: [],
            times: [],
            parser: null,
            ended: Promise.resolve(),
            next: () => Promise.reject(new Error('not a stream')),
            close: () => {},
          }),
        );
        return;
      }
      const events: SseEvent[] = [];
      const times: number[] = [];
      const waiters: Array<{ match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }> =
        [];
      const parser = new SseParser((event) => {
        events.push(event);
        times.push(Date.now());
        for (const w of [...waiters]) {
          if (w.match(event)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(event);
          }
        }
      });
      const decoder = new TextDecoder('utf-8');
      res.on('data', (chunk: Buffer) => parser.push(decoder.decode(chunk, { stream: true })));
      const ended = new Promise<void>((done) => {
        res.on('end', () => done());
        res.on('close', () => done());
        res.on('error', () => done());
      });
      resolve({
        status,
        headers: res.headers,
        body: null,
        events,
        times,
        parser,
        ended,
        next(match, timeoutMs = 30_000) {
          const seen = events.find(match);
          if (seen) return Promise.resolve(seen);
          return new Promise((ok, fail) => {
            const timer = setTimeout(
              () =>
                fail(
                  new Error(
                    `no matching event within ${timeoutMs} ms; got ${events.map((e) => e.type).join(',')}`,
                  ),
                ),
              timeoutMs,
            );
            waiters.push({
              match,
              resolve: (e) => {
                clearTimeout(timer);
                ok(e);
              },
            });
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}
