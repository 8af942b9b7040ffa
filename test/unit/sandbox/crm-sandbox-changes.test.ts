import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { crmChangeEventSchema, type CrmChangeEvent } from '../../../src/adapters/crm/crm-change-event';
import type { CrmContactRecord } from '../../../src/mapping/crm-contact-record';
import { startSandboxes } from '../../../src/sandbox';
import { startCrmSandbox, type CrmSandbox } from '../../../src/sandbox/crm-sandbox';

const signingSecret = 'whsec_Y3JtLXNhbmRib3gtc2lnbmluZy1zZWNyZXQ=';
const changeSecret = 'whsec_Y3JtLWNoYW5nZS13ZWJob29rLXNlY3JldA==';

interface Reply<T = Record<string, unknown>> {
  status: number;
  body: T;
}

async function request<T = Record<string, unknown>>(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const response = await fetch(url, {
    method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
    headers: { 'content-type': 'application/json', ...init.headers },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
}

const record = (contactNumber: string): CrmContactRecord => ({
  contactNumber,
  entity: 'person',
  fields: { LastName: 'Müller', FirstName: 'Zoë', Email: `c${contactNumber}@example.com` },
  sourceModifiedAt: '2026-11-01T10:00:00.000Z',
});

/** POSTs a push signed as the webhook adapter signs it (a write by crm-sync itself). */
function push(sandbox: CrmSandbox, webhookId: string, records: CrmContactRecord[]): Promise<Reply> {
  const body = JSON.stringify({ type: 'contact.upsert', data: { records } });
  const timestamp = new Date();
  return fetch(`${sandbox.url}/hooks/contacts`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': webhookId,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': new Webhook(signingSecret).sign(webhookId, timestamp, body),
    },
    body,
  }).then(async (response) => ({
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
  }));
}

const patch = (sandbox: CrmSandbox, contactNumber: string, fields: Record<string, unknown>) =>
  request(`${sandbox.url}/__sandbox/records/${contactNumber}`, { method: 'PATCH', body: { fields } });

const remove = (sandbox: CrmSandbox, contactNumber: string) =>
  request(`${sandbox.url}/__sandbox/records/${contactNumber}`, { method: 'DELETE' });

const stats = (sandbox: CrmSandbox) =>
  request<{ pushes: number; records: number; changesNotified: number; changesRefused: number }>(
    `${sandbox.url}/__sandbox/stats`,
  ).then((reply) => reply.body);

/** A POST the receiver got, with its signature verified. */
interface Received {
  webhookId: string;
  verified: boolean;
  event: CrmChangeEvent | undefined;
}

