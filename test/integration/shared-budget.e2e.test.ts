/**
 * One S-360 API budget for the whole service: the outbound sync's reads and the inbound sync's reads and writes,
 * running at the same time, together stay within the configured calls per minute, measured by the S-360 sandbox.
 * This test takes a little over a minute: the budget is per minute.
 */
import got from 'got';
import type { S360Contact } from '../../src/adapters/s360/s360-contact';
import {
  inboundStatusQuery,
  inboundSync,
  inboundSyncWorkflowId,
  outboundSync,
  outboundSyncWorkflowId,
  statusQuery,
  triggerSignal,
} from '../../src/workflows';
import { eventually } from '../helpers/free-port';
import { crmRecords, generateS360Contacts, startEndToEnd, type EndToEnd } from '../helpers/end-to-end';

jest.setTimeout(240_000);

const target = 'budget';
/** The service's budget, below what the sandbox allows, as an operator would configure it. */
const budgetPerMinute = 24;

interface S360Stats {
  calls: number;
  throttled: number;
  maxCallsPer60s: number;
}

describe('the shared S-360 budget, end to end', () => {
  let e2e: EndToEnd;

  beforeAll(async () => {
    e2e = await startEndToEnd({
      target,
      taskQueue: 'e2e-budget',
      signingSecret: 'whsec_YnVkZ2V0LXNpZ25pbmctc2VjcmV0LTAx',
      s360CallsPerMinute: 30,
      budgetPerMinute,
      crmChanges: 'webhook',
    });
  });

  afterAll(() => e2e?.close());

  it('keeps outbound reads and inbound writes together within the calls per minute', async () => {
    const settings = { intervalMinutes: 1440, maxContactsPerRun: 500, batchSize: 10 };
    const { client, s360, crm } = e2e;
    await generateS360Contacts(s360, 16, 5);
    const outbound = await client.workflow.start(outboundSync, {
      workflowId: outboundSyncWorkflowId(target),
      taskQueue: 'e2e-budget',
      args: [{ target, settings }],
    });
    const inbound = await client.workflow.start(inboundSync, {
      workflowId: inboundSyncWorkflowId(target),
      taskQueue: 'e2e-budget',
      args: [{ target, settings }],
    });
    await eventually('the first outbound run', async () => {
      const status = await outbound.query(statusQuery);
      return status.totals.delivered === 16 && status.state !== 'running' ? status : undefined;
    });

    // Then both directions at once: 4 edits in S-360 (4 reads) and 4 in the CRM (a read and a write each).
    const numbers = (await crmRecords(crm))
      .filter((record) => record.entity === 'person')
      .map((record) => record.contactNumber);
    expect(numbers.length).toBeGreaterThanOrEqual(8);
    const [s360Side, crmSide] = [numbers.slice(0, 4), numbers.slice(4, 8)];
    for (const contactNumber of s360Side) {
      await got.patch(`${s360.url}/__sandbox/contacts/${contactNumber}`, {
        json: { general: { lastName: `S360-${contactNumber}` } },
      });
    }
    for (const contactNumber of crmSide) {
      await got.patch(`${crm.url}/__sandbox/records/${contactNumber}`, {
        json: { fields: { LastName: `CRM-${contactNumber}` } },
      });
    }
    await Promise.all([s360.notificationsIdle(), crm.changesIdle()]);
    await Promise.all([outbound.signal(triggerSignal), inbound.signal(triggerSignal)]);

    await eventually(
      'both directions done',
      async () => {
        const [out, inb] = await Promise.all([
          outbound.query(statusQuery),
          inbound.query(inboundStatusQuery),
        ]);
        return out.totals.runs >= 2 && inb.totals.applied >= 4 && out.state !== 'running' ? true : undefined;
      },
      180_000,
    );

    for (const contactNumber of crmSide) {
      const contact = await got(`${s360.url}/__sandbox/contacts/${contactNumber}`).json<S360Contact>();
      expect(contact.general.lastName).toBe(`CRM-${contactNumber}`);
    }
    const stats = await got(`${s360.url}/__sandbox/stats`).json<S360Stats>();
    // 16 + 4 reads outbound, 4 reads and 4 writes inbound: more than one minute's budget, never over it.
    expect(stats.calls).toBeGreaterThan(budgetPerMinute);
    expect(stats.maxCallsPer60s).toBeLessThanOrEqual(budgetPerMinute);
    expect(stats.throttled).toBe(0);
  });
});
