/**
 * The real adapters against the sandboxes, over real HTTP: what a deployment relies on when it talks to S-360
 * and to a CRM webhook.
 */
import got from 'got';
import { WebhookCrmAdapter } from '../../src/adapters/crm/webhook-crm-adapter';
import { NotFoundError, PermanentError, ThrottledError } from '../../src/adapters/http/errors';
import { SlidingWindowLimiter } from '../../src/adapters/http/sliding-window-limiter';
import { S360Client } from '../../src/adapters/s360/s360-client';
import type { CrmContactRecord } from '../../src/mapping/crm-contact-record';
import { startCrmSandbox, type CrmSandbox } from '../../src/sandbox/crm-sandbox';
import { startS360Sandbox, type S360Sandbox } from '../../src/sandbox/s360-sandbox';
import { rejection } from '../helpers/rejection';

const jwtSecret = 'adapters-jwt-secret-0123456789';
const signingSecret = 'whsec_YWRhcHRlcnMtc2lnbmluZy1zZWNyZXQ=';

describe('adapters against the sandboxes', () => {
  let s360: S360Sandbox;
  let throttled: S360Sandbox;
  let crm: CrmSandbox;

  beforeAll(async () => {
    [s360, throttled, crm] = await Promise.all([
      startS360Sandbox({ port: 0, jwtSecret, institution: 'ADAPT', callsPerMinute: 0 }),
      startS360Sandbox({ port: 0, jwtSecret, institution: 'ADAPT', callsPerMinute: 3, throttleStatus: 509 }),
      startCrmSandbox({ port: 0, signingSecret }),
    ]);
    await got.post(`${s360.url}/__sandbox/contacts/generate`, { json: { count: 20, seed: 3 } });
    await got.post(`${throttled.url}/__sandbox/contacts/generate`, { json: { count: 5, seed: 3 } });
  });
  afterAll(() => Promise.all([s360?.close(), throttled?.close(), crm?.close()]));

  const client = (sandbox: S360Sandbox, secret = jwtSecret, limit = 1000): S360Client =>
    new S360Client({
      baseUrl: sandbox.url,
      institution: 'ADAPT',
      operator: 'crm-sync',
      partner: 'crm-sync',
      jwtSecret: secret,
      limiter: new SlidingWindowLimiter({ limit, windowMs: 60_000 }),
      timeoutMs: 5_000,
    });

  it('reads a contact with a signed JWT, keeping the leading zeros', async () => {
    const contact = await client(s360).getContactData('0000000004');
    expect(contact.contactNumber).toBe('0000000004');
    expect(contact.general).toBeDefined();
  });

  it('is refused with a wrong JWT secret, as a permanent UNAUTHORIZED error', async () => {
    const error = await rejection(client(s360, 'not-the-right-secret-000').getContactData('0000000004'));
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).code).toBe('UNAUTHORIZED');
  });

  it('reports an unknown contact as NotFoundError', async () => {
    await expect(client(s360).getContactData('0009999999')).rejects.toBeInstanceOf(NotFoundError);
  });

  it("turns S-360's 509 into a ThrottledError carrying Retry-After", async () => {
    const unthrottledClient = client(throttled, jwtSecret, 1000);
    const results = await Promise.allSettled(
      ['0000000001', '0000000002', '0000000003', '0000000004'].map((n) =>
        unthrottledClient.getContactData(n),
      ),
    );
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toBeInstanceOf(ThrottledError);
    const retryAfterMs = (rejected[0]?.reason as ThrottledError).retryAfterMs;
    expect(retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect(retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  const record = (contactNumber: string, email: string): CrmContactRecord => ({
    contactNumber,
    entity: 'person',
    fields: { LastName: 'Łukasiewicz', FirstName: 'Zoë', Email: email },
    sourceModifiedAt: '2026-11-01T10:00:00.000Z',
  });

  it('pushes signed records that the CRM verifies and stores', async () => {
    const adapter = new WebhookCrmAdapter({
      target: 'sandbox',
      url: `${crm.url}/hooks/contacts`,
      signingSecret,
    });
    const result = await adapter.pushContacts({
      pushId: 'push-1',
      records: [record('0000000001', 'zoe@example.com')],
    });
    expect(result.duplicate).toBe(false);
    const stored = await got(`${crm.url}/__sandbox/records/0000000001`).json<CrmContactRecord>();
    expect(stored.fields.LastName).toBe('Łukasiewicz');
  });

  it('is refused by the CRM with a wrong signing secret, and nothing is stored', async () => {
    const adapter = new WebhookCrmAdapter({
      target: 'sandbox',
      url: `${crm.url}/hooks/contacts`,
      signingSecret: 'whsec_d3Jvbmctc2lnbmluZy1zZWNyZXQ=',
    });
    const error = await rejection(
      adapter.pushContacts({ pushId: 'push-bad', records: [record('0000000002', 'a@example.com')] }),
    );
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).details.status).toBe(401);
    await expect(got(`${crm.url}/__sandbox/records/0000000002`)).rejects.toThrow(/404/);
  });

  it('re-pushes idempotently under the same webhook-id, and reports refused records', async () => {
    const adapter = new WebhookCrmAdapter({
      target: 'sandbox',
      url: `${crm.url}/hooks/contacts`,
      signingSecret,
    });
    const push = {
      pushId: 'push-2',
      records: [record('0000000003', 'ok@example.com'), record('0000000004', 'nope')],
    };
    const first = await adapter.pushContacts(push);
    const again = await adapter.pushContacts(push);
    expect(first.duplicate).toBe(false);
    expect(first.records).toEqual([
      { contactNumber: '0000000003', ok: true },
      expect.objectContaining({ contactNumber: '0000000004', ok: false }),
    ]);
    expect(again.duplicate).toBe(true);
    const stored = await got(`${crm.url}/__sandbox/records/0000000003`).json<{ timesApplied: number }>();
    expect(stored.timesApplied).toBe(1);
    const stats = await got(`${crm.url}/__sandbox/stats`).json<{
      duplicatePushes: number;
      badSignatures: number;
    }>();
    expect(stats).toMatchObject({ duplicatePushes: 1, badSignatures: 1 });
  });
});
