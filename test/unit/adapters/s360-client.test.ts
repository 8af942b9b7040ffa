import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  NotFoundError,
  PermanentError,
  ThrottledError,
  TransientError,
} from '../../../src/adapters/http/errors';
import { SlidingWindowLimiter } from '../../../src/adapters/http/sliding-window-limiter';
import { S360Client } from '../../../src/adapters/s360/s360-client';
import { startLocalServer, sendJson, type LocalServer, type SeenRequest } from './local-server';
import { rejection } from '../../helpers/rejection';

// A small S-360 stand-in serving the wire shapes of contactInformationPublicService v2_21: JWT checked, contacts
// from a map, faults injected per test.
const jwtSecret = 'sandbox-jwt-secret-for-tests';
const institution = 'DEMO';
const servicePath = '/tnco/backend-apis/contactInformationPublicService/v2_21/';

const contacts = new Map<string, unknown>();
let fault: ((res: ServerResponse) => void) | undefined;
let server: LocalServer;

function tokenProblem(authorization: string | undefined): string | undefined {
  const [scheme, token = ''] = (authorization ?? '').split(' ');
  if (scheme !== 'Bearer') return 'missing bearer token';
  const [header = '', payload = '', signature = ''] = token.split('.');
  const expected = createHmac('sha256', jwtSecret).update(`${header}.${payload}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad signature';
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, number | string>;
  const now = Math.floor(Date.now() / 1000);
  if (claims.sub !== institution) return 'wrong institution';
  if (Number(claims.exp) - Number(claims.iat) > 30 || Number(claims.exp) < now) return 'expired';
  return undefined;
}

function handle(request: SeenRequest, res: ServerResponse): void {
  if (fault) return fault(res);
  const problem = tokenProblem(request.headers.authorization);
  if (problem) return sendJson(res, 401, { message: problem });
  const method = request.path.startsWith(servicePath) ? request.path.slice(servicePath.length) : '';
  const body = JSON.parse(request.body) as Record<string, unknown>;
  switch (method) {
    case 'getContactData': {
      const contact = contacts.get(String(body.contactNumber));
      return sendJson(
        res,
        200,
        contact
          ? { statusCode: 'success', contactData: contact }
          : { statusCode: 'NOT_FOUND', statusDetail: `No contact ${String(body.contactNumber)}` },
      );
    }
    case 'searchContact':
      return sendJson(res, 200, { statusCode: 'success', contactNumbers: ['000001', '000002'], total: 7 });
    case 'saveIndividualContactData':
      return sendJson(res, 200, { statusCode: 'success', contactNumber: body.contactNumber });
    case 'createCulturalContact':
      return sendJson(res, 200, { statusCode: 'success', contactNumber: '0000099' });
    default:
      return sendJson(res, 404, { message: `unknown method ${method}` });
  }
}

const contact = {
  contactNumber: '000042',
  contactType: 'INDIVIDUAL',
  role: 'PUBLIC',
  general: { title: 'MR', firstName: 'Jérôme', lastName: 'Ødegård' },
  comMeans: { email: 'jerome@example.ch' },
  addresses: [
    { addressLine1: 'Rue du Marché 4', zipCode: '1204', town: 'Genève', country: 'CH', isMain: true },
  ],
  authorizations: [{ code: 'EMAIL', value: true }],
  lastModificationDate: '2024-05-01T10:00:00.000Z',
};

beforeAll(async () => {
  server = await startLocalServer(handle);
});
afterAll(() => server.close());
beforeEach(() => {
  fault = undefined;
  server.requests.length = 0;
  contacts.clear();
  contacts.set('000042', contact);
});

function client(overrides: { jwtSecret?: string; limiter?: SlidingWindowLimiter } = {}): S360Client {
  return new S360Client({
    baseUrl: server.url,
    institution,
    operator: 'crm-sync',
    partner: 'crm-sync',
    jwtSecret: overrides.jwtSecret ?? jwtSecret,
    limiter: overrides.limiter ?? new SlidingWindowLimiter({ limit: 1000 }),
    timeoutMs: 2_000,
  });
}

describe('S360Client', () => {
  it('reads a contact with a JWT the server accepts, keeping the leading zeros', async () => {
    const result = await client().getContactData('000042');
    expect(result.contactNumber).toBe('000042');
    expect(result.general.lastName).toBe('Ødegård');
    expect(result.addresses[0]?.town).toBe('Genève');
    const [request] = server.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe(`${servicePath}getContactData`);
    expect(request?.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(request?.body ?? '{}')).toMatchObject({
      contactNumber: '000042',
      details: expect.arrayContaining(['GENERAL', 'ADDRESSES', 'AUTHORIZATIONS', 'COM_MEANS']) as unknown,
    });
  });

  it('signs one token and reuses it for the following calls', async () => {
    const s360 = client();
    await s360.getContactData('000042');
    await s360.getContactData('000042');
    expect(server.requests[1]?.headers.authorization).toBe(server.requests[0]?.headers.authorization);
  });

  it('reports a token the server refuses as UNAUTHORIZED, a misconfiguration', async () => {
    const err = (await rejection(
      client({ jwtSecret: 'another-secret-entirely' }).getContactData('000042'),
    )) as PermanentError;
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.details.status).toBe(401);
    expect(err.message).toMatch(
      /^S-360 POST .*getContactData \(contact 000042\): HTTP 401 Unauthorized: bad signature/,
    );
  });

  it('reports 509 as throttling with the Retry-After delay', async () => {
    fault = (res) => sendJson(res, 509, { message: 'Bandwidth Limit Exceeded' }, { 'retry-after': '9' });
    const err = (await rejection(client().getContactData('000042'))) as ThrottledError;
    expect(err).toBeInstanceOf(ThrottledError);
    expect(err.retryAfterMs).toBe(9_000);
    expect(err.details).toMatchObject({ system: 'S-360', status: 509 });
  });

  it('reports 500 as a transient error', async () => {
    fault = (res) => sendJson(res, 500, { message: 'internal' });
    expect(await rejection(client().getContactData('000042'))).toBeInstanceOf(TransientError);
  });

  it('reports a NOT_FOUND result as NotFoundError', async () => {
    const err = (await rejection(client().getContactData('0000777'))) as NotFoundError;
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toBe('S-360 getContactData: NOT_FOUND: No contact 0000777');
  });

  it('reports another non-success result as a permanent error with its code and detail', async () => {
    fault = (res) =>
      sendJson(res, 200, { statusCode: 'ACCESS_DENIED', statusDetail: 'Operator may not read' });
    const err = (await rejection(client().getContactData('000042'))) as PermanentError;
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(/Operator may not read/);
  });

  it('refuses a contact of the wrong shape with INVALID_RESPONSE naming the path', async () => {
    contacts.set('000042', { ...contact, general: { lastName: 42 } });
    const err = (await rejection(client().getContactData('000042'))) as PermanentError;
    expect(err.code).toBe('INVALID_RESPONSE');
    expect(err.message).toMatch(/contactData\.general\.lastName: .*expected string/);
  });

  it('refuses a contact returned under another number (leading zeros lost)', async () => {
    contacts.set('000042', { ...contact, contactNumber: '42' });
    const err = (await rejection(client().getContactData('000042'))) as PermanentError;
    expect(err.code).toBe('INVALID_RESPONSE');
    expect(err.message).toMatch(/expected "000042", got "42"/);
  });

  it('does not call S-360 for something that is not a contact number', async () => {
    const err = (await rejection(client().getContactData('12a'))) as PermanentError;
    expect(err.code).toBe('INVALID_CONTACT_NUMBER');
    expect(server.requests).toHaveLength(0);
  });

  it('searches, updates and creates contacts', async () => {
    const s360 = client();
    await expect(s360.searchContact({ lastName: 'Ødegård' }, { offset: 0, size: 2 })).resolves.toEqual({
      contactNumbers: ['000001', '000002'],
      total: 7,
    });
    expect(JSON.parse(server.requests[0]?.body ?? '')).toEqual({
      criteria: { lastName: 'Ødegård' },
      page: { offset: 0, size: 2 },
    });
    await expect(
      s360.saveIndividualContactData({
        contactNumber: '000042',
        general: { title: 'UNDEFINED', lastName: 'Ø' },
      }),
    ).resolves.toEqual({ contactNumber: '000042' });
    // UNDEFINED stands for a title S-360 could not read: sending it back would overwrite the real one.
    expect(JSON.parse(server.requests[1]?.body ?? '')).toEqual({
      contactNumber: '000042',
      general: { lastName: 'Ø' },
    });
    await expect(
      s360.createCulturalContact({ contactType: 'INDIVIDUAL', role: 'PUBLIC', general: { lastName: 'Neu' } }),
    ).resolves.toEqual({ contactNumber: '0000099' });
  });

  it('takes a slot of the limiter for every call and gives it back', async () => {
    const limiter = new SlidingWindowLimiter({ limit: 2, windowMs: 300 });
    const s360 = client({ limiter });
    const started = Date.now();
    await Promise.all([1, 2, 3].map(() => s360.getContactData('000042')));
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(server.requests).toHaveLength(3);
    expect(limiter.used).toBeGreaterThan(0);
    fault = (res) => sendJson(res, 500, {});
    await rejection(s360.getContactData('000042'));
    await new Promise((resolve) => setTimeout(resolve, 320));
    expect(limiter.used).toBe(0);
  });
});
