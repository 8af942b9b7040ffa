import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { startReceiver, type Receiver, type ReceiverOptions } from '../../../src/receiver/receiver-server';
import { openEmbeddedSyncStore } from '../../../src/store/open-sync-store';
import type { SyncStore } from '../../../src/store/sync-store';

// One embedded store for the file (PGlite takes seconds to start); each test starts its own receiver with its
// own targets, so that the tests do not see each other's rows.
let dataDir: string;
let store: SyncStore;
const receivers: Receiver[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'crm-sync-receiver-'));
  store = await openEmbeddedSyncStore(dataDir);
}, 120_000);

afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});

afterAll(async () => {
  await store?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 60_000);

async function receiver(options: Partial<ReceiverOptions> & { targets: string[] }): Promise<Receiver> {
  const started = await startReceiver({ port: 0, store, onError: () => undefined, ...options });
  receivers.push(started);
  return started;
}

function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const outbound = (target: string) => ({ direction: 'outbound', target }) as const;
const nothing = { pending: 0, claimed: 0, parked: 0 };

describe('POST /notifications/s360', () => {
  it('queues every contact for every target before answering, de-duplicated', async () => {
    const { url } = await receiver({ targets: ['n-crm-a', 'n-crm-b'], s360Token: 's360-secret' });
    const response = await post(
      `${url}/notifications/s360`,
      {
        contacts: [
          { contactNumber: '000123', changeType: 'UPDATE', modifiedAt: '2025-03-01T10:00:00Z' },
          { contactNumber: '456' },
          { contactNumber: '000123', changeType: 'UPDATE' },
        ],
      },
      { authorization: 'Bearer s360-secret' },
    );

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 2 });
    expect(await store.counts(outbound('n-crm-a'))).toEqual({ ...nothing, pending: 2 });
    expect(await store.counts(outbound('n-crm-b'))).toEqual({ ...nothing, pending: 2 });

    const again = await post(`${url}/notifications/s360?token=s360-secret`, { contactNumber: '000123' });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ accepted: 1 });
    expect(await store.counts(outbound('n-crm-a'))).toEqual({ ...nothing, pending: 2 });
    const claimed = await store.claim({ ...outbound('n-crm-a'), claimId: 'run-1', limit: 10 });
    expect(claimed.map((entry) => entry.contactNumber).sort()).toEqual(['000123', '456']);
  });

  it('answers 400 naming the bad field, and stores nothing', async () => {
    const { url } = await receiver({ targets: ['n-invalid'] });
    const response = await post(`${url}/notifications/s360`, {
      contacts: [
        { contactNumber: '1' },
        { contactNumber: '2' },
        { contactNumber: '3' },
        { contactNumber: 'A-4' },
      ],
    });

    expect(response.status).toBe(400);
    const body = (await response.json()) as {
      error: string;
      issues: Array<{ path: string; message: string }>;
    };
    expect(body.error).toContain(
      'contacts[3].contactNumber: expected a contact number: 1 to 20 digits as text',
    );
    expect(body.issues).toEqual([
      { path: 'contacts[3].contactNumber', message: 'expected a contact number: 1 to 20 digits as text' },
    ]);
    expect(await store.counts(outbound('n-invalid'))).toEqual(nothing);
  });

  it('answers 400 to malformed JSON, a missing field or a number as contact number', async () => {
    const { url } = await receiver({ targets: ['n-malformed'] });

    const broken = await post(`${url}/notifications/s360`, '{"contacts": [');
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: string }).error).toMatch(/^malformed JSON/);

    const missing = await post(`${url}/notifications/s360`, { changes: [] });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { issues: Array<{ path: string }> }).issues[0]?.path).toBe('contacts');

    const numeric = await post(`${url}/notifications/s360`, { contactNumber: 123 });
    expect(numeric.status).toBe(400);
    expect(((await numeric.json()) as { issues: Array<{ path: string }> }).issues[0]?.path).toBe(
      'contactNumber',
    );
    expect(await store.counts(outbound('n-malformed'))).toEqual(nothing);
  });

  it('answers 401 to a missing or wrong token, and stores nothing', async () => {
    const { url } = await receiver({ targets: ['n-token'], s360Token: 's360-secret' });
    const body = { contacts: [{ contactNumber: '1' }] };

    const missing = await post(`${url}/notifications/s360`, body);
    const wrongHeader = await post(`${url}/notifications/s360`, body, { authorization: 'Bearer nope' });
    const wrongQuery = await post(`${url}/notifications/s360?token=nope`, body);
    expect([missing.status, wrongHeader.status, wrongQuery.status]).toEqual([401, 401, 401]);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect(await store.counts(outbound('n-token'))).toEqual(nothing);
  });

  it('answers 413 to a body over the limit', async () => {
    const { url } = await receiver({ targets: ['n-large'], maxBodyBytes: 1024 });
    const contacts = Array.from({ length: 100 }, (_, index) => ({ contactNumber: String(index) }));
    const response = await post(`${url}/notifications/s360`, { contacts });
    expect(response.status).toBe(413);
    expect(await store.counts(outbound('n-large'))).toEqual(nothing);
  });

  it('answers 503 when the store cannot take the change, so that S-360 retries', async () => {
    const errors: unknown[] = [];
    const failing = Object.assign(Object.create(store) as SyncStore, {
      enqueue: () => Promise.reject(new Error('disk full')),
    });
    const { url } = await receiver({
      targets: ['n-down'],
      store: failing,
      onError: (err) => errors.push(err),
    });
    const response = await post(`${url}/notifications/s360`, { contacts: [{ contactNumber: '1' }] });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('10');
    expect(errors).toEqual([new Error('disk full')]);
  });

  it('answers 405 to another method and 404 elsewhere', async () => {
    const { url } = await receiver({ targets: ['n-routes'] });
    const get = await fetch(`${url}/notifications/s360`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await fetch(`${url}/nowhere`)).status).toBe(404);
  });
});

