import { createHmac } from 'node:crypto';

/** Who the service is to S-360: the claims of every token it signs. */
export interface S360JwtIdentity {
  /** `sub`: the institution. */
  institution: string;
  /** `aud`: the operator. */
  operator: string;
  /** `iss`: the partner. */
  partner: string;
}

/** S-360 refuses tokens living longer than this after `iat`. */
export const maxS360TokenLifetimeSeconds = 30;

/** Signs one S-360 bearer token (HS256) issued at `issuedAtSeconds` and valid for `lifetimeSeconds` (<= 30). */
export function signS360Jwt(
  identity: S360JwtIdentity,
  secret: string,
  issuedAtSeconds: number,
  lifetimeSeconds = maxS360TokenLifetimeSeconds,
): string {
  const lifetime = Math.min(Math.max(1, Math.floor(lifetimeSeconds)), maxS360TokenLifetimeSeconds);
  const header = { alg: 'HS256', typ: 'JWT' };
  const payload = {
    sub: identity.institution,
    aud: identity.operator,
    iss: identity.partner,
    iat: issuedAtSeconds,
    exp: issuedAtSeconds + lifetime,
  };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** Options of {@link S360TokenSource}. */
export interface S360TokenSourceOptions extends S360JwtIdentity {
  secret: string;
  /** Token lifetime; at most (and by default) 30 s. */
  lifetimeSeconds?: number;
  /** A token is replaced this long before it expires, so that it never expires in flight. Default 5 s. */
  renewBeforeSeconds?: number;
  /** Wall clock in milliseconds; tests pass a fake one. */
  now?: () => number;
}

/** Hands out S-360 bearer tokens, signing a new one only when the current one is about to expire. */
export class S360TokenSource {
  private current: { token: string; renewAtSeconds: number } | undefined;
  private readonly lifetimeSeconds: number;
  private readonly renewBeforeSeconds: number;
  private readonly now: () => number;

  constructor(private readonly options: S360TokenSourceOptions) {
    this.lifetimeSeconds = Math.min(
      options.lifetimeSeconds ?? maxS360TokenLifetimeSeconds,
      maxS360TokenLifetimeSeconds,
    );
    this.renewBeforeSeconds = Math.min(options.renewBeforeSeconds ?? 5, this.lifetimeSeconds - 1);
    this.now = options.now ?? Date.now;
  }

  token(): string {
    const nowSeconds = Math.floor(this.now() / 1000);
    if (this.current && nowSeconds < this.current.renewAtSeconds) return this.current.token;
    const token = signS360Jwt(this.options, this.options.secret, nowSeconds, this.lifetimeSeconds);
    this.current = { token, renewAtSeconds: nowSeconds + this.lifetimeSeconds - this.renewBeforeSeconds };
    return token;
  }
}
