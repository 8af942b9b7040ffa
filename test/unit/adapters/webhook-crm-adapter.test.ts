import type { ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { createCrmAdapter, WebhookCrmAdapter } from '../../../src/adapters/crm';
import type { CrmChangeEvent } from '../../../src/adapters/crm/crm-change-event';
import type { CrmContactRecord } from '../../../src/mapping/crm-contact-record';
import { PermanentError, ThrottledError, TransientError } from '../../../src/adapters/http/errors';
import { startLocalServer, sendJson, type LocalServer, type SeenRequest } from './local-server';
import { rejection } from '../../helpers/rejection';

// A small webhook receiver: verifies Standard Webhooks signatures, applies a webhook-id once, refuses records
// without a last name, and answers `{duplicate, results}`.
const signingSecret = 'whsec_dGVzdC1zaWduaW5nLXNlY3JldC0xMjM0NQ==';
const receiver = new Webhook(signingSecret);
const stored = new Map<string, CrmContactRecord>();
const seenIds = new Set<string>();
let fault: ((res: ServerResponse) => void) | undefined;
let server: LocalServer;

// The CRM's change list (`GET /changes?after=&limit=`), open to `Bearer list-token` only.
const apiToken = 'list-token';
const changeList: CrmChangeEvent[] = [];

function listChanges(request: SeenRequest, res: ServerResponse): void {
  if (request.headers.authorization !== `Bearer ${apiToken}`)
    return sendJson(res, 401, { error: 'bad token' });
  const url = new URL(request.path, 'http://crm.test');
  const after = Number(url.searchParams.get('after') ?? 0);
  const limit = Number(url.searchParams.get('limit'));
  const changes = changeList
    .slice(after, after + limit)
    .map((event, index) => ({ seq: after + index + 1, event }));
  sendJson(res, 200, { changes, nextAfter: after + changes.length });
}

function handle(request: SeenRequest, res: ServerResponse): void {
  if (fault) return fault(res);
  if (request.path.startsWith('/changes')) return listChanges(request, res);
  let event: { type: string; data: { records: CrmContactRecord[] } };
  try {
    event = receiver.verify(request.body, request.headers as Record<string, string>) as typeof event;
  } catch (err) {
    return sendJson(res, 401, { message: (err as Error).message });
  }
  const id = String(request.headers['webhook-id']);
  if (seenIds.has(id)) return sendJson(res, 200, { duplicate: true, results: [] });
  seenIds.add(id);
  const results = event.data.records.map((record) => {
    if (!record.fields.LastName)
      return { contactNumber: record.contactNumber, ok: false, reason: 'LastName missing' };
    stored.set(record.contactNumber, record);
    return { contactNumber: record.contactNumber, ok: true };
  });
  sendJson(res, 200, { duplicate: false, results });
}

function record(contactNumber: string, lastName: string | null = 'Ødegård'): CrmContactRecord {
  return {
    contactNumber,
    entity: 'person',
    fields: { FirstName: 'Jérôme', LastName: lastName },
    sourceModifiedAt: '2024-05-01T10:00:00.000Z',
  };
}

beforeAll(async () => {
  server = await startLocalServer(handle);
});
afterAll(() => server.close());
beforeEach(() => {
  fault = undefined;
  server.requests.length = 0;
  stored.clear();
  seenIds.clear();
  changeList.length = 0;
});

function adapter(secret = signingSecret): WebhookCrmAdapter {
  return new WebhookCrmAdapter({
    target: 'default',
    url: `${server.url}/hooks/contacts`,
    signingSecret: secret,
    timeoutMs: 2_000,
  });
}

describe('WebhookCrmAdapter', () => {
  it('posts a signed contact.upsert event the receiver verifies', async () => {
    const result = await adapter().pushContacts({
      pushId: 'run-1/0',
      records: [record('000042'), record('0007')],
    });
    expect(result).toEqual({
      duplicate: false,
      records: [
        { contactNumber: '000042', ok: true },
        { contactNumber: '0007', ok: true },
      ],
    });
    expect([...stored.keys()]).toEqual(['000042', '0007']);
    expect(stored.get('000042')?.fields.LastName).toBe('Ødegård');
    const [request] = server.requests;
    expect(request?.path).toBe('/hooks/contacts');
    expect(request?.headers['webhook-id']).toBe('run-1/0');
    expect(request?.headers['webhook-signature']).toMatch(/^v1,/);
    expect(Math.abs(Number(request?.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
    expect(JSON.parse(request?.body ?? '')).toEqual({
      type: 'contact.upsert',
      data: { records: [record('000042'), record('0007')] },
    });
  });

  it('is recognised as a duplicate when the same push is sent again', async () => {
    const crm = adapter();
    await crm.pushContacts({ pushId: 'run-1/0', records: [record('1')] });
    await expect(crm.pushContacts({ pushId: 'run-1/0', records: [record('1')] })).resolves.toMatchObject({
      duplicate: true,
    });
    expect(server.requests.map((request) => request.headers['webhook-id'])).toEqual(['run-1/0', 'run-1/0']);
    expect(server.requests[1]?.headers['webhook-signature']).toBeDefined();
  });

  it('reports the records the CRM refused, with its reason', async () => {
    const result = await adapter().pushContacts({ pushId: 'p', records: [record('1'), record('2', null)] });
    expect(result.records).toEqual([
      { contactNumber: '1', ok: true },
      { contactNumber: '2', ok: false, reason: 'LastName missing' },
    ]);
  });

  it('takes a 2xx without the documented body as all accepted', async () => {
    fault = (res) => {
      res.writeHead(204);
      res.end();
    };
    await expect(adapter().pushContacts({ pushId: 'p', records: [record('1')] })).resolves.toEqual({
      duplicate: false,
    });
    fault = (res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('OK');
    };
    await expect(adapter().pushContacts({ pushId: 'p', records: [record('1')] })).resolves.toEqual({
      duplicate: false,
    });
  });

  it('fails with UNAUTHORIZED when the receiver cannot verify the signature', async () => {
    const err = (await rejection(
      adapter('whsec_b3RoZXItc2VjcmV0LW9mLWVub3VnaC1sZW5ndGg=').pushContacts({
        pushId: 'p',
        records: [record('1')],
      }),
    )) as PermanentError;
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.message).toMatch(/^CRM default POST \/hooks\/contacts \(push p\): HTTP 401/);
    expect(stored.size).toBe(0);
  });

  it('treats 429, and 503 with Retry-After, as throttling', async () => {
    fault = (res) => sendJson(res, 503, { message: 'maintenance' }, { 'retry-after': '4' });
    const unavailable = (await rejection(
      adapter().pushContacts({ pushId: 'p', records: [] }),
    )) as ThrottledError;
    expect(unavailable).toBeInstanceOf(ThrottledError);
    expect(unavailable.retryAfterMs).toBe(4_000);
    fault = (res) => sendJson(res, 429, {}, { 'retry-after': '2' });
    expect(
      ((await rejection(adapter().pushContacts({ pushId: 'p', records: [] }))) as ThrottledError)
        .retryAfterMs,
    ).toBe(2_000);
  });

  it('treats 500 as transient and another 4xx as permanent with the reason', async () => {
    fault = (res) => sendJson(res, 500, {});
    expect(await rejection(adapter().pushContacts({ pushId: 'p', records: [] }))).toBeInstanceOf(
      TransientError,
    );
    fault = (res) => sendJson(res, 422, { error: 'records[0].fields.Email is invalid' });
    const err = (await rejection(adapter().pushContacts({ pushId: 'p', records: [] }))) as PermanentError;
    expect(err.code).toBe('UNPROCESSABLE');
    expect(err.message).toMatch(/HTTP 422 Unprocessable Entity: records\[0\]\.fields\.Email is invalid$/);
  });

  it('is built from a target configuration', () => {
    const crm = createCrmAdapter({
      name: 'marketing',
      kind: 'webhook',
      url: `${server.url}/hooks`,
      signingSecret,
    });
    expect(crm).toBeInstanceOf(WebhookCrmAdapter);
    expect(crm.target).toBe('marketing');
  });

  describe('listChanges', () => {
    function pollingAdapter(token = apiToken): WebhookCrmAdapter {
      return new WebhookCrmAdapter({
        target: 'default',
        url: `${server.url}/hooks/contacts`,
        signingSecret,
        timeoutMs: 2_000,
        changes: { url: `${server.url}/changes`, apiToken: token, pageSize: 2 },
      });
    }
    const changedEvent = (contactNumber: string, lastName: string): CrmChangeEvent => ({
      type: 'contact.changed',
      data: {
        record: {
          contactNumber,
          entity: 'person',
          fields: { LastName: lastName, HasOptedOutOfEmail: false },
          modifiedAt: '2024-06-01T08:00:00.000Z',
        },
      },
    });
    const deletedEvent: CrmChangeEvent = {
      type: 'contact.deleted',
      data: { contactNumber: '0009', entity: 'person', deletedAt: '2024-06-02T09:30:00.000+02:00' },
    };

    it('is absent when the target has no change list', () => {
      expect(adapter().listChanges).toBeUndefined();
      expect(adapter().changesPageSize).toBeUndefined();
      expect(pollingAdapter().changesPageSize).toBe(2);
    });

    it('reads the change list page by page from a cursor, with the bearer token', async () => {
      changeList.push(changedEvent('000042', 'Ødegård'), deletedEvent, changedEvent('0007', 'Muller'));
      const crm = pollingAdapter();
      const first = await crm.listChanges!({ limit: 2 });
      expect(first).toEqual({ changes: [changedEvent('000042', 'Ødegård'), deletedEvent], next: '2' });
      const second = await crm.listChanges!({ after: first.next, limit: 2 });
      expect(second).toEqual({ changes: [changedEvent('0007', 'Muller')], next: '3' });
      await expect(crm.listChanges!({ after: second.next, limit: 2 })).resolves.toEqual({
        changes: [],
        next: '3',
      });
      expect(server.requests.map((request) => request.path)).toEqual([
        '/changes?limit=2',
        '/changes?after=2&limit=2',
        '/changes?after=3&limit=2',
      ]);
      expect(server.requests[0]?.method).toBe('GET');
      expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${apiToken}`);
    });

    it('is built from a target configuration with `changes`', async () => {
      changeList.push(deletedEvent);
      const crm = createCrmAdapter({
        name: 'polled',
        kind: 'webhook',
        url: `${server.url}/hooks`,
        signingSecret,
        changes: { url: `${server.url}/changes`, apiToken, pageSize: 50 },
      });
      expect(crm.changesPageSize).toBe(50);
      await expect(crm.listChanges?.({ limit: 50 })).resolves.toEqual({ changes: [deletedEvent], next: '1' });
    });

    it('fails with a PermanentError naming the field of a malformed answer', async () => {
      fault = (res) =>
        sendJson(res, 200, {
          changes: [
            { seq: 1, event: changedEvent('1', 'A') },
            { seq: 2, event: { type: 'contact.changed', data: { record: { contactNumber: '2' } } } },
          ],
          nextAfter: 2,
        });
      const err = (await rejection(pollingAdapter().listChanges!({ limit: 2 }))) as PermanentError;
      expect(err).toBeInstanceOf(PermanentError);
      expect(err.code).toBe('INVALID_RESPONSE');
      expect(err.message).toMatch(/^CRM default GET \/changes: malformed change list \(/);
      expect(err.message).toContain('changes[1].event.data.record.entity');

      fault = (res) => sendJson(res, 200, { changes: [] });
      expect(((await rejection(pollingAdapter().listChanges!({ limit: 2 }))) as Error).message).toContain(
        'nextAfter',
      );

      fault = (res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html>login</html>');
      };
      expect(await rejection(pollingAdapter().listChanges!({ limit: 2 }))).toMatchObject({
        code: 'INVALID_RESPONSE',
      });
    });

    it('translates HTTP errors like the push does', async () => {
      const unauthorized = (await rejection(
        pollingAdapter('wrong-token').listChanges!({ after: '5', limit: 2 }),
      )) as PermanentError;
      expect(unauthorized).toBeInstanceOf(PermanentError);
      expect(unauthorized.code).toBe('UNAUTHORIZED');
      expect(unauthorized.message).toMatch(/^CRM default GET \/changes \(after 5\): HTTP 401/);

      fault = (res) => sendJson(res, 503, { message: 'maintenance' }, { 'retry-after': '3' });
      const throttled = (await rejection(pollingAdapter().listChanges!({ limit: 2 }))) as ThrottledError;
      expect(throttled).toBeInstanceOf(ThrottledError);
      expect(throttled.retryAfterMs).toBe(3_000);

      fault = (res) => sendJson(res, 500, {});
      expect(await rejection(pollingAdapter().listChanges!({ limit: 2 }))).toBeInstanceOf(TransientError);
    });
  });
});
