/**
 * End to end on a real Temporal dev server: the S-360 sandbox notifies changes to the service's receiver, the
 * outboundSync workflow claims, fetches (over real HTTP, with JWT), maps and pushes signed payloads to the CRM
 * sandbox.
 */
import got from 'got';
import { outboundSync, outboundSyncWorkflowId, statusQuery, triggerSignal } from '../../src/workflows';
import { eventually } from '../helpers/free-port';
import {
  crmRecords as crmSandboxRecords,
  s360Contact as s360SandboxContact,
  startEndToEnd,
  type EndToEnd,
} from '../helpers/end-to-end';

jest.setTimeout(180_000);

const target = 'e2e';

interface CrmStats {
  pushes: number;
  records: number;
  maxContactsPerPush: number;
  badSignatures: number;
  duplicatePushes: number;
}

describe('outbound sync, end to end', () => {
  let e2e: EndToEnd;

  beforeAll(async () => {
    e2e = await startEndToEnd({
      target,
      taskQueue: 'e2e-outbound',
      signingSecret: 'whsec_ZTJlLXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3',
    });
  });

  afterAll(() => e2e?.close());

  const crmRecords = () => crmSandboxRecords(e2e.crm);
  const crmStats = (): Promise<CrmStats> => got(`${e2e.crm.url}/__sandbox/stats`).json<CrmStats>();
  const s360Contact = (contactNumber: string) => s360SandboxContact(e2e.s360, contactNumber);

  it('delivers 1,200 generated contacts exactly once, in three runs of at most 500, with the right data', async () => {
    await got.post(`${e2e.s360.url}/__sandbox/contacts/generate`, { json: { count: 1200, seed: 7 } });
    await e2e.s360.notificationsIdle();
    await eventually('1,200 contacts pending in the outbox', async () => {
      const counts = await got(`${e2e.service.receiver.url}/api/outbox`, { searchParams: { target } }).json<{
        pending: number;
      }>();
      return counts.pending === 1200 ? counts : undefined;
    });

    const handle = await e2e.client.workflow.start(outboundSync, {
      workflowId: outboundSyncWorkflowId(target),
      taskQueue: e2e.config.temporal.taskQueue,
      args: [{ target, settings: { intervalMinutes: 1440, maxContactsPerRun: 500, batchSize: 50 } }],
    });
    const claimedPerRun: number[] = [];
    for (let run = 1; run <= 3; run += 1) {
      if (run > 1) await handle.signal(triggerSignal);
      const status = await eventually(`run ${run} to finish`, async () => {
        const current = await e2e.client.workflow.getHandle(handle.workflowId).query(statusQuery);
        return current.totals.runs >= run && current.state !== 'running' ? current : undefined;
      });
      claimedPerRun.push(status.lastRun?.claimed ?? -1);
    }
    expect(claimedPerRun).toEqual([500, 500, 200]);

    const records = await crmRecords();
    expect(records).toHaveLength(1200);
    expect(records.every((record) => record.timesApplied === 1)).toBe(true);
    const stats = await crmStats();
    expect(stats).toMatchObject({ records: 1200, badSignatures: 0, duplicatePushes: 0 });
    expect(stats.maxContactsPerPush).toBeLessThanOrEqual(50);
    // 24 full pushes, plus the pushes of relays held back until their structure's account was in the CRM.
    expect(stats.pushes).toBeGreaterThanOrEqual(24);

    // Entities: structures are accounts, relays are linked to one (the CRM sandbox refuses a relay whose account
    // it does not hold, and nothing was refused).
    const byNumber = new Map(records.map((record) => [record.contactNumber, record]));
    const relays = records.filter((record) => record.entity === 'relay');
    expect(relays.length).toBeGreaterThan(0);
    for (const relay of relays) {
      expect(byNumber.get(relay.accountContactNumber ?? '')?.entity).toBe('account');
    }

    // The data is right: compare a few records field by field with their S-360 contact.
    const withAddress = records
      .filter((record) => typeof record.fields.MailingStreet === 'string')
      .slice(0, 5);
    expect(withAddress.length).toBeGreaterThan(0);
    for (const record of withAddress) {
      const contact = await s360Contact(record.contactNumber);
      expect(record.contactNumber).toMatch(/^0\d{9}$/);
      const main = contact.addresses.find((address) => address.isMain) ?? contact.addresses[0];
      // Seed 001: the three lines joined with end-of-line, an empty middle line kept so it splits back.
      const lines = [main?.addressLine1, main?.addressLine2, main?.addressLine3].map((line) => line ?? '');
      while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
      expect(record.fields.MailingStreet).toBe(lines.join('\n'));
      const emailOptIn = contact.authorizations.find((authorization) => authorization.code === 'EMAIL');
      // Seed 001: the authorization with code EMAIL, inverted.
      expect(record.fields.HasOptedOutOfEmail).toBe(emailOptIn ? !emailOptIn.value : null);
      if (contact.contactType === 'INDIVIDUAL')
        expect(record.fields.LastName).toBe(contact.general.lastName?.trim());
    }

    const status = await handle.query(statusQuery);
    expect(status.totals).toMatchObject({ runs: 3, claimed: 1200, delivered: 1200, rejected: 0, parked: 0 });
  });

  it('flags the CRM record of a contact deactivated in S-360', async () => {
    const handle = e2e.client.workflow.getHandle(outboundSyncWorkflowId(target));
    const before = await handle.query(statusQuery);
    const person = (await crmRecords()).filter((record) => record.entity === 'person')[5];
    if (!person) throw new Error('expected persons among the generated contacts');
    await got.patch(`${e2e.s360.url}/__sandbox/contacts/${person.contactNumber}`, {
      json: { active: false },
    });
    await e2e.s360.notificationsIdle();
    await handle.signal(triggerSignal);
    const after = await eventually('the triggered run', async () => {
      const current = await handle.query(statusQuery);
      return current.totals.runs > before.totals.runs && current.state !== 'running' ? current : undefined;
    });
    expect(after.lastRun).toMatchObject({ claimed: 1, delivered: 1 });
    const record = (await crmRecords()).find((candidate) => candidate.contactNumber === person.contactNumber);
    expect(record).toMatchObject({ active: false, fields: { LastName: person.fields.LastName } });
  });

  it('parks a contact with invalid data, with its reason, and delivers the others; a retry re-queues it', async () => {
    const handle = e2e.client.workflow.getHandle(outboundSyncWorkflowId(target));
    const before = await handle.query(statusQuery);
    const [invalid, valid] = (await crmRecords())
      .filter((record) => record.entity === 'person')
      .slice(0, 2)
      .map((record) => record.contactNumber);
    await got.patch(`${e2e.s360.url}/__sandbox/contacts/${invalid}`, {
      json: { comMeans: { email: 'not-an-email' } },
    });
    await got.patch(`${e2e.s360.url}/__sandbox/contacts/${valid}`, {
      json: { general: { firstName: 'Zoë' } },
    });
    await e2e.s360.notificationsIdle();
    await eventually('2 pending contacts', async () => {
      const counts = await got(`${e2e.service.receiver.url}/api/outbox`, { searchParams: { target } }).json<{
        pending: number;
      }>();
      return counts.pending === 2 ? counts : undefined;
    });
    await handle.signal(triggerSignal);
    const after = await eventually('the triggered run', async () => {
      const current = await handle.query(statusQuery);
      return current.totals.runs > before.totals.runs && current.state !== 'running' ? current : undefined;
    });
    expect(after.lastRun).toMatchObject({ claimed: 2, delivered: 1, parked: 1 });

    const parked = await got(`${e2e.service.receiver.url}/api/parked`, { searchParams: { target } }).json<{
      parked: Array<{ contactNumber: string; code: string; field?: string; reason: string }>;
    }>();
    expect(parked.parked).toEqual([
      expect.objectContaining({ contactNumber: invalid, code: 'INVALID_RECORD', field: 'Email' }),
    ]);
    expect(parked.parked[0]?.reason).toMatch(/e-?mail/i);
    const updated = (await crmRecords()).find((record) => record.contactNumber === valid);
    expect(updated?.fields.FirstName).toBe('Zoë');

    // Fixed in S-360 and retried: it leaves the parked list and reaches the CRM.
    await got.patch(`${e2e.s360.url}/__sandbox/contacts/${invalid}`, {
      json: { comMeans: { email: 'fixed@example.com' } },
    });
    const retried = await got
      .post(`${e2e.service.receiver.url}/api/parked/retry`, { json: { target, contactNumbers: [invalid] } })
      .json<{ requeued: number }>();
    expect(retried.requeued).toBe(1);
    await handle.signal(triggerSignal);
    await eventually('the fixed contact in the CRM', async () => {
      const record = (await crmRecords()).find((candidate) => candidate.contactNumber === invalid);
      return record?.fields.Email === 'fixed@example.com' ? record : undefined;
    });
    const parkedAfter = await got(`${e2e.service.receiver.url}/api/parked`, {
      searchParams: { target },
    }).json<{
      parked: unknown[];
    }>();
    expect(parkedAfter.parked).toEqual([]);
  });
});