/** A receiver of the change webhook answering with `statuses` in turn, then 200. */
class Receiver {
  readonly received: Received[] = [];
  statuses: number[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    const webhook = new Webhook(changeSecret);
    this.server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const headers = {
          'webhook-id': String(req.headers['webhook-id']),
          'webhook-timestamp': String(req.headers['webhook-timestamp']),
          'webhook-signature': String(req.headers['webhook-signature']),
        };
        let verified = true;
        try {
          webhook.verify(raw, headers);
        } catch {
          verified = false;
        }
        const parsed = crmChangeEventSchema.safeParse(JSON.parse(raw));
        this.received.push({
          webhookId: headers['webhook-id'],
          verified,
          event: parsed.success ? parsed.data : undefined,
        });
        res.writeHead(this.statuses.shift() ?? 200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/notifications/crm/sandbox`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }
}

describe('CRM sandbox changes', () => {
  let receiver: Receiver;
  let sandbox: CrmSandbox;

  beforeEach(async () => {
    receiver = new Receiver();
    await receiver.start();
    sandbox = await startCrmSandbox({
      port: 0,
      signingSecret,
      changeWebhook: { url: receiver.url, signingSecret: changeSecret },
    });
    expect(await push(sandbox, 'push-1', [record('0000000001'), record('0000000002')])).toMatchObject({
      status: 200,
    });
  });
  afterEach(async () => {
    await sandbox.close();
    await receiver.stop();
  });

  it('posts a PATCH as one signed contact.changed with the merged fields', async () => {
    expect((await patch(sandbox, '0000000001', { FirstName: 'Anna', Phone: null })).status).toBe(200);
    await sandbox.changesIdle();

    expect(receiver.received).toHaveLength(1);
    const [received] = receiver.received;
    expect(received?.verified).toBe(true);
    expect(received?.webhookId).toMatch(/^msg_/);
    expect(received?.event).toEqual({
      type: 'contact.changed',
      data: {
        record: {
          contactNumber: '0000000001',
          entity: 'person',
          fields: { LastName: 'Müller', FirstName: 'Anna', Email: 'c0000000001@example.com', Phone: null },
          modifiedAt: expect.any(String) as string,
        },
      },
    });
    expect(await stats(sandbox)).toMatchObject({ changesNotified: 1, changesRefused: 0 });
  });

  it('posts a DELETE as contact.deleted, keeps the order and gives each event its own webhook-id', async () => {
    await patch(sandbox, '0000000002', { LastName: 'Meier' });
    expect(await remove(sandbox, '0000000001')).toEqual({ status: 200, body: { deleted: '0000000001' } });
    await patch(sandbox, '0000000002', { LastName: 'Meyer' });
    await sandbox.changesIdle();

    expect(receiver.received.map((r) => r.verified)).toEqual([true, true, true]);
    expect(receiver.received.map((r) => r.event?.type)).toEqual([
      'contact.changed',
      'contact.deleted',
      'contact.changed',
    ]);
    expect(receiver.received[1]?.event).toEqual({
      type: 'contact.deleted',
      data: { contactNumber: '0000000001', entity: 'person', deletedAt: expect.any(String) as string },
    });
    expect(
      receiver.received.map((r) =>
        r.event?.type === 'contact.changed' ? r.event.data.record.fields.LastName : null,
      ),
    ).toEqual(['Meier', null, 'Meyer']);
    expect(new Set(receiver.received.map((r) => r.webhookId)).size).toBe(3);
    expect((await request(`${sandbox.url}/__sandbox/records/0000000001`)).status).toBe(404);
  });

  it('retries an event answered 503 with the same webhook-id until a 2xx', async () => {
    receiver.statuses = [503, 503];
    await patch(sandbox, '0000000001', { FirstName: 'Anna' });
    await patch(sandbox, '0000000002', { FirstName: 'Ben' });
    await sandbox.changesIdle();

    const ids = receiver.received.map((r) => r.webhookId);
    expect(ids).toHaveLength(4);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[1]).toBe(ids[2]);
    expect(ids[3]).not.toBe(ids[0]);
    expect(receiver.received.every((r) => r.verified)).toBe(true);
    expect(await stats(sandbox)).toMatchObject({ changesNotified: 2, changesRefused: 0 });
  });

  it('does not retry an event answered 400: it is counted as refused and the next one goes', async () => {
    receiver.statuses = [400];
    await patch(sandbox, '0000000001', { FirstName: 'Anna' });
    await remove(sandbox, '0000000002');
    await sandbox.changesIdle();

    expect(receiver.received.map((r) => r.event?.type)).toEqual(['contact.changed', 'contact.deleted']);
    expect(await stats(sandbox)).toMatchObject({ changesNotified: 1, changesRefused: 1 });
  });

  it('makes no change event of the pushes on /hooks/contacts', async () => {
    expect(await push(sandbox, 'push-2', [record('0000000003'), record('0000000001')])).toMatchObject({
      status: 200,
    });
    await sandbox.changesIdle();
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(receiver.received).toEqual([]);
    expect((await request(`${sandbox.url}/changes`)).body).toEqual({ changes: [], nextAfter: 0 });
    expect(await stats(sandbox)).toMatchObject({
      pushes: 2,
      records: 3,
      changesNotified: 0,
      changesRefused: 0,
    });
  });

  it('creates a record as a CRM user would, announced by crmId, and keys it by the contact number pushed for it', async () => {
    const createdReply = await request<{ crmId: string; contactNumber: string }>(
      `${sandbox.url}/__sandbox/records`,
      { method: 'POST', body: { entity: 'person', fields: { FirstName: 'Léa', LastName: 'Favre' } } },
    );
    expect(createdReply.status).toBe(201);
    const { crmId } = createdReply.body;
    expect(crmId).toMatch(/^crm-/);
    expect(createdReply.body.contactNumber).toBe(`crm:${crmId}`);
    await sandbox.changesIdle();
    expect(receiver.received[0]?.verified).toBe(true);
    expect(receiver.received[0]?.event).toEqual({
      type: 'contact.changed',
      data: {
        record: {
          crmId,
          entity: 'person',
          fields: { FirstName: 'Léa', LastName: 'Favre' },
          modifiedAt: expect.any(String) as string,
        },
      },
    });
    expect(await stats(sandbox)).toMatchObject({ records: 3 });

    // crm-sync pushes the contact it created, with the crmId: the same record, now under its contact number.
    expect(
      await push(sandbox, 'push-new', [
        { ...record('0000000042'), crmId, fields: { Email: 'lea@example.org' } },
      ]),
    ).toMatchObject({ status: 200, body: { results: [{ contactNumber: '0000000042', ok: true }] } });
    expect((await request(`${sandbox.url}/__sandbox/records/crm:${crmId}`)).status).toBe(404);
    const linked = await request(`${sandbox.url}/__sandbox/records/0000000042`);
    expect(linked.body).toMatchObject({
      contactNumber: '0000000042',
      crmId,
      fields: { FirstName: 'Léa', LastName: 'Favre', Email: 'lea@example.org' },
      timesApplied: 1,
    });
    expect(await stats(sandbox)).toMatchObject({ records: 3 });

    // A later edit names both.
    await patch(sandbox, '0000000042', { FirstName: 'Léane' });
    await sandbox.changesIdle();
    expect(receiver.received[1]?.event).toMatchObject({
      type: 'contact.changed',
      data: { record: { contactNumber: '0000000042', crmId } },
    });
  });

  it('answers 400 to a new record without an entity', async () => {
    expect(
      (await request(`${sandbox.url}/__sandbox/records`, { method: 'POST', body: { fields: {} } })).status,
    ).toBe(400);
  });

  it('answers 404 to a DELETE of an unknown record, with no change', async () => {
    expect((await remove(sandbox, '0000000099')).status).toBe(404);
    expect((await request(`${sandbox.url}/changes`)).body).toEqual({ changes: [], nextAfter: 0 });
  });

  it('pages through GET /changes with after and nextAfter, listing the webhook events', async () => {
    for (const name of ['A', 'B', 'C', 'D', 'E']) await patch(sandbox, '0000000001', { FirstName: name });
    await remove(sandbox, '0000000002');
    await sandbox.changesIdle();

    type Page = { changes: { seq: number; event: CrmChangeEvent }[]; nextAfter: number };
    const seen: { seq: number; event: CrmChangeEvent }[] = [];
    let after = 0;
    for (;;) {
      const reply = await request<Page>(`${sandbox.url}/changes?after=${after}&limit=4`);
      expect(reply.status).toBe(200);
      if (reply.body.changes.length === 0) {
        expect(reply.body.nextAfter).toBe(after);
        break;
      }
      seen.push(...reply.body.changes);
      after = reply.body.nextAfter;
    }
    expect(seen.map((c) => c.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seen.map((c) => c.event)).toEqual(receiver.received.map((r) => r.event));
    expect(seen.every((c) => crmChangeEventSchema.safeParse(c.event).success)).toBe(true);

    expect((await request<Page>(`${sandbox.url}/changes?after=5`)).body).toMatchObject({
      changes: [{ seq: 6, event: { type: 'contact.deleted' } }],
      nextAfter: 6,
    });
    expect((await request(`${sandbox.url}/changes?after=-1`)).status).toBe(400);
  });
});

describe('CRM sandbox changes without a webhook', () => {
  it('lists the changes, resolves changesIdle at once and requires the bearer token when apiToken is set', async () => {
    const sandbox = await startCrmSandbox({ port: 0, signingSecret, apiToken: 'poll-token' });
    try {
      await push(sandbox, 'push-1', [record('0000000001')]);
      await patch(sandbox, '0000000001', { FirstName: 'Anna' });
      await sandbox.changesIdle();

      expect((await request(`${sandbox.url}/changes`)).status).toBe(401);
      expect(
        (await request(`${sandbox.url}/changes`, { headers: { authorization: 'Bearer wrong' } })).status,
      ).toBe(401);
      const reply = await request(`${sandbox.url}/changes`, {
        headers: { authorization: 'Bearer poll-token' },
      });
      expect(reply).toMatchObject({
        status: 200,
        body: { changes: [{ seq: 1, event: { type: 'contact.changed' } }], nextAfter: 1 },
      });
      expect(await stats(sandbox)).toMatchObject({ changesNotified: 0, changesRefused: 0 });
    } finally {
      await sandbox.close();
    }
  });

  it('startSandboxes passes crm.changeWebhook through', async () => {
    const receiver = new Receiver();
    await receiver.start();
    const sandboxes = await startSandboxes({
      s360Port: 0,
      crmPort: 0,
      s360: { jwtSecret: 'both-jwt-secret-0123456789' },
      crm: { signingSecret, changeWebhook: { url: receiver.url, signingSecret: changeSecret } },
    });
    try {
      await push(sandboxes.crm, 'push-1', [record('0000000001')]);
      await remove(sandboxes.crm, '0000000001');
      await sandboxes.crm.changesIdle();
      expect(receiver.received.map((r) => [r.verified, r.event?.type])).toEqual([[true, 'contact.deleted']]);
    } finally {
      await sandboxes.close();
      await receiver.stop();
    }
  });
});
