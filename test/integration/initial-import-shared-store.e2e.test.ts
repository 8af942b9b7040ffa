/**
 * Two worker processes share one PostgreSQL sync store (a real server) and one task queue: the import's pages
 * spread over both, one is SIGKILLed with pages in flight, and the other finishes them once their heartbeats time
 * out (20 s). The CRM ends with every contact exactly once and the right data, and the pushes sent again after the
 * kill carry the same `webhook-id`, as both sides count.
 */
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
import { startPostgresServer, type PostgresServer } from '../helpers/postgres-server';
import {
  startServiceProcess,
  startServiceProcessFixture,
  type ServiceProcessFixture,
} from '../helpers/service-process';

jest.setTimeout(150_000);

const target = 'e2e-import-shared';
const taskQueue = 'e2e-import-shared';
const signingSecret = 'whsec_ZTJlLWltcG9ydC1zaGFyZWQtc2VjcmV0';
const jwtSecret = 'e2e-import-shared-jwt-secret';
const contacts = 3_000;

describe('initial import by two workers on a shared PostgreSQL store, one killed midway', () => {
  let fixture: ServiceProcessFixture;
  let postgres: PostgresServer;
  let configOf: (receiverPort: number) => CrmSyncConfigInput;

  beforeAll(async () => {
    [fixture, postgres] = await Promise.all([
      startServiceProcessFixture({ target, taskQueue, signingSecret, jwtSecret }),
      startPostgresServer(),
    ]);
    const storeUrl = await postgres.createDatabase('crm_sync');
    // Each worker has a receiver and a data folder of its own; the store, the queue and the targets are shared.
    configOf = (receiverPort) => fixture.configFor(receiverPort, { store: { url: storeUrl, poolSize: 4 } });
  });

  afterAll(async () => {
    await fixture?.close();
    await postgres?.stop();
  });

  it(`imports ${contacts.toLocaleString('en-US')} contacts exactly once across two workers, one of them SIGKILLed`, async () => {
    const { env, s360, crm, workflowBundlePath } = fixture;
    await got.post(`${s360.url}/__sandbox/contacts/generate`, {
      json: { count: contacts, seed: 31, notify: false },
    });
    // Each push waits in the CRM, so that the import lasts long enough to be killed with pages in flight.
    await got.post(`${crm.url}/__sandbox/faults`, { json: { latencyMs: 250 } });

    const [doomed, survivor] = await Promise.all([
      freePort().then((port) => startServiceProcess({ config: configOf(port), workflowBundlePath })),
      freePort().then((port) => startServiceProcess({ config: configOf(port), workflowBundlePath })),
    ]);
    const handle = await env.client.workflow.start(initialImport, {
      workflowId: initialImportWorkflowId(target),
      taskQueue,
      args: [{ target, settings: { pageSize: 100, payloadSize: 25, concurrency: 4 } }],
    });

    // Both workers take pages from the queue (a page's start is recorded, with the worker, once it is done), and
    // the one to be killed holds a page in flight.
    const identities = await eventually(
      'pages imported by both workers, and one in flight on the worker to kill',
      async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        const seen = new Set(
          events.flatMap((event) => event.activityTaskStartedEventAttributes?.identity ?? []),
        );
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        // Before the kill, a page still pending that the worker started is in its hands.
        const doomedBusy = pending.some(
          (activity) =>
            activity.activityType?.name === 'importContactPage' &&
            activity.lastWorkerIdentity?.split('@')[0] === String(doomed.pid),
        );
        return seen.size >= 2 && doomedBusy ? seen : undefined;
      },
      60_000,
      100,
    );
    expect([...identities].map((identity) => identity.split('@')[0]).sort()).toEqual(
      [String(doomed.pid), String(survivor.pid)].sort(),
    );

    await doomed.kill();
    expect((await handle.query(importProgressQuery)).done).toBeLessThan(contacts);
    const result: ImportProgress = await handle.result();
    await survivor.stop();

    expect(result).toMatchObject({ state: 'completed', total: contacts, done: contacts });
    expect(result.totals).toMatchObject({ rejected: 0, parked: 0, leftToOutboundSync: 0 });
    expect(result.totals.imported).toBe(contacts);

    // The pages the killed worker held were attempted again, by the survivor.
    const events = (await handle.fetchHistory()).events ?? [];
    const retried = events.filter((event) => (event.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
    expect(retried.length).toBeGreaterThan(0);
    expect(
      new Set(retried.map((event) => event.activityTaskStartedEventAttributes?.identity?.split('@')[0])),
    ).toEqual(new Set([String(survivor.pid)]));

    await expectCrmHoldsEachContactOnce(crm, s360, contacts);
    const stats = await crmPushStats(crm);
    expect(stats.duplicatePushes).toBe(result.totals.duplicatePushes);
    expect(stats.maxContactsPerPush).toBeLessThanOrEqual(25);
  });
});
