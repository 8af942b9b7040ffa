import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { s360ContactSchema, type S360Contact } from '../../../src/adapters/s360/s360-contact';
import { signS360Jwt } from '../../../src/adapters/s360/s360-jwt';
import { startS360Sandbox, type S360Sandbox } from '../../../src/sandbox/s360-sandbox';

const jwtSecret = 'sandbox-jwt-secret-0123456789';
const identity = { institution: 'TEST', operator: 'crm-sync', partner: 'crm-sync' };
const apiPath = '/tnco/backend-apis/contactInformationPublicService/v2_21';

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const token = (secret = jwtSecret, iat = nowSeconds(), lifetime = 30): string =>
  signS360Jwt(identity, secret, iat, lifetime);

interface Reply<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

async function request<T = Record<string, unknown>>(
  url: string,
  init: { method?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const response = await fetch(url, {
    method: init.method ?? (init.json !== undefined || init.body !== undefined ? 'POST' : 'GET'),
    headers: { 'content-type': 'application/json', ...init.headers },
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as T };
}

const call = <T = Record<string, unknown>>(
  sandbox: S360Sandbox,
  method: string,
  json: unknown,
  jwt: string = token(),
): Promise<Reply<T>> =>
  request<T>(`${sandbox.url}${apiPath}/${method}`, { json, headers: { authorization: `Bearer ${jwt}` } });

const generate = (sandbox: S360Sandbox, count: number, seed: number) =>
  request<{ count: number; first: string; last: string }>(`${sandbox.url}/__sandbox/contacts/generate`, {
    json: { count, seed },
  });

const stats = (sandbox: S360Sandbox) =>
  request<{
    calls: number;
    throttled: number;
    maxCallsPer60s: number;
    contacts: number;
    notificationsDelivered: number;
    notificationsFailed: number;
  }>(`${sandbox.url}/__sandbox/stats`).then((reply) => reply.body);

/** A local receiver of change notifications, failing the first `failures` POSTs with 503. */
async function startReceiver(failures = 0): Promise<{
  url: string;
  batches: { contactNumber: string; changeType: string; modifiedAt: string }[][];
  attempts: () => number;
  close(): Promise<void>;
}> {
  const batches: { contactNumber: string; changeType: string; modifiedAt: string }[][] = [];
  let attempts = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      attempts += 1;
      if (attempts <= failures) {
        res.writeHead(503).end();
        return;
      }
      batches.push((JSON.parse(body) as { contacts: (typeof batches)[number] }).contacts);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notifications/s360`,
    batches,
    attempts: () => attempts,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('S-360 sandbox', () => {
  const started: S360Sandbox[] = [];
  const start = async (options: Partial<Parameters<typeof startS360Sandbox>[0]> = {}) => {
    const sandbox = await startS360Sandbox({ port: 0, jwtSecret, institution: 'TEST', ...options });
    started.push(sandbox);
    return sandbox;
  };
  afterEach(async () => {
    await Promise.all(started.splice(0).map((sandbox) => sandbox.close()));
  });

  describe('JWT', () => {
    it('accepts a good token and refuses bad ones with 401', async () => {
      const sandbox = await start({ callsPerMinute: 0 });
      await generate(sandbox, 3, 1);
      const ok = await call<{ statusCode: string; contactData: S360Contact }>(sandbox, 'getContactData', {
        contactNumber: '0000000002',
      });
      expect(ok.status).toBe(200);
      expect(ok.body.statusCode).toBe('success');
      expect(ok.body.contactData.contactNumber).toBe('0000000002');

      const refused = async (jwt: string | undefined): Promise<Reply> =>
        request(`${sandbox.url}${apiPath}/getContactData`, {
          json: { contactNumber: '0000000002' },
          headers: jwt === undefined ? {} : { authorization: `Bearer ${jwt}` },
        });
      const badSignature = await refused(token('another-secret-0123456789'));
      expect(badSignature.status).toBe(401);
      expect(badSignature.body.error).toMatch(/signature/);
      const expired = await refused(token(jwtSecret, nowSeconds() - 120, 30));
      expect(expired.status).toBe(401);
      expect(expired.body.error).toMatch(/expired/);
      expect((await refused(undefined)).status).toBe(401);
      expect((await refused('not.a-jwt')).status).toBe(401);

      // signS360Jwt caps the lifetime at 30 s, so the over-long token is signed here by hand.
      const { createHmac } = await import('node:crypto');
      const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const iat = nowSeconds();
      const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'TEST', aud: 'a', iss: 'p', iat, exp: iat + 60 })}`;
      const longLived = `${input}.${createHmac('sha256', jwtSecret).update(input).digest('base64url')}`;
      const tooLong = await refused(longLived);
      expect(tooLong.status).toBe(401);
      expect(tooLong.body.error).toMatch(/too long/);

      const otherInstitution = signS360Jwt({ ...identity, institution: 'OTHER' }, jwtSecret, nowSeconds());
      expect((await refused(otherInstitution)).status).toBe(401);
    });
  });

  describe('rate limit', () => {
    it('answers 509 with Retry-After to the 6th call of a minute with 5 allowed, without performing it', async () => {
      const sandbox = await start({ callsPerMinute: 5 });
      await generate(sandbox, 2, 1);
      for (let i = 0; i < 5; i++) {
        expect((await call(sandbox, 'getContactData', { contactNumber: '0000000001' })).status).toBe(200);
      }
      const sixth = await call(sandbox, 'saveIndividualContactData', {
        contactNumber: '0000000002',
        general: { firstName: 'Throttled' },
      });
      expect(sixth.status).toBe(509);
      const retryAfter = Number(sixth.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      const contact = await request<S360Contact>(`${sandbox.url}/__sandbox/contacts/0000000002`);
      expect(contact.body.general.firstName).not.toBe('Throttled');
      expect(await stats(sandbox)).toMatchObject({ calls: 6, throttled: 1, maxCallsPer60s: 6 });

      // Control endpoints are neither authenticated nor limited.
      expect((await request(`${sandbox.url}/__sandbox/contacts/0000000001`)).status).toBe(200);
      await request(`${sandbox.url}/__sandbox/stats/reset`, { method: 'POST' });
      expect(await stats(sandbox)).toMatchObject({ calls: 0, throttled: 0, maxCallsPer60s: 0, contacts: 2 });
    });

    it('takes a new limit at run time, as SecuTix raising an instance limit', async () => {
      const sandbox = await start({ callsPerMinute: 1 });
      expect((await call(sandbox, 'searchContact', { criteria: {} })).status).toBe(200);
      expect((await call(sandbox, 'searchContact', { criteria: {} })).status).toBe(509);
      const raised = await request(`${sandbox.url}/__sandbox/limit`, {
        method: 'PUT',
        json: { callsPerMinute: 3 },
      });
      expect(raised.body).toEqual({ callsPerMinute: 3 });
      expect((await call(sandbox, 'searchContact', { criteria: {} })).status).toBe(200);
      expect((await request(`${sandbox.url}/__sandbox/limit`)).body).toEqual({ callsPerMinute: 3 });
      const bad = await request(`${sandbox.url}/__sandbox/limit`, {
        method: 'PUT',
        json: { callsPerMinute: -1 },
      });
      expect(bad.status).toBe(400);
    });

    it('answers 429 when configured so', async () => {
      const sandbox = await start({ callsPerMinute: 1, throttleStatus: 429 });
      await call(sandbox, 'searchContact', { criteria: {} });
      const second = await call(sandbox, 'searchContact', { criteria: {} });
      expect(second.status).toBe(429);
      expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    });
  });

  describe('generated contacts', () => {
    const contactsOf = async (sandbox: S360Sandbox, count: number): Promise<S360Contact[]> =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          request<S360Contact>(`${sandbox.url}/__sandbox/contacts/${String(i + 1).padStart(10, '0')}`).then(
            (reply) => reply.body,
          ),
        ),
      );
    const withoutDate = ({ lastModificationDate: _date, ...contact }: S360Contact) => contact;

    it('are deterministic per seed, schema-valid, numbered with leading zeros, relays on existing structures', async () => {
      const [a, b, c] = await Promise.all([start(), start(), start()]);
      const count = 200;
      const generated = await generate(a!, count, 42);
      expect(generated.body).toEqual({ count, first: '0000000001', last: '0000000200' });
      await Promise.all([generate(b!, count, 42), generate(c!, count, 43)]);
      const [fromA, fromB, fromC] = await Promise.all([
        contactsOf(a!, count),
        contactsOf(b!, count),
        contactsOf(c!, count),
      ]);
      expect(fromA.map(withoutDate)).toEqual(fromB.map(withoutDate));
      expect(fromA.map(withoutDate)).not.toEqual(fromC.map(withoutDate));

      const byNumber = new Map(fromA.map((contact) => [contact.contactNumber, contact]));
      expect(fromA[0]?.contactType).toBe('STRUCTURE');
      for (const contact of fromA) {
        expect(s360ContactSchema.safeParse(contact).success).toBe(true);
        expect(contact.contactNumber).toMatch(/^\d{10}$/);
        if (contact.role === 'RELAY') {
          expect(byNumber.get(contact.structureContactNumber ?? '')?.contactType).toBe('STRUCTURE');
        }
        if (contact.contactType === 'STRUCTURE') expect(contact.general.organizationName).toBeTruthy();
        if (contact.addresses.length > 0) {
          expect(contact.addresses.filter((address) => address.isMain)).toHaveLength(1);
        }
        if (contact.comMeans.email) expect(contact.comMeans.email).toMatch(/^[\x21-\x7e]+@[a-z.]+$/);
        if (contact.general.birthDate) expect(contact.general.birthDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      }
      const roles = (role: string) => fromA.filter((contact) => contact.role === role).length;
      expect(roles('PUBLIC')).toBeGreaterThan(count * 0.5);
      expect(roles('RELAY')).toBeGreaterThan(count * 0.1);
      expect(fromA.some((contact) => /[^ -~]/.test(contact.general.lastName ?? ''))).toBe(true);
      expect(fromA.some((contact) => !contact.comMeans.email)).toBe(true);
      expect(fromA.some((contact) => contact.general.title === 'UNDEFINED')).toBe(true);
      expect((await stats(a!)).contacts).toBe(count);
    });
  });

  describe('API methods', () => {
    it('reads, searches, saves and creates contacts', async () => {
      const sandbox = await start({ callsPerMinute: 0 });
      await generate(sandbox, 20, 5);
      const missing = await call(sandbox, 'getContactData', { contactNumber: '0009999999' });
      expect(missing.body).toEqual({
        statusCode: 'NOT_FOUND',
        statusDetail: 'Contact 0009999999 does not exist',
      });

      const partial = await call<{ contactData: Record<string, unknown> }>(sandbox, 'getContactData', {
        contactNumber: '0000000001',
        details: ['GENERAL'],
      });
      expect(partial.body.contactData.addresses).toBeUndefined();

      const structures = await call<{ contactNumbers: string[]; total: number }>(sandbox, 'searchContact', {
        criteria: { contactType: 'STRUCTURE' },
        page: { offset: 0, size: 1 },
      });
      expect(structures.body.contactNumbers).toEqual(['0000000001']);
      expect(structures.body.total).toBeGreaterThanOrEqual(1);

      const saved = await call(sandbox, 'saveIndividualContactData', {
        contactNumber: '0000000002',
        general: { firstName: 'Łukasz' },
        comMeans: { email: 'lukasz@example.com' },
        addresses: [],
      });
      expect(saved.body).toEqual({ statusCode: 'success', contactNumber: '0000000002' });
      const after = (await request<S360Contact>(`${sandbox.url}/__sandbox/contacts/0000000002`)).body;
      expect(after.general.firstName).toBe('Łukasz');
      expect(after.general.lastName).toBeTruthy();
      expect(after.comMeans.email).toBe('lukasz@example.com');
      expect(after.addresses).toEqual([]);
      const byEmail = await call<{ contactNumbers: string[] }>(sandbox, 'searchContact', {
        criteria: { email: 'LUKASZ@example.com' },
      });
      expect(byEmail.body.contactNumbers).toEqual(['0000000002']);

      const invalid = await call(sandbox, 'saveIndividualContactData', {
        contactNumber: '0000000002',
        general: { title: 'DOCTOR' },
      });
      expect(invalid.body.statusCode).toBe('INVALID_PARAMETER');
      expect(invalid.body.statusDetail).toMatch(/^general\.title: /);
      const unknown = await call(sandbox, 'saveIndividualContactData', { contactNumber: '0000000999' });
      expect(unknown.body.statusCode).toBe('NOT_FOUND');

      const created = await call(sandbox, 'createCulturalContact', {
        contactType: 'INDIVIDUAL',
        role: 'RELAY',
        structureContactNumber: '0000000001',
        general: { title: 'MRS', firstName: 'Zoë', lastName: 'Strauß' },
      });
      expect(created.body).toEqual({ statusCode: 'success', contactNumber: '0000000021' });

      const malformed = await request(`${sandbox.url}${apiPath}/getContactData`, {
        body: '{not json',
        headers: { authorization: `Bearer ${token()}` },
      });
      expect(malformed.status).toBe(400);
      expect((await call(sandbox, 'deleteEverything', {})).status).toBe(404);
    });
  });

  describe('changes and notifications', () => {
    it('records a PATCH as a change in the feed and POSTs it to the receiver', async () => {
      const receiver = await startReceiver();
      try {
        const sandbox = await start({ notificationUrl: receiver.url });
        await generate(sandbox, 3, 9);
        await sandbox.notificationsIdle();
        const patched = await request<S360Contact>(`${sandbox.url}/__sandbox/contacts/0000000003`, {
          method: 'PATCH',
          json: { general: { lastName: 'Østergaard' } },
        });
        expect(patched.status).toBe(200);
        expect(patched.body.general.lastName).toBe('Østergaard');
        await sandbox.notificationsIdle();

        const feed = await request<{
          changes: { seq: number; contactNumber: string; changeType: string }[];
          cursor: number;
        }>(`${sandbox.url}/__sandbox/changes?after=3&limit=10`);
        expect(feed.body.changes).toEqual([
          expect.objectContaining({ seq: 4, contactNumber: '0000000003', changeType: 'UPDATED' }),
        ]);
        expect(feed.body.cursor).toBe(4);
        const notified = receiver.batches.flat();
        expect(notified.map((change) => change.changeType)).toEqual([
          'CREATED',
          'CREATED',
          'CREATED',
          'UPDATED',
        ]);
        expect(notified[3]).toEqual(
          expect.objectContaining({ contactNumber: '0000000003', modifiedAt: expect.any(String) }),
        );

        const invalid = await request(`${sandbox.url}/__sandbox/contacts/0000000003`, {
          method: 'PATCH',
          json: { addresses: [{ isMain: 'yes' }] },
        });
        expect(invalid.status).toBe(400);
        expect(invalid.body.error).toMatch(/^addresses\[0\]\.isMain: /);
      } finally {
        await receiver.close();
      }
    });

    it('batches notifications and retries while the receiver fails, dropping nothing', async () => {
      const receiver = await startReceiver(2);
      try {
        const sandbox = await start({ notificationUrl: receiver.url, notificationBatchSize: 4 });
        await generate(sandbox, 10, 11);
        await sandbox.notificationsIdle();
        expect(receiver.attempts()).toBe(5);
        expect(receiver.batches.map((batch) => batch.length)).toEqual([4, 4, 2]);
        expect(receiver.batches.flat().map((change) => change.contactNumber)).toEqual(
          Array.from({ length: 10 }, (_, i) => String(i + 1).padStart(10, '0')),
        );
        expect(await stats(sandbox)).toMatchObject({ notificationsDelivered: 3, notificationsFailed: 2 });
      } finally {
        await receiver.close();
      }
    });

    it('notifies a saveIndividualContactData update', async () => {
      const receiver = await startReceiver();
      try {
        const sandbox = await start({ notificationUrl: receiver.url });
        await generate(sandbox, 2, 1);
        await sandbox.notificationsIdle();
        await call(sandbox, 'saveIndividualContactData', {
          contactNumber: '0000000002',
          comMeans: { email: 'francois@example.com' },
        });
        await sandbox.notificationsIdle();
        expect(receiver.batches.flat().at(-1)).toEqual(
          expect.objectContaining({ contactNumber: '0000000002', changeType: 'UPDATED' }),
        );
      } finally {
        await receiver.close();
      }
    });

    it('is idle at once without a notification URL', async () => {
      const sandbox = await start();
      await generate(sandbox, 2, 1);
      await expect(sandbox.notificationsIdle()).resolves.toBeUndefined();
    });
  });

  describe('faults', () => {
    it('answers the injected status for the next calls, with latency, until cleared', async () => {
      const sandbox = await start({ callsPerMinute: 0 });
      await generate(sandbox, 1, 1);
      const set = await request(`${sandbox.url}/__sandbox/faults`, {
        json: { status: 503, count: 2, retryAfterSeconds: 7 },
      });
      expect(set.status).toBe(200);
      const first = await call(sandbox, 'getContactData', { contactNumber: '0000000001' });
      const second = await call(sandbox, 'getContactData', { contactNumber: '0000000001' });
      const third = await call(sandbox, 'getContactData', { contactNumber: '0000000001' });
      expect([first.status, second.status, third.status]).toEqual([503, 503, 200]);
      expect(first.headers.get('retry-after')).toBe('7');

      await request(`${sandbox.url}/__sandbox/faults`, { json: { latencyMs: 150 } });
      const started = Date.now();
      expect((await call(sandbox, 'getContactData', { contactNumber: '0000000001' })).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);

      await request(`${sandbox.url}/__sandbox/faults`, { json: { status: 509, count: 5 } });
      expect((await request(`${sandbox.url}/__sandbox/faults`, { method: 'DELETE' })).status).toBe(200);
      expect((await call(sandbox, 'getContactData', { contactNumber: '0000000001' })).status).toBe(200);
      expect((await request(`${sandbox.url}/__sandbox/faults`, { json: { status: 'x' } })).status).toBe(400);
    });
  });
});
