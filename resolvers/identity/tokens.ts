import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { UnauthenticatedError } from '../errors';
import type { AuthContext, TokenScope } from './auth-context';
import type { RevocationCache } from './revocation-cache';

/** Claims carried in a Stratus token (a JWT signed with HS256). */
interface TokenClaims {
  sub: string;
  jti: string;
  iat: number;
  exp: number;
  /** User's domain. */
  dom: string;
  scp: TokenScope;
  rol: string[];
  amr: AuthContext['method'];
  acr: string | null;
}

const CACHE_LIMIT = 20_000;

/**
 * Issues and validates tokens. A token is verified by HMAC once, then remembered until it
 * expires; every use still goes through the revocation cache, so a revocation applies at once.
 */
export class TokenService {
  /** Imported once: jose re-imports a raw key on every call, which doubles a cold verify. */
  private readonly key: Promise<CryptoKey>;
  private readonly verified = new Map<string, AuthContext>();

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
    private readonly revocations: RevocationCache,
  ) {
    this.key = crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
  }

  /** Signs a new token; returns it with the context it proves. */
  async issue(
    fields: Omit<AuthContext, 'tokenId' | 'issuedAt' | 'expiresAt'>,
    ttlSeconds = this.ttlSeconds,
  ): Promise<{ token: string; auth: AuthContext }> {
    // Millisecond issue times keep "issued before the revocation" exact; JWT iat is seconds.
    const issuedAtMs = Date.now();
    const auth: AuthContext = {
      ...fields,
      tokenId: randomUUID(),
      issuedAt: new Date(issuedAtMs),
      expiresAt: new Date(issuedAtMs + ttlSeconds * 1000),
    };
    const token = await new SignJWT({
      dom: auth.domainId,
      scp: auth.scope,
      rol: auth.roles,
      amr: auth.method,
      acr: auth.applicationCredentialId,
      iatms: issuedAtMs,
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(auth.userId)
      .setJti(auth.tokenId)
      .setIssuedAt(Math.floor(issuedAtMs / 1000))
      .setExpirationTime(Math.floor(auth.expiresAt.getTime() / 1000))
      .sign(await this.key);
    return { token, auth };
  }

  /** Returns who the token proves, or throws UnauthenticatedError saying why it is not valid. */
  async validate(token: string): Promise<AuthContext> {
    let auth = this.verified.get(token);
    if (!auth) {
      auth = await this.verify(token);
      if (this.verified.size >= CACHE_LIMIT) this.evictExpired();
      if (this.verified.size < CACHE_LIMIT) this.verified.set(token, auth);
    }
    if (auth.expiresAt.getTime() <= Date.now()) {
      this.verified.delete(token);
      throw new UnauthenticatedError('The token has expired');
    }
    if (this.isRevoked(auth)) throw new UnauthenticatedError('The token has been revoked');
    return auth;
  }

  /** Whether a token already validated has been revoked since (for open subscriptions). */
  isRevoked(auth: AuthContext): boolean {
    return this.revocations.isRevoked({
      tokenId: auth.tokenId,
      userId: auth.userId,
      projectId: auth.scope.kind === 'project' ? auth.scope.projectId : null,
      applicationCredentialId: auth.applicationCredentialId,
      issuedAt: auth.issuedAt.getTime(),
    });
  }

  private async verify(token: string): Promise<AuthContext> {
    let claims: TokenClaims & { iatms?: number };
    try {
      const { payload } = await jwtVerify(token, await this.key, { algorithms: ['HS256'] });
      claims = payload as unknown as TokenClaims & { iatms?: number };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        throw new UnauthenticatedError('The token has expired');
      }
      throw new UnauthenticatedError('The token is malformed or its signature is not valid');
    }
    return {
      tokenId: claims.jti,
      userId: claims.sub,
      domainId: claims.dom,
      scope: claims.scp,
      roles: claims.rol,
      issuedAt: new Date(claims.iatms ?? claims.iat * 1000),
      expiresAt: new Date(claims.exp * 1000),
      method: claims.amr,
      applicationCredentialId: claims.acr,
    };
  }

  private evictExpired(): void {
    const now = Date.now();
    for (const [token, auth] of this.verified) {
      if (auth.expiresAt.getTime() <= now) this.verified.delete(token);
    }
  }
}
