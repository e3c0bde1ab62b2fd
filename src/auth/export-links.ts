import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { FreightError } from '../domain/errors.js';

export interface ExportGrant {
  readonly jobId: string;
  readonly tenantId: string;
  readonly format: 'csv' | 'json' | 'jsonl';
  readonly status?: readonly string[];
  /** Expiry, seconds since the epoch. */
  readonly exp: number;
}

/**
 * Signed, expiring download links for log exports: the URL itself is the credential (HMAC-SHA256
 * over the grant), so a browser or an assistant can fetch it without headers. Anyone holding the
 * link can download until it expires; it names one job and one format.
 */
export class ExportLinks {
  private readonly key: Buffer;

  constructor(
    secret: string,
    private readonly ttlSeconds = 3600,
  ) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'freight', 'export-links', 32));
  }

  sign(grant: Omit<ExportGrant, 'exp'>): { token: string; expiresAt: string } {
    const exp = Math.floor(Date.now() / 1000) + this.ttlSeconds;
    const body = Buffer.from(JSON.stringify({ ...grant, exp })).toString('base64url');
    return { token: `${body}.${this.mac(body)}`, expiresAt: new Date(exp * 1000).toISOString() };
  }

  verify(token: string): ExportGrant {
    const [body, mac] = token.split('.');
    if (!body || !mac || mac.length !== 43)
      throw new FreightError('NOT_FOUND', 'this export link is not valid');
    const expected = Buffer.from(this.mac(body));
    if (!timingSafeEqual(expected, Buffer.from(mac)))
      throw new FreightError('NOT_FOUND', 'this export link is not valid');
    const grant = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as ExportGrant;
    if (grant.exp * 1000 < Date.now())
      throw new FreightError('NOT_FOUND', 'this export link has expired; ask for a new one');
    return grant;
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
