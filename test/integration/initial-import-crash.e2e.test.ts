/**
 * The initial import survives a worker that dies mid-page: the service runs in a process of its own, is killed
 * with SIGKILL while pages are in flight (no shutdown, nothing flushed, the sync store left as it was), and a new
 * process on the same data folder takes over once the page's heartbeat times out (20 s). The CRM ends with every
 * contact exactly once and the right data; a push sent again after the crash carries the same `webhook-id`, so
 * the CRM recognises it, and both sides count it.
 */
import { join } from 'node:path';
import got from 'got';
import type { CrmSyncConfigInput } from '../../src/config/config-schema';
import {
  importProgressQuery,
  initialImport,
  initialImportWorkflowId,
  type ImportProgress,
} from '../../src/workflows';
import { crmPushStats, expectCrmHoldsEachContactOnce } from '../helpers/end-to-end';
import { eventually, freePort } from '../helpers/free-port';
import {
  startServiceProcess,
  startServiceProcessFixture,
  type ServiceProcess,
  type ServiceProcessFixture,
} from '../helpers/service-process';

jest.setTimeout(120_000);

const target = 'e2e-import-crash';
const taskQueue = 'e2e-import-crash';
const signingSecret = 'whsec_ZTJlLWltcG9ydC1jcmFzaC1zZWNyZXQ=';
const jwtSecret = 'e2e-import-crash-jwt-secret';
const contacts = 3_000;

describe('initial import with the worker killed midway, end to end', () => {
  let fixture: ServiceProcessFixture;
  let config: CrmSyncConfigInput;

  beforeAll(async () => {
    fixture = await startServiceProcessFixture({ target, taskQueue, signingSecret, jwtSecret });
    // Both processes on the same data folder, one after the other.
    config = fixture.configFor(await freePort(), { dataDir: join(fixture.folder, 'data') });
  });

  afterAll(() => fixture?.close());

  it(`imports ${contacts.toLocaleString('en-US')} contacts exactly once although the worker is SIGKILLed mid-import`, async () => {
    // Contacts that were in S-360 before crm-sync: no change notification.
    const { env, s360, crm, workflowBundlePath } = fixture;
    await got.post(`${s360.url}/__sandbox/contacts/generate`, {
      json: { count: contacts, seed: 23, notify: false },
    });
    // Each push waits a little in the CRM, so that the import lasts long enough to be killed with pages in flight.
    await got.post(`${crm.url}/__sandbox/faults`, { json: { latencyMs: 100 } });

    const first: ServiceProcess = await startServiceProcess({ config, workflowBundlePath });
    const handle = await env.client.workflow.start(initialImport, {
      workflowId: initialImportWorkflowId(target),
      taskQueue,
      args: [{ target, settings: { pageSize: 100, payloadSize: 25, concurrency: 2 } }],
    });

    // Killed once some pages are done and most are not: the two pages in flight die with it.
    const beforeKill = await eventually(
      'some pages imported',
      async () => {
        const progress = await handle.query(importProgressQuery);
        return progress.state === 'importing' && progress.totals.pages >= 3 ? progress : undefined;
      },
      60_000,
      50,
    );
    await first.kill();
    expect(beforeKill.done).toBeLessThan(contacts / 2);
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });

    // A new process on the same data folder: the embedded store reopens, and the pages are retried once their
    // heartbeat times out.
    const second = await startServiceProcess({ config, workflowBundlePath });
    const result: ImportProgress = await handle.result();
    await second.stop();

    expect(result).toMatchObject({ state: 'completed', total: contacts, done: contacts });
    expect(result.totals).toMatchObject({ rejected: 0, parked: 0, leftToOutboundSync: 0 });
    expect(result.totals.imported).toBe(contacts);

    // The kill interrupted pages: they were attempted again.
    const events = (await handle.fetchHistory()).events ?? [];
    const retried = events.filter((event) => (event.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
    expect(retried.length).toBeGreaterThan(0);

    // Every contact once in the CRM, with the right data; the CRM and the import count the same duplicates.
    await expectCrmHoldsEachContactOnce(crm, s360, contacts);
    const stats = await crmPushStats(crm);
    expect(stats.duplicatePushes).toBe(result.totals.duplicatePushes);
    expect(stats.maxContactsPerPush).toBeLessThanOrEqual(25);
  });
});
