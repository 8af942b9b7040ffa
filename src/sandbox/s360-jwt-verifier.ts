import { createHmac, timingSafeEqual } from 'node:crypto';
import { maxS360TokenLifetimeSeconds } from '../adapters/s360/s360-jwt';

/** Clock skew S-360 tolerates on `exp` (and on an `iat` in the future). */
export const jwtClockSkewSeconds = 5;

export interface VerifyS360JwtOptions {
  secret: string;
  /** When set, `sub` must equal it. */
  institution?: string;
  /** Unix seconds. */
  nowSeconds: number;
}

/**
 * Checks an `Authorization` header the way S-360 does: an HS256 bearer JWT with `sub`, `aud`, `iss`, `iat` and
 * `exp`, living at most 30 s, not expired. Returns the reason of a refusal, or undefined when the token is good.
 */
export function s360JwtRefusal(
  authorization: string | undefined,
  options: VerifyS360JwtOptions,
): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match?.[1]) return 'missing bearer token (Authorization: Bearer <jwt>)';
  const parts = match[1].split('.');
  if (parts.length !== 3) return 'malformed JWT: expected three dot-separated parts';
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
  const header = decodeJson(encodedHeader);
  const payload = decodeJson(encodedPayload);
  if (!header || !payload) return 'malformed JWT: header and payload must be base64url JSON objects';
  if (header.alg !== 'HS256') return `unsupported JWT alg ${JSON.stringify(header.alg)}: expected HS256`;

  const expected = createHmac('sha256', options.secret).update(`${encodedHeader}.${encodedPayload}`).digest();
  const given = Buffer.from(encodedSignature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad JWT signature';

  for (const claim of ['sub', 'aud', 'iss'] as const) {
    if (typeof payload[claim] !== 'string' || payload[claim] === '') return `missing JWT claim ${claim}`;
  }
  const { iat, exp } = payload;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'missing JWT claim iat';
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'missing JWT claim exp';
  if (exp - iat > maxS360TokenLifetimeSeconds) {
    return `JWT lives too long: exp - iat = ${exp - iat} s, at most ${maxS360TokenLifetimeSeconds} s`;
  }
  if (options.nowSeconds > exp + jwtClockSkewSeconds) return 'JWT expired';
  if (iat > options.nowSeconds + jwtClockSkewSeconds) return 'JWT issued in the future';
  if (options.institution !== undefined && payload.sub !== options.institution) {
    return `JWT sub ${JSON.stringify(payload.sub)} is not the institution`;
  }
  return undefined;
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