describe('POST /notifications/crm/<target>', () => {
  const secret = `whsec_${Buffer.from('crm-change-signing-secret-0123456789').toString('base64')}`;
  const inbound = (target: string) => ({ direction: 'inbound', target }) as const;
  let sent = 0;

  /** Posts `body` signed as the CRM would (`date` moves the timestamp), with `headers` overriding. */
  function postSigned(
    url: string,
    body: unknown,
    options: { signWith?: string; date?: Date; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const id = `msg_${(sent += 1)}`;
    const date = options.date ?? new Date();
    const signature = new Webhook(options.signWith ?? secret).sign(id, date, text);
    return post(url, text, {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(date.getTime() / 1000)),
      'webhook-signature': signature,
      ...options.headers,
    });
  }

  const changed = (contactNumber: string, fields: Record<string, unknown> = { FirstName: 'Zoë' }) => ({
    type: 'contact.changed',
    data: { record: { contactNumber, entity: 'person', fields, modifiedAt: '2025-03-01T10:00:00Z' } },
  });

  it('stores a signed change and queues its contact inbound for that target only', async () => {
    const { url } = await receiver({
      targets: ['c-ok', 'c-other'],
      crmSigningSecrets: { 'c-ok': secret, 'c-other': secret },
    });
    const fields = { FirstName: 'Zoë', Optin: true, Visits: 3, Phone: null };
    const response = await postSigned(`${url}/notifications/crm/c-ok`, changed('000123', fields));

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 1 });
    expect(await store.counts(inbound('c-ok'))).toEqual({ ...nothing, pending: 1 });
    expect(await store.counts(outbound('c-ok'))).toEqual(nothing);
    expect(await store.counts(inbound('c-other'))).toEqual(nothing);
    expect(await store.getInboundChanges({ target: 'c-ok', contactNumbers: ['000123'] })).toEqual([
      {
        target: 'c-ok',
        contactNumber: '000123',
        kind: 'changed',
        entity: 'person',
        fields,
        changedAt: '2025-03-01T10:00:00.000Z',
        receivedAt: expect.any(String) as unknown,
      },
    ]);
  });

  it('stores a record new in the CRM under crm:<crmId>, and refuses a record with neither number nor crmId', async () => {
    const { url } = await receiver({ targets: ['c-new'], crmSigningSecrets: { 'c-new': secret } });
    const endpoint = `${url}/notifications/crm/c-new`;
    const record = { entity: 'account', fields: { Name: 'Opéra' }, modifiedAt: '2025-03-01T10:00:00Z' };

    const created = await postSigned(endpoint, {
      type: 'contact.changed',
      data: { record: { ...record, crmId: '001AB' } },
    });
    expect(created.status).toBe(200);
    expect(await store.getInboundChanges({ target: 'c-new', contactNumbers: ['crm:001AB'] })).toEqual([
      expect.objectContaining({
        contactNumber: 'crm:001AB',
        crmId: '001AB',
        kind: 'changed',
        entity: 'account',
      }),
    ]);

    const neither = await postSigned(endpoint, { type: 'contact.changed', data: { record } });
    expect(neither.status).toBe(400);
    const body = (await neither.json()) as { error: string; issues: Array<{ path: string }> };
    expect(body.issues.map((issue) => issue.path)).toEqual(['data.record.contactNumber']);
    expect(body.error).toContain('data.record.crmId for a record new in the CRM');
    expect(await store.counts(inbound('c-new'))).toEqual({ ...nothing, pending: 1 });
  });

  it('stores a deletion', async () => {
    const { url } = await receiver({ targets: ['c-delete'], crmSigningSecrets: { 'c-delete': secret } });
    const response = await postSigned(`${url}/notifications/crm/c-delete`, {
      type: 'contact.deleted',
      data: { contactNumber: '77', deletedAt: '2025-03-02T08:00:00+01:00' },
    });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 1 });
    const [change] = await store.getInboundChanges({ target: 'c-delete', contactNumbers: ['77'] });
    expect(change).toEqual(
      expect.objectContaining({ kind: 'deleted', fields: {}, changedAt: '2025-03-02T07:00:00.000Z' }),
    );
    expect(change).not.toHaveProperty('entity');
    expect(await store.counts(inbound('c-delete'))).toEqual({ ...nothing, pending: 1 });
  });

  it('answers 401 to a bad signature, a stale timestamp or missing headers, and stores nothing', async () => {
    const { url } = await receiver({ targets: ['c-sig'], crmSigningSecrets: { 'c-sig': secret } });
    const endpoint = `${url}/notifications/crm/c-sig`;
    const otherSecret = `whsec_${Buffer.from('another-secret-of-some-other-crm').toString('base64')}`;

    const wrongSecret = await postSigned(endpoint, changed('1'), { signWith: otherSecret });
    const stale = await postSigned(endpoint, changed('2'), { date: new Date(Date.now() - 10 * 60_000) });
    const future = await postSigned(endpoint, changed('3'), { date: new Date(Date.now() + 10 * 60_000) });
    const tampered = await postSigned(endpoint, changed('4'), {
      headers: { 'webhook-signature': new Webhook(secret).sign('msg_x', new Date(), '{}') },
    });
    const unsigned = await post(endpoint, changed('5'));
    const noSignature = await postSigned(endpoint, changed('6'), { headers: { 'webhook-signature': '' } });

    const responses = [wrongSecret, stale, future, tampered, unsigned, noSignature];
    expect(responses.map((response) => response.status)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(((await stale.json()) as { error: string }).error).toMatch(/timestamp too old/);
    expect(((await unsigned.json()) as { error: string }).error).toBe('missing webhook-id header');
    expect(((await noSignature.json()) as { error: string }).error).toBe('missing webhook-signature header');
    expect(await store.counts(inbound('c-sig'))).toEqual(nothing);
    const contactNumbers = ['1', '2', '3', '4', '5', '6'];
    expect(await store.getInboundChanges({ target: 'c-sig', contactNumbers })).toEqual([]);
  });

  it('answers 400 naming the fields of a malformed event, and stores nothing', async () => {
    const { url } = await receiver({ targets: ['c-bad'], crmSigningSecrets: { 'c-bad': secret } });
    const endpoint = `${url}/notifications/crm/c-bad`;

    const record = await postSigned(endpoint, {
      type: 'contact.changed',
      data: {
        record: { contactNumber: 'A-1', entity: 'person', fields: { X: [1] }, modifiedAt: 'yesterday' },
      },
    });
    expect(record.status).toBe(400);
    const body = (await record.json()) as { error: string; issues: Array<{ path: string; message: string }> };
    expect(body.issues.map((issue) => issue.path).sort()).toEqual([
      'data.record.contactNumber',
      'data.record.fields.X',
      'data.record.modifiedAt',
    ]);
    expect(body.error).toContain('data.record.contactNumber: expected a contact number');

    const deletion = await postSigned(endpoint, { type: 'contact.deleted', data: { contactNumber: '1' } });
    expect(deletion.status).toBe(400);
    const deletionIssues = ((await deletion.json()) as { issues: Array<{ path: string }> }).issues;
    expect(deletionIssues.map((issue) => issue.path)).toEqual(['data.deletedAt']);

    const unknownType = await postSigned(endpoint, { type: 'contact.merged', data: {} });
    expect(unknownType.status).toBe(400);
    expect(((await unknownType.json()) as { issues: Array<{ path: string }> }).issues[0]?.path).toBe('type');

    const broken = await postSigned(endpoint, '{"type": ');
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: string }).error).toMatch(/^malformed JSON/);
    expect(await store.counts(inbound('c-bad'))).toEqual(nothing);
  });

  it('answers 404 to an unknown target or one without a signing secret', async () => {
    const { url } = await receiver({
      targets: ['c-known', 'c-unsigned'],
      crmSigningSecrets: { 'c-known': secret, 'c-elsewhere': secret },
    });

    const unknown = await postSigned(`${url}/notifications/crm/c-elsewhere`, changed('1'));
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toBe(
      'no CRM target "c-elsewhere" is configured to send changes here',
    );
    const unsigned = await postSigned(`${url}/notifications/crm/c-unsigned`, changed('1'));
    expect(unsigned.status).toBe(404);
    expect(((await unsigned.json()) as { error: string }).error).toMatch(/no signing secret configured/);
    expect((await postSigned(`${url}/notifications/crm/`, changed('1'))).status).toBe(404);
    expect((await postSigned(`${url}/notifications/crm/c-known/x`, changed('1'))).status).toBe(404);
    expect(await store.counts(inbound('c-unsigned'))).toEqual(nothing);
    expect(await store.counts(inbound('c-elsewhere'))).toEqual(nothing);

    const get = await fetch(`${url}/notifications/crm/c-known`);
    expect(get.status).toBe(405);
  });

  it('answers 503 when the store cannot take the change', async () => {
    const errors: unknown[] = [];
    const failing = Object.assign(Object.create(store) as SyncStore, {
      recordInboundChange: () => Promise.reject(new Error('disk full')),
    });
    const { url } = await receiver({
      targets: ['c-down'],
      crmSigningSecrets: { 'c-down': secret },
      store: failing,
      onError: (err) => errors.push(err),
    });
    const response = await postSigned(`${url}/notifications/crm/c-down`, changed('1'));
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('10');
    expect(errors).toEqual([new Error('disk full')]);
  });
});

