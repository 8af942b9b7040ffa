/**
 * The webhook adapter's record search against the CRM sandbox over real HTTP (`GET /query`), and against a server
 * that answers something else than the documented shape.
 */
import { WebhookCrmAdapter, createCrmAdapter } from '../../../src/adapters/crm';
import { PermanentError } from '../../../src/adapters/http/errors';
import type { CrmContactRecord } from '../../../src/mapping/crm-contact-record';
import { startCrmSandbox, type CrmSandbox } from '../../../src/sandbox/crm-sandbox';
import { isCredentialsRefusal } from '../../../src/activities/translate-error';
import { rejection } from '../../helpers/rejection';
import { startLocalServer, type LocalServer } from './local-server';

const signingSecret = 'whsec_Y3JtLXF1ZXJ5LXNpZ25pbmctc2VjcmV0';
const apiToken = 'query-token';

const person = (contactNumber: string, fields: CrmContactRecord['fields']): CrmContactRecord => ({
  contactNumber,
  entity: 'person',
  fields: { LastName: `Contact ${contactNumber}`, ...fields },
  sourceModifiedAt: '2026-11-01T10:00:00.000Z',
});

describe("the webhook CRM's record search", () => {
  let crm: CrmSandbox;
  let adapter: WebhookCrmAdapter;

  beforeAll(async () => {
    crm = await startCrmSandbox({ port: 0, signingSecret, apiToken });
    adapter = new WebhookCrmAdapter({
      target: 'sandbox',
      url: `${crm.url}/hooks/contacts`,
      signingSecret,
      query: { url: `${crm.url}/query`, apiToken, pageSize: 2 },
    });
    await adapter.pushContacts({
      pushId: 'query-test/1',
      records: [
        person('0001', { Renewal__c: true, Season__c: '2026-2027' }),
        person('0002', { Renewal__c: false, Season__c: '2026-2027' }),
        person('0003', { Renewal__c: true, Season__c: '2025-2026' }),
        person('0004', { Renewal__c: true, Season__c: '2026-2027' }),
        person('0005', { Renewal__c: true, Season__c: '2026-2027' }),
      ],
    });
    // A record a CRM user created: known by its CRM ID only.
    await fetch(`${crm.url}/__sandbox/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        entity: 'person',
        fields: { LastName: 'New', Renewal__c: true, Season__c: '2026-2027' },
      }),
    });
  });

  afterAll(() => crm?.close());

  it('pages through the records a query selects, as they are in the CRM', async () => {
    const query = "Renewal__c = true AND Season__c = '2026-2027'";
    const pages = [];
    let after: string | undefined;
    do {
      const page = await adapter.queryRecords!({
        query,
        ...(after !== undefined ? { after } : {}),
        limit: 2,
      });
      pages.push(page.records.map((record) => record.contactNumber ?? record.crmId));
      after = page.next ?? undefined;
    } while (after !== undefined);
    expect(pages).toEqual([
      ['0001', '0004'],
      ['0005', 'crm-000001'],
    ]);

    const first = await adapter.queryRecords!({ query: "Season__c = '2025-2026'", limit: 10 });
    expect(first).toEqual({
      records: [
        {
          contactNumber: '0003',
          entity: 'person',
          fields: { LastName: 'Contact 0003', Renewal__c: true, Season__c: '2025-2026' },
        },
      ],
      next: null,
    });
    expect(adapter.queryPageSize).toBe(2);
  });

  it('says why the CRM refused a query, as a permanent error', async () => {
    const err = await rejection(adapter.queryRecords!({ query: 'Renewal__c true', limit: 2 }));
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toContain('query: expected = or != at character 12');
  });

  it('is refused without the API token', async () => {
    const withoutToken = createCrmAdapter({
      name: 'sandbox',
      kind: 'webhook',
      url: `${crm.url}/hooks/contacts`,
      signingSecret,
      query: { url: `${crm.url}/query` },
    });
    const err = await rejection(withoutToken.queryRecords!({ query: '', limit: 1 }));
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).details.status).toBe(401);
    expect(isCredentialsRefusal(err)).toBe(true);
  });

  it('exists only on a target that configures it', () => {
    const plain = createCrmAdapter({
      name: 'plain',
      kind: 'webhook',
      url: `${crm.url}/hooks/contacts`,
      signingSecret,
    });
    expect(plain.queryRecords).toBeUndefined();
  });
});

describe('a record search answering something else', () => {
  let server: LocalServer;
  beforeAll(async () => {
    server = await startLocalServer((_request, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          records: [{ entity: 'person', fields: {} }, { contactNumber: '1' }],
          nextAfter: null,
        }),
      );
    });
  });
  afterAll(() => server?.close());

  it('names the fields at fault', async () => {
    const adapter = new WebhookCrmAdapter({
      target: 'odd',
      url: `${server.url}/hooks`,
      signingSecret,
      query: { url: `${server.url}/query` },
    });
    const err = (await rejection(adapter.queryRecords!({ query: 'x = 1', limit: 5 }))) as PermanentError;
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('INVALID_RESPONSE');
    expect(err.message).toMatch(/^CRM odd GET \/query: malformed record search \(/);
    expect(err.message).toContain('records[0].contactNumber: expected a contactNumber, or a crmId');
    expect(err.message).toContain('records[1].entity');
    expect(server.requests[0]?.path).toBe('/query?q=x+%3D+1&limit=5');
  });
});
