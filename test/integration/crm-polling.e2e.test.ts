/**
 * End to end on a real Temporal dev server, for a CRM that cannot call out: the CRM sandbox posts no change
 * events, crm-sync polls its change list (`GET /changes`) at the start of each inbound run, and a CRM user's edit
 * reaches S-360 the same way as a webhook-delivered one.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got from 'got';
import type { S360Contact } from '../../src/adapters/s360/s360-contact';
import type { CrmSyncConfig } from '../../src/config/config-schema';
import { parseConfig } from '../../src/config/load-config';
import { startCrmSandbox, type CrmSandbox } from '../../src/sandbox/crm-sandbox';
import { startS360Sandbox, type S360Sandbox } from '../../src/sandbox/s360-sandbox';
import { devServerExecutable } from '../../src/temporal-server/locate-binaries';
import { startService, type RunningService } from '../../src/worker';
import {
  inboundStatusQuery,
  inboundSync,
  inboundSyncWorkflowId,
  outboundSync,
  outboundSyncWorkflowId,
  statusQuery,
  triggerSignal,
} from '../../src/workflows';
import { eventually, freePort } from '../helpers/free-port';

jest.setTimeout(180_000);

const jwtSecret = 'e2e-jwt-secret-0123456789';
const signingSecret = 'whsec_ZTJlLXBvbGxpbmctc2lnbmluZy1zZWNyZXQ=';
const apiToken = 'e2e-crm-api-token';
const target = 'polled';

interface CrmRecord {
  contactNumber: string;
  entity: string;
  fields: Record<string, unknown>;
}

describe('inbound sync of a polled CRM, end to end', () => {
  let env: TestWorkflowEnvironment;
  let client: Client;
  let s360: S360Sandbox;
  let crm: CrmSandbox;
  let service: RunningService;
  let dataDir: string;
  let config: CrmSyncConfig;
  let inbound: WorkflowHandle<typeof inboundSync>;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'crm-sync-polling-e2e-'));
    const [workflowBundle, temporal, receiverPort] = await Promise.all([
      bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') }),
      TestWorkflowEnvironment.createLocal({ server: { executable: devServerExecutable(), ip: '127.0.0.1' } }),
      freePort(),
    ]);
    env = temporal;
    client = env.client;
    const receiverUrl = `http://127.0.0.1:${receiverPort}`;
    // No changeWebhook: the sandbox only lists its users' changes.
    crm = await startCrmSandbox({ port: 0, signingSecret, apiToken });
    s360 = await startS360Sandbox({
      port: 0,
      jwtSecret,
      institution: 'E2E',
      callsPerMinute: 60_000,
      notificationUrl: `${receiverUrl}/notifications/s360`,
    });
    config = parseConfig({
      dataDir,
      temporal: { address: env.address, namespace: env.namespace ?? 'default', taskQueue: 'e2e-polling' },
      s360: { baseUrl: s360.url, institution: 'E2E', jwtSecret, callsPerMinute: 60_000 },
      crm: {
        targets: [
          {
            name: target,
            kind: 'webhook',
            url: `${crm.url}/hooks/contacts`,
            signingSecret,
            changes: { url: `${crm.url}/changes`, apiToken, pageSize: 2 },
          },
        ],
      },
      receiver: { port: receiverPort },
    });
    service = await startService(config, { workflowBundle });

    await got.post(`${s360.url}/__sandbox/contacts/generate`, { json: { count: 10, seed: 7 } });
    await s360.notificationsIdle();
    const settings = { intervalMinutes: 1440, maxContactsPerRun: 500, batchSize: 50 };
    const outbound = await client.workflow.start(outboundSync, {
      workflowId: outboundSyncWorkflowId(target),
      taskQueue: config.temporal.taskQueue,
      args: [{ target, settings }],
    });
    await eventually('the first outbound run', async () => {
      const status = await outbound.query(statusQuery);
      return status.totals.runs >= 1 && status.state !== 'running' ? status : undefined;
    });
    inbound = await client.workflow.start(inboundSync, {
      workflowId: inboundSyncWorkflowId(target),
      taskQueue: config.temporal.taskQueue,
      args: [{ target, settings }],
    });
    await eventually('the first inbound run', async () => {
      const status = await inbound.query(inboundStatusQuery);
      return status.totals.runs >= 1 && status.state !== 'running' ? status : undefined;
    });
  });

  afterAll(async () => {
    await service?.shutdown();
    await Promise.all([s360?.close(), crm?.close()]);
    await env?.teardown();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const crmRecords = async (): Promise<CrmRecord[]> =>
    (await got(`${crm.url}/__sandbox/records`).json<{ records: CrmRecord[] }>()).records;
  const s360Contact = (contactNumber: string): Promise<S360Contact> =>
    got(`${s360.url}/__sandbox/contacts/${contactNumber}`).json<S360Contact>();

  async function runInbound() {
    const before = (await inbound.query(inboundStatusQuery)).totals.runs;
    await inbound.signal(triggerSignal);
    return eventually('the triggered inbound run', async () => {
      const status = await inbound.query(inboundStatusQuery);
      return status.totals.runs > before && status.state !== 'running' ? status : undefined;
    });
  }

  it('polls a CRM edit from the change list and writes it to S-360', async () => {
    const persons = (await crmRecords()).filter((record) => record.entity === 'person');
    const [first, second] = persons;
    if (!first || !second) throw new Error('expected two persons among the generated contacts');
    // crm-sync's own pushes are not changes: nothing was polled so far.
    expect((await inbound.query(inboundStatusQuery)).lastRun).toMatchObject({ polled: 0, claimed: 0 });

    await got.patch(`${crm.url}/__sandbox/records/${first.contactNumber}`, {
      json: { fields: { FirstName: 'Élodie' } },
    });
    await got.patch(`${crm.url}/__sandbox/records/${second.contactNumber}`, {
      json: { fields: { LastName: 'Dubois-Møller' } },
    });
    await got.patch(`${crm.url}/__sandbox/records/${first.contactNumber}`, {
      json: { fields: { FirstName: 'Élodie-Anne' } },
    });

    const status = await runInbound();
    // Three changes over two pages of two, for two records: the latest change of each is applied.
    expect(status.lastRun).toMatchObject({ polled: 3, claimed: 2, applied: 2, parked: 0 });
    expect((await s360Contact(first.contactNumber)).general.firstName).toBe('Élodie-Anne');
    expect((await s360Contact(second.contactNumber)).general.lastName).toBe('Dubois-Møller');
    expect(await service.store.getPollCursor(target)).toBe('3');

    // The cursor was saved: the next run polls nothing new.
    expect((await runInbound()).lastRun).toMatchObject({ polled: 0, claimed: 0 });
  });
});
