/**
 * The initial import end to end on a real Temporal dev server: contacts that were in S-360 before crm-sync are
 * listed, fetched over real HTTP and pushed to the CRM sandbox, structures before their relays; changes made in
 * S-360 meanwhile reach the CRM through the outbound sync, after the import's push.
 */
import got from 'got';
import {
  importProgressQuery,
  initialImport,
  initialImportWorkflowId,
  outboundSync,
  outboundSyncWorkflowId,
  statusQuery,
  type ImportProgress,
} from '../../src/workflows';
import { eventually } from '../helpers/free-port';
import {
  crmPushStats,
  crmRecords,
  runNow,
  s360Contact,
  startEndToEnd,
  type EndToEnd,
} from '../helpers/end-to-end';

jest.setTimeout(180_000);

const target = 'e2e-import';

describe('initial import, end to end', () => {
  let e2e: EndToEnd;

  beforeAll(async () => {
    e2e = await startEndToEnd({
      target,
      taskQueue: 'e2e-import',
      signingSecret: 'whsec_ZTJlLWltcG9ydC1zaWduaW5nLXNlY3JldA==',
    });
  });

  afterAll(() => e2e?.close());

  const outbox = () =>
    got(`${e2e.service.receiver.url}/api/outbox`, { searchParams: { target } }).json<{
      pending: number;
      claimed: number;
      parked: number;
    }>();

  it('imports 1,500 existing contacts exactly once, structures before relays, while S-360 changes go through the outbound sync', async () => {
    // Contacts that were in S-360 before crm-sync: no change notification.
    await got.post(`${e2e.s360.url}/__sandbox/contacts/generate`, {
      json: { count: 1500, seed: 11, notify: false },
    });
    const outbound = await e2e.client.workflow.start(outboundSync, {
      workflowId: outboundSyncWorkflowId(target),
      taskQueue: e2e.config.temporal.taskQueue,
      args: [{ target, settings: { intervalMinutes: 1440, maxContactsPerRun: 500 } }],
    });
    const handle = await e2e.client.workflow.start(initialImport, {
      workflowId: initialImportWorkflowId(target),
      taskQueue: e2e.config.temporal.taskQueue,
      args: [{ target, settings: { pageSize: 100, concurrency: 3 } }],
    });

    // While the import runs, a contact it has not reached yet and one it may have pushed are changed in S-360.
    await eventually('the import under way', async () => {
      const progress = await handle.query(importProgressQuery);
      // (On a fast machine it may even be over: the changes then go with the outbound sync alone.)
      return progress.done > 0 ? progress : undefined;
    });
    const changed = ['0000001500', '0000000002'];
    for (const contactNumber of changed) {
      await got.patch(`${e2e.s360.url}/__sandbox/contacts/${contactNumber}`, {
        json: { general: { lastName: `Changed ${contactNumber}` } },
      });
    }

    const result: ImportProgress = await handle.result();
    expect(result).toMatchObject({ state: 'completed', total: 1500, done: 1500 });
    expect(result.totals.rejected).toBe(0);
    expect(result.totals.parked).toBe(0);

    // The changes reach the CRM: read by the import, or queued after it for the outbound sync's next run.
    await runNow(outbound, () => outbound.query(statusQuery));
    const records = await crmRecords(e2e.crm);
    expect(records).toHaveLength(1500);
    const byNumber = new Map(records.map((record) => [record.contactNumber, record]));
    for (const contactNumber of changed) {
      expect(JSON.stringify(byNumber.get(contactNumber)?.fields)).toContain(`Changed ${contactNumber}`);
      expect(byNumber.get(contactNumber)?.timesApplied).toBeLessThanOrEqual(2);
    }
    const stats = await crmPushStats(e2e.crm);
    expect(stats.maxContactsPerPush).toBeLessThanOrEqual(50);
    const unchangedTwice = records.filter(
      (record) => record.timesApplied !== 1 && !changed.includes(record.contactNumber),
    );
    expect(unchangedTwice).toEqual([]);
    // Relays went with their account: the CRM sandbox refuses a relay whose account it does not hold.
    const relays = records.filter((record) => record.entity === 'relay');
    expect(relays.length).toBeGreaterThan(0);
    const sample = await s360Contact(e2e.s360, '0000000003');
    expect(JSON.stringify(records.find((record) => record.contactNumber === '0000000003')?.fields)).toContain(
      sample.general.lastName ?? '',
    );
    expect(await outbox()).toMatchObject({ claimed: 0, parked: 0 });
  });
});
