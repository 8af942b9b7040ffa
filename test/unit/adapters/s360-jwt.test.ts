import { createHmac } from 'node:crypto';
import { S360TokenSource, signS360Jwt } from '../../../src/adapters/s360/s360-jwt';

const identity = { institution: 'DEMO', operator: 'crm-sync-op', partner: 'crm-sync' };
const secret = 'a-test-secret-of-enough-length';

function decode(token: string): { header: unknown; claims: Record<string, unknown>; signatureOk: boolean } {
  const [header = '', payload = '', signature = ''] = token.split('.');
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString()) as unknown,
    claims: JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>,
    signatureOk: signature === expected,
  };
}

describe('signS360Jwt', () => {
  it('signs the S-360 claims with HS256', () => {
    const token = decode(signS360Jwt(identity, secret, 1_700_000_000));
    expect(token.header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(token.claims).toEqual({
      sub: 'DEMO',
      aud: 'crm-sync-op',
      iss: 'crm-sync',
      iat: 1_700_000_000,
      exp: 1_700_000_030,
    });
    expect(token.signatureOk).toBe(true);
  });

  it('never lets a token live longer than 30 s', () => {
    expect(decode(signS360Jwt(identity, secret, 100, 3600)).claims.exp).toBe(130);
    expect(decode(signS360Jwt(identity, secret, 100, 10)).claims.exp).toBe(110);
  });
});

describe('S360TokenSource', () => {
  it('reuses a token until a few seconds before it expires', () => {
    let now = 1_700_000_000_000;
    const tokens = new S360TokenSource({ ...identity, secret, now: () => now });
    const first = tokens.token();
    now += 24_000;
    expect(tokens.token()).toBe(first);
    now += 1_000;
    const second = tokens.token();
    expect(second).not.toBe(first);
    expect(decode(second).claims.iat).toBe(1_700_000_025);
  });
});
