import { Webhook } from 'standardwebhooks';
import type { CrmContactRecord } from '../../../src/mapping/crm-contact-record';
import { startCrmSandbox, type CrmSandbox } from '../../../src/sandbox/crm-sandbox';
import { startSandboxes } from '../../../src/sandbox';

const signingSecret = 'whsec_Y3JtLXNhbmRib3gtc2lnbmluZy1zZWNyZXQ=';

interface Reply<T = Record<string, unknown>> {
  status: number;
  body: T;
}

async function request<T = Record<string, unknown>>(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const response = await fetch(url, {
    method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
    headers: { 'content-type': 'application/json', ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
}

const record = (
  contactNumber: string,
  email: string | null = `c${contactNumber}@example.com`,
): CrmContactRecord => ({
  contactNumber,
  entity: 'person',
  fields: { LastName: 'Müller', FirstName: 'Zoë', Email: email },
  sourceModifiedAt: '2026-11-01T10:00:00.000Z',
});

/** POSTs a push signed as the webhook adapter signs it. */
function push(
  sandbox: CrmSandbox,
  webhookId: string,
  records: CrmContactRecord[],
  options: { secret?: string; timestamp?: Date; unsigned?: boolean; body?: string } = {},
): Promise<Reply> {
  const body = options.body ?? JSON.stringify({ type: 'contact.upsert', data: { records } });
  const timestamp = options.timestamp ?? new Date();
  const headers: Record<string, string> = options.unsigned
    ? {}
    : {
        'webhook-id': webhookId,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': new Webhook(options.secret ?? signingSecret).sign(webhookId, timestamp, body),
      };
  return request(`${sandbox.url}/hooks/contacts`, { body, headers });
}

const stats = (sandbox: CrmSandbox) =>
  request<{
    pushes: number;
    records: number;
    maxContactsPerPush: number;
    badSignatures: number;
    duplicatePushes: number;
  }>(`${sandbox.url}/__sandbox/stats`).then((reply) => reply.body);

const storedRecords = (sandbox: CrmSandbox) =>
  request<{ records: (CrmContactRecord & { timesApplied: number; lastWebhookId: string })[] }>(
    `${sandbox.url}/__sandbox/records`,
  ).then((reply) => reply.body.records);

describe('CRM sandbox', () => {
  let sandbox: CrmSandbox;
  beforeEach(async () => {
    sandbox = await startCrmSandbox({ port: 0, signingSecret });
  });
  afterEach(() => sandbox.close());

  it('stores a valid signed push and serves it', async () => {
    const reply = await push(sandbox, 'push-1', [record('0000000002'), record('0000000001')]);
    expect(reply).toEqual({
      status: 200,
      body: {
        duplicate: false,
        results: [
          { contactNumber: '0000000002', ok: true },
          { contactNumber: '0000000001', ok: true },
        ],
      },
    });
    const records = await storedRecords(sandbox);
    expect(records.map((stored) => stored.contactNumber)).toEqual(['0000000001', '0000000002']);
    expect(records[0]).toMatchObject({
      entity: 'person',
      fields: { LastName: 'Müller', FirstName: 'Zoë' },
      sourceModifiedAt: '2026-11-01T10:00:00.000Z',
      timesApplied: 1,
      lastWebhookId: 'push-1',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect((await request(`${sandbox.url}/api/contacts/0000000001`)).status).toBe(200);
    expect((await request(`${sandbox.url}/api/contacts/0000000009`)).status).toBe(404);
    const page = await request<{ records: CrmContactRecord[]; total: number }>(
      `${sandbox.url}/api/contacts?limit=1&offset=1`,
    );
    expect(page.body.total).toBe(2);
    expect(page.body.records.map((stored) => stored.contactNumber)).toEqual(['0000000002']);

    const patched = await request<CrmContactRecord>(`${sandbox.url}/__sandbox/records/0000000001`, {
      method: 'PATCH',
      body: JSON.stringify({ fields: { Phone: '+41 22 000 00 00' } }),
    });
    expect(patched.body.fields).toMatchObject({ LastName: 'Müller', Phone: '+41 22 000 00 00' });
  });

  it('refuses bad, missing and stale signatures with 401 and stores nothing', async () => {
    const wrongSecret = await push(sandbox, 'push-a', [record('0000000001')], {
      secret: 'whsec_d3Jvbmctc2lnbmluZy1zZWNyZXQ=',
    });
    const missing = await push(sandbox, 'push-b', [record('0000000001')], { unsigned: true });
    const stale = await push(sandbox, 'push-c', [record('0000000001')], {
      timestamp: new Date(Date.now() - 10 * 60_000),
    });
    expect([wrongSecret.status, missing.status, stale.status]).toEqual([401, 401, 401]);
    expect(stale.body.error).toMatch(/tolerance|old/);
    expect(await storedRecords(sandbox)).toEqual([]);
    expect(await stats(sandbox)).toMatchObject({ pushes: 0, badSignatures: 3, records: 0 });
  });

  it('applies a webhook-id once and answers a repeat with the first results', async () => {
    const first = await push(sandbox, 'push-dup', [record('0000000001'), record('0000000002', 'nope')]);
    const again = await push(sandbox, 'push-dup', [record('0000000001'), record('0000000002', 'nope')]);
    expect(first.body.duplicate).toBe(false);
    expect(again.body).toEqual({ duplicate: true, results: first.body.results });
    const [stored] = await storedRecords(sandbox);
    expect(stored?.timesApplied).toBe(1);
    expect(await stats(sandbox)).toMatchObject({ pushes: 2, duplicatePushes: 1, records: 1 });
  });

  it('refuses a record with an invalid e-mail on its own', async () => {
    const reply = await push(sandbox, 'push-mail', [
      record('0000000001', 'not-an-email'),
      record('0000000002', ''),
      record('0000000003', null),
    ]);
    expect(reply.body.results).toEqual([
      { contactNumber: '0000000001', ok: false, reason: expect.stringMatching(/e-mail/) },
      { contactNumber: '0000000002', ok: true },
      { contactNumber: '0000000003', ok: true },
    ]);
    expect((await storedRecords(sandbox)).map((stored) => stored.contactNumber)).toEqual([
      '0000000002',
      '0000000003',
    ]);
  });

  it('refuses a relay whose account it does not hold, and links it once the account exists', async () => {
    const account: CrmContactRecord = {
      contactNumber: '0000000010',
      entity: 'account',
      fields: { Name: 'Théâtre du Léman' },
      sourceModifiedAt: '2026-11-01T10:00:00.000Z',
    };
    const relay: CrmContactRecord = {
      ...record('0000000011'),
      entity: 'relay',
      accountContactNumber: '0000000010',
    };
    const early = await push(sandbox, 'push-relay-first', [relay]);
    expect(early.body.results).toEqual([
      {
        contactNumber: '0000000011',
        ok: false,
        reason: 'accountContactNumber: no account 0000000010 to link the relay to',
      },
    ]);
    const inOrder = await push(sandbox, 'push-account-then-relay', [account, relay]);
    expect(inOrder.body.results).toEqual([
      { contactNumber: '0000000010', ok: true },
      { contactNumber: '0000000011', ok: true },
    ]);
    expect((await storedRecords(sandbox)).map((stored) => stored.contactNumber)).toEqual([
      '0000000010',
      '0000000011',
    ]);
  });

  it('answers 413 over 50 records and 400 naming the field of a malformed push', async () => {
    const tooMany = Array.from({ length: 51 }, (_, i) => record(String(i + 1).padStart(10, '0')));
    expect((await push(sandbox, 'push-big', tooMany)).status).toBe(413);
    const malformed = await push(sandbox, 'push-bad-body', [], {
      body: JSON.stringify({
        type: 'contact.upsert',
        data: { records: [{ contactNumber: '1', entity: 'robot' }] },
      }),
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatch(/data\.records\[0\]\.entity/);
    const wrongType = await push(sandbox, 'push-type', [], {
      body: JSON.stringify({ type: 'contact.delete', data: { records: [] } }),
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error).toMatch(/type/);
    expect(await storedRecords(sandbox)).toEqual([]);
  });

  it('counts pushes, records and the largest push; reset clears the counters', async () => {
    for (let p = 0; p < 3; p++) {
      const records = Array.from({ length: 50 }, (_, i) => record(String(p * 50 + i + 1).padStart(10, '0')));
      expect((await push(sandbox, `push-${p}`, records)).status).toBe(200);
    }
    await push(sandbox, 'push-small', [record('0000000001')]);
    expect(await stats(sandbox)).toEqual({
      pushes: 4,
      records: 150,
      maxContactsPerPush: 50,
      badSignatures: 0,
      duplicatePushes: 0,
      changesNotified: 0,
      changesRefused: 0,
    });
    await request(`${sandbox.url}/__sandbox/stats/reset`, { method: 'POST' });
    expect(await stats(sandbox)).toEqual({
      pushes: 0,
      records: 150,
      maxContactsPerPush: 0,
      badSignatures: 0,
      duplicatePushes: 0,
      changesNotified: 0,
      changesRefused: 0,
    });
  });

  it('answers injected faults on the webhook until cleared', async () => {
    await request(`${sandbox.url}/__sandbox/faults`, {
      body: JSON.stringify({ status: 429, count: 1, retryAfterSeconds: 3 }),
    });
    const response = await fetch(`${sandbox.url}/hooks/contacts`, { method: 'POST', body: '{}' });
    await response.arrayBuffer();
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('3');
    expect((await push(sandbox, 'push-after-fault', [record('0000000001')])).status).toBe(200);
    await request(`${sandbox.url}/__sandbox/faults`, { body: JSON.stringify({ status: 500, count: 9 }) });
    await request(`${sandbox.url}/__sandbox/faults`, { method: 'DELETE' });
    expect((await push(sandbox, 'push-cleared', [record('0000000002')])).status).toBe(200);
  });
});

describe('startSandboxes', () => {
  it('starts both sandboxes on their own ports and closes them', async () => {
    const sandboxes = await startSandboxes({
      s360Port: 0,
      crmPort: 0,
      s360: { jwtSecret: 'both-jwt-secret-0123456789' },
      crm: { signingSecret },
    });
    expect(sandboxes.s360.port).not.toBe(sandboxes.crm.port);
    expect((await request(`${sandboxes.s360.url}/__sandbox/stats`)).status).toBe(200);
    expect((await request(`${sandboxes.crm.url}/__sandbox/stats`)).status).toBe(200);
    await sandboxes.close();
    await expect(fetch(`${sandboxes.crm.url}/__sandbox/stats`)).rejects.toThrow();
  });
});
