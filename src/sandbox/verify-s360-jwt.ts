import { createHmac, timingSafeEqual } from 'node:crypto';

/** Longest lifetime (`exp - iat`) S-360 accepts. */
export const maxTokenLifetimeSeconds = 30;
/** Clock skew tolerated on `exp` and `iat`. */
export const clockSkewSeconds = 5;

/** The claims of an accepted S-360 bearer token. */
export interface S360JwtClaims {
  sub: string;
  aud: string;
  iss: string;
  iat: number;
  exp: number;
}

/** The outcome of checking a bearer token: its claims, or why it is refused. */
export type JwtCheck = { ok: true; claims: S360JwtClaims } | { ok: false; reason: string };

/** What {@link verifyS360Jwt} checks against. */
export interface JwtVerificationOptions {
  secret: string;
  /** When set, `sub` must equal it. */
  institution?: string;
  /** Unix seconds; default now. */
  nowSeconds?: number;
}

/**
 * Checks an S-360 `Authorization` header the way the sandbox's API requires: `Bearer <JWT>`, HS256 signed with the
 * shared secret (compared in constant time), claims `sub`, `aud`, `iss`, `iat`, `exp` present, `exp - iat` at most
 * 30 s, not expired (5 s skew), `sub` the configured institution.
 */
export function verifyS360Jwt(authorization: string | undefined, options: JwtVerificationOptions): JwtCheck {
  if (!authorization) return fail('missing Authorization header (expected "Bearer <JWT>")');
  const match = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(authorization.trim());
  if (!match)
    return fail('malformed Authorization header (expected "Bearer <header>.<payload>.<signature>")');
  const [, encodedHeader = '', encodedPayload = '', signature = ''] = match;

  const header = decodeJsonPart(encodedHeader);
  if (!header) return fail('malformed JWT header');
  if (header.alg !== 'HS256') return fail(`JWT alg must be HS256, got ${JSON.stringify(header.alg)}`);

  const expected = createHmac('sha256', options.secret).update(`${encodedHeader}.${encodedPayload}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return fail('bad JWT signature');
  }

  const payload = decodeJsonPart(encodedPayload);
  if (!payload) return fail('malformed JWT payload');
  const missing = [
    ...['sub', 'aud', 'iss'].filter((claim) => typeof payload[claim] !== 'string' || payload[claim] === ''),
    ...['iat', 'exp'].filter((claim) => !Number.isFinite(payload[claim])),
  ];
  if (missing.length > 0) return fail(`JWT claims missing or invalid: ${missing.join(', ')}`);
  const claims = payload as unknown as S360JwtClaims;

  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (claims.exp <= claims.iat) return fail('JWT exp must be after iat');
  if (claims.exp - claims.iat > maxTokenLifetimeSeconds) {
    return fail(
      `JWT lifetime exp - iat is ${claims.exp - claims.iat} s; at most ${maxTokenLifetimeSeconds} s`,
    );
  }
  if (claims.iat > now + clockSkewSeconds) return fail('JWT issued in the future (iat)');
  if (now > claims.exp + clockSkewSeconds) return fail(`JWT expired ${now - claims.exp} s ago`);
  if (options.institution !== undefined && claims.sub !== options.institution) {
    return fail(`JWT sub ${JSON.stringify(claims.sub)} is not this institution`);
  }
  return { ok: true, claims };
}

function fail(reason: string): JwtCheck {
  return { ok: false, reason };
}

function decodeJsonPart(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