describe('GET /healthz', () => {
  it('answers ok without a token', async () => {
    const { url } = await receiver({ targets: ['h'], s360Token: 'a', adminToken: 'b' });
    const response = await fetch(`${url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
  });
});

describe('admin API', () => {
  const admin = { authorization: 'Bearer admin-secret' };

  it('lists the parked rows of a mass update by line with their counts, and requires the admin token', async () => {
    const { url } = await receiver({ targets: ['a-mass'], adminToken: 'admin-secret' });
    await store.parkMassUpdateRows([
      {
        updateId: 'renewals 2026',
        line: 12,
        contactNumber: '0099',
        code: 'NOT_FOUND',
        reason: 'S-360: Contact 0099 does not exist',
        update: { contactNumber: '0099', criteria: [{ code: 'RENEWAL', value: 'yes' }] },
      },
      { updateId: 'renewals 2026', line: 4, code: 'INVALID_ROW', reason: 'the row has 3 fields' },
    ]);
    const path = `${url}/api/mass-updates/${encodeURIComponent('renewals 2026')}/parked`;
    expect((await fetch(path)).status).toBe(401);
    const response = await fetch(path, { headers: admin });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      updateId: 'renewals 2026',
      parked: 2,
      retryable: 1,
      rows: [
        expect.objectContaining({ line: 4, code: 'INVALID_ROW', reason: 'the row has 3 fields' }),
        expect.objectContaining({
          line: 12,
          contactNumber: '0099',
          code: 'NOT_FOUND',
          update: { contactNumber: '0099', criteria: [{ code: 'RENEWAL', value: 'yes' }] },
        }),
      ],
    });
    const page = await fetch(`${path}?fromLine=5&limit=1`, { headers: admin });
    expect(((await page.json()) as { rows: Array<{ line: number }> }).rows.map((row) => row.line)).toEqual([
      12,
    ]);
    const bad = await fetch(`${path}?limit=0`, { headers: admin });
    expect(bad.status).toBe(400);
    const none = await fetch(`${url}/api/mass-updates/nothing/parked`, { headers: admin });
    expect(await none.json()).toEqual({ updateId: 'nothing', parked: 0, retryable: 0, rows: [] });
  });

  it('lists parked records newest first, and requires the admin token', async () => {
    const { url } = await receiver({ targets: ['a-list'], adminToken: 'admin-secret' });
    await store.park({
      ...outbound('a-list'),
      contactNumber: '01',
      code: 'NOT_FOUND',
      reason: 'no such contact',
    });
    await store.park({
      ...outbound('a-list'),
      contactNumber: '02',
      code: 'INVALID_RECORD',
      reason: 'email: not an e-mail address',
      field: 'email',
    });

    expect((await fetch(`${url}/api/parked?target=a-list`)).status).toBe(401);
    const response = await fetch(`${url}/api/parked?target=a-list&direction=outbound&limit=10`, {
      headers: admin,
    });
    expect(response.status).toBe(200);
    const { parked } = (await response.json()) as { parked: Array<Record<string, unknown>> };
    expect(parked).toEqual([
      expect.objectContaining({ contactNumber: '02', code: 'INVALID_RECORD', field: 'email', attempts: 1 }),
      expect.objectContaining({ contactNumber: '01', code: 'NOT_FOUND', reason: 'no such contact' }),
    ]);

    const limited = await fetch(`${url}/api/parked?target=a-list&limit=1`, { headers: admin });
    expect(((await limited.json()) as { parked: unknown[] }).parked).toHaveLength(1);
    const bad = await fetch(`${url}/api/parked?target=a-list&direction=sideways&limit=0`, { headers: admin });
    expect(bad.status).toBe(400);
    const issues = ((await bad.json()) as { issues: Array<{ path: string }> }).issues.map(
      (issue) => issue.path,
    );
    expect(issues.sort()).toEqual(['direction', 'limit']);
  });

  it('retries parked records into the outbox and reports the counts', async () => {
    const { url } = await receiver({ targets: ['a-retry'], adminToken: 'admin-secret' });
    for (const contactNumber of ['1', '2', '3']) {
      await store.park({ ...outbound('a-retry'), contactNumber, code: 'NOT_FOUND', reason: 'gone' });
    }

    const some = await post(`${url}/api/parked/retry`, { target: 'a-retry', contactNumbers: ['1'] }, admin);
    expect(some.status).toBe(200);
    expect(await some.json()).toEqual({ requeued: 1 });
    const counts = await fetch(`${url}/api/outbox?target=a-retry`, { headers: admin });
    expect(await counts.json()).toEqual({
      direction: 'outbound',
      target: 'a-retry',
      pending: 1,
      claimed: 0,
      parked: 2,
    });

    const all = await post(`${url}/api/parked/retry`, { target: 'a-retry', direction: 'outbound' }, admin);
    expect(await all.json()).toEqual({ requeued: 2 });
    expect(await store.counts(outbound('a-retry'))).toEqual({ ...nothing, pending: 3 });
  });

  it('answers 400 naming the fields of a bad retry request', async () => {
    const { url } = await receiver({ targets: ['a-bad'], adminToken: 'admin-secret' });
    const response = await post(`${url}/api/parked/retry`, { contactNumbers: ['12', 'x'] }, admin);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; issues: Array<{ path: string }> };
    expect(body.issues.map((issue) => issue.path).sort()).toEqual(['contactNumbers[1]', 'target']);
    expect(body.error).toContain('contactNumbers[1]: expected a contact number');

    const wrongToken = await post(
      `${url}/api/parked/retry`,
      { target: 'a-bad' },
      { authorization: 'Bearer x' },
    );
    expect(wrongToken.status).toBe(401);
    const noTarget = await fetch(`${url}/api/outbox`, { headers: admin });
    expect(noTarget.status).toBe(400);
  });

  it('queues contacts for one target, de-duplicated, outbound unless told', async () => {
    const { url } = await receiver({ targets: ['e-one', 'e-two'], adminToken: 'admin-secret' });
    const response = await post(
      `${url}/api/outbox/enqueue`,
      { target: 'e-one', contactNumbers: ['11', '12', '11'] },
      admin,
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ queued: 2 });
    expect(await store.counts(outbound('e-one'))).toEqual({ ...nothing, pending: 2 });
    expect(await store.counts(outbound('e-two'))).toEqual(nothing);

    const inbound = await post(
      `${url}/api/outbox/enqueue`,
      { target: 'e-two', direction: 'inbound', contactNumbers: ['13'] },
      admin,
    );
    expect(await inbound.json()).toEqual({ queued: 1 });
    expect(await store.counts({ direction: 'inbound', target: 'e-two' })).toEqual({ ...nothing, pending: 1 });
    expect(await store.counts(outbound('e-two'))).toEqual(nothing);

    const noToken = await post(`${url}/api/outbox/enqueue`, { target: 'e-one', contactNumbers: ['1'] });
    expect(noToken.status).toBe(401);
  });

  it('answers 404 naming the configured targets and 400 naming the fields of a bad enqueue request', async () => {
    const { url } = await receiver({ targets: ['e-bad-a', 'e-bad-b'], adminToken: 'admin-secret' });
    const unknown = await post(`${url}/api/outbox/enqueue`, { target: 'nope', contactNumbers: ['1'] }, admin);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toBe(
      'no CRM target "nope" is configured (configured: e-bad-a, e-bad-b)',
    );

    const bad = await post(
      `${url}/api/outbox/enqueue`,
      { target: 'e-bad-a', direction: 'sideways', contactNumbers: ['1', 'x1'] },
      admin,
    );
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: string; issues: Array<{ path: string }> };
    expect(body.issues.map((issue) => issue.path).sort()).toEqual(['contactNumbers[1]', 'direction']);
    expect(body.error).toContain('contactNumbers[1]: expected a contact number');

    const empty = await post(`${url}/api/outbox/enqueue`, { target: 'e-bad-a', contactNumbers: [] }, admin);
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: string }).error).toContain(
      'contactNumbers: expected at least one',
    );
    const tooMany = await post(
      `${url}/api/outbox/enqueue`,
      { target: 'e-bad-a', contactNumbers: Array.from({ length: 501 }, (_, i) => String(i + 1)) },
      admin,
    );
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: string }).error).toContain(
      'contactNumbers: expected at most 500',
    );
    const missing = await post(`${url}/api/outbox/enqueue`, { target: 'e-bad-a' }, admin);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { issues: Array<{ path: string }> }).issues[0]?.path).toBe(
      'contactNumbers',
    );
    expect(await store.counts(outbound('e-bad-a'))).toEqual(nothing);
    expect((await fetch(`${url}/api/outbox/enqueue`, { headers: admin })).status).toBe(405);
  });

  it('lists conflicts newest first, filtered by target and limited', async () => {
    const { url } = await receiver({ targets: ['c-list'], adminToken: 'admin-secret' });
    const conflict = {
      target: 'c-list',
      contactNumber: '21',
      field: 'Email',
      baseValue: 'old@example.com',
      s360Value: 's360@example.com',
      crmValue: 'crm@example.com',
      policy: 'latest',
      winner: 'crm',
    } as const;
    await store.recordConflicts([conflict]);
    await store.recordConflicts([
      { ...conflict, contactNumber: '22', field: 'Phone', baseValue: null, s360Value: 1, crmValue: true },
    ]);
    await store.recordConflicts([{ ...conflict, target: 'c-other', contactNumber: '23' }]);

    expect((await fetch(`${url}/api/conflicts`)).status).toBe(401);
    const response = await fetch(`${url}/api/conflicts?target=c-list`, { headers: admin });
    expect(response.status).toBe(200);
    const { conflicts } = (await response.json()) as { conflicts: Array<Record<string, unknown>> };
    expect(conflicts).toEqual([
      {
        ...conflict,
        contactNumber: '22',
        field: 'Phone',
        baseValue: null,
        s360Value: 1,
        crmValue: true,
        decidedAt: expect.any(String),
      },
      { ...conflict, decidedAt: expect.any(String) },
    ]);

    const limited = await fetch(`${url}/api/conflicts?target=c-list&limit=1`, { headers: admin });
    expect(((await limited.json()) as { conflicts: Array<{ contactNumber: string }> }).conflicts).toEqual([
      expect.objectContaining({ contactNumber: '22' }),
    ]);
    const all = await fetch(`${url}/api/conflicts?limit=10000`, { headers: admin });
    const everyTarget = ((await all.json()) as { conflicts: Array<{ target: string }> }).conflicts;
    expect(everyTarget.map((row) => row.target)).toEqual(expect.arrayContaining(['c-list', 'c-other']));

    for (const limit of ['0', '10001', 'x']) {
      const bad = await fetch(`${url}/api/conflicts?limit=${limit}`, { headers: admin });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { issues: Array<{ path: string }> }).issues.map((i) => i.path)).toEqual([
        'limit',
      ]);
    }
  });
});

describe('startReceiver', () => {
  it('refuses to start without a target', async () => {
    await expect(startReceiver({ port: 0, store, targets: [] })).rejects.toThrow(/at least one CRM target/);
  });

  it('refuses a CRM signing secret that is not a Standard Webhooks secret', async () => {
    await expect(
      startReceiver({ port: 0, store, targets: ['s'], crmSigningSecrets: { s: 'whsec_abc' } }),
    ).rejects.toThrow(/signing secret of target "s" is not a Standard Webhooks secret/);
  });

  it('gives a reachable URL for a wildcard host and closes idempotently', async () => {
    const started = await startReceiver({ host: '0.0.0.0', port: 0, store, targets: ['w'] });
    expect(started.url).toBe(`http://127.0.0.1:${started.port}`);
    expect((await fetch(`${started.url}/healthz`)).status).toBe(200);
    await Promise.all([started.close(), started.close()]);
    await expect(fetch(`${started.url}/healthz`)).rejects.toThrow();
  });
});
