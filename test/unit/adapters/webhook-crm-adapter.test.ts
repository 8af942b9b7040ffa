import type { ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { createCrmAdapter, WebhookCrmAdapter } from '../../../src/adapters/crm';
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

function handle(request: SeenRequest, res: ServerResponse): void {
  if (fault) return fault(res);
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
});
