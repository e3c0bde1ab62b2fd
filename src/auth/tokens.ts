import { hkdfSync } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { Role } from '../domain/access.js';
import { FreightError } from '../domain/errors.js';

const ISSUER = 'freight';
const AUDIENCE = 'freight-api';
const ALGORITHM = 'HS256';

export interface TokenClaims {
  readonly keyId: string;
  readonly tenantId: string;
  readonly role: Role;
  readonly expiresAt: string;
}

/**
 * JWTs for API clients that prefer short-lived tokens: HS256 with JWT_SECRET_KEY (or a key derived
 * from FREIGHT_SECRET_KEY), issuer `freight`, audience `freight-api`, lifetime TOKEN_EXPIRY_HOURS.
 * Verification accepts that algorithm only — `alg: none` and other algorithms are rejected.
 */
export class TokenService {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly expiryHours: number,
    derive: boolean,
  ) {
    this.key = derive
      ? new Uint8Array(hkdfSync('sha256', secret, 'freight', 'jwt-signing', 32))
      : new TextEncoder().encode(secret);
  }

  async issue(
    claims: Omit<TokenClaims, 'expiresAt'>,
  ): Promise<{ token: string; expiresAt: string }> {
    const exp = Math.floor(Date.now() / 1000 + this.expiryHours * 3600);
    const token = await new SignJWT({ tenant: claims.tenantId, role: claims.role })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(claims.keyId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  async verify(token: string): Promise<TokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['exp', 'sub'],
      });
      const role = payload.role;
      if (
        typeof payload.sub !== 'string' ||
        typeof payload.tenant !== 'string' ||
        (role !== 'viewer' && role !== 'engineer' && role !== 'admin')
      ) {
        throw new FreightError('UNAUTHENTICATED', 'the token is missing claims');
      }
      return {
        keyId: payload.sub,
        tenantId: payload.tenant,
        role,
        expiresAt: new Date((payload.exp ?? 0) * 1000).toISOString(),
      };
    } catch (error) {
      if (error instanceof FreightError) throw error;
      const reason =
        error instanceof joseErrors.JWTExpired ? 'the token has expired' : 'the token is not valid';
      throw new FreightError('UNAUTHENTICATED', reason);
    }
  }
}
