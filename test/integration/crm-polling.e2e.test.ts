/**
 * End to end on a real Temporal dev server, for a CRM that cannot call out: the CRM sandbox posts no change
 * events, crm-sync polls its change list (`GET /changes`) at the start of each inbound run, and a CRM user's edit
 * reaches S-360 the same way as a webhook-delivered one.
 */
import type { WorkflowHandle } from '@temporalio/client';
import got from 'got';
import {
  inboundStatusQuery,
  inboundSync,
  inboundSyncWorkflowId,
  outboundSync,
  outboundSyncWorkflowId,
  statusQuery,
} from '../../src/workflows';
import {
  crmRecords,
  generateS360Contacts,
  runNow,
  s360Contact,
  startEndToEnd,
  untilRunAfter,
  type EndToEnd,
} from '../helpers/end-to-end';

jest.setTimeout(180_000);

const apiToken = 'e2e-crm-api-token';
const target = 'polled';

describe('inbound sync of a polled CRM, end to end', () => {
  let e2e: EndToEnd;
  let inbound: WorkflowHandle<typeof inboundSync>;

  beforeAll(async () => {
    // No change webhook: the sandbox only lists its users' changes, behind a token.
    e2e = await startEndToEnd({
      target,
      taskQueue: 'e2e-polling',
      signingSecret: 'whsec_ZTJlLXBvbGxpbmctc2lnbmluZy1zZWNyZXQ=',
      crmSandbox: { apiToken },
      targetSettings: { changes: { apiToken, pageSize: 2 } },
      crmChanges: 'poll',
    });
    const { client, config } = e2e;
    await generateS360Contacts(e2e.s360, 10, 7);
    const settings = { intervalMinutes: 1440, maxContactsPerRun: 500, batchSize: 50 };
    const outbound = await client.workflow.start(outboundSync, {
      workflowId: outboundSyncWorkflowId(target),
      taskQueue: config.temporal.taskQueue,
      args: [{ target, settings }],
    });
    await untilRunAfter(() => outbound.query(statusQuery), 0);
    inbound = await client.workflow.start(inboundSync, {
      workflowId: inboundSyncWorkflowId(target),
      taskQueue: config.temporal.taskQueue,
      args: [{ target, settings }],
    });
    await untilRunAfter(() => inbound.query(inboundStatusQuery), 0);
  });

  afterAll(() => e2e?.close());

  const runInbound = () => runNow(inbound, () => inbound.query(inboundStatusQuery));

  it('polls a CRM edit from the change list and writes it to S-360', async () => {
    const persons = (await crmRecords(e2e.crm)).filter((record) => record.entity === 'person');
    const [first, second] = persons;
    if (!first || !second) throw new Error('expected two persons among the generated contacts');
    // crm-sync's own pushes are not changes: nothing was polled so far.
    expect((await inbound.query(inboundStatusQuery)).lastRun).toMatchObject({ polled: 0, claimed: 0 });

    await got.patch(`${e2e.crm.url}/__sandbox/records/${first.contactNumber}`, {
      json: { fields: { FirstName: 'Élodie' } },
    });
    await got.patch(`${e2e.crm.url}/__sandbox/records/${second.contactNumber}`, {
      json: { fields: { LastName: 'Dubois-Møller' } },
    });
    await got.patch(`${e2e.crm.url}/__sandbox/records/${first.contactNumber}`, {
      json: { fields: { FirstName: 'Élodie-Anne' } },
    });

    const status = await runInbound();
    // Three changes over two pages of two, for two records: the latest change of each is applied.
    expect(status.lastRun).toMatchObject({ polled: 3, claimed: 2, applied: 2, parked: 0 });
    expect((await s360Contact(e2e.s360, first.contactNumber)).general.firstName).toBe('Élodie-Anne');
    expect((await s360Contact(e2e.s360, second.contactNumber)).general.lastName).toBe('Dubois-Møller');
    expect(await e2e.service.store.getPollCursor(target)).toBe('3');

    // The cursor was saved: the next run polls nothing new.
    expect((await runInbound()).lastRun).toMatchObject({ polled: 0, claimed: 0 });
  });
});
