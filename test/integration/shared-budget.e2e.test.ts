/**
 * One S-360 API budget for the whole service: the outbound sync's reads and the inbound sync's reads and writes,
 * running at the same time, together stay within the configured calls per minute, measured by the S-360 sandbox.
 * This test takes a little over a minute: the budget is per minute.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got from 'got';
import type { S360Contact } from '../../src/adapters/s360/s360-contact';
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

jest.setTimeout(240_000);

const jwtSecret = 'budget-jwt-secret-0123456789';
const signingSecret = 'whsec_YnVkZ2V0LXNpZ25pbmctc2VjcmV0LTAx';
const target = 'budget';
/** The service's budget, below what the sandbox allows, as an operator would configure it. */
const budgetPerMinute = 24;

interface S360Stats {
  calls: number;
  throttled: number;
  maxCallsPer60s: number;
}

describe('the shared S-360 budget, end to end', () => {
  let env: TestWorkflowEnvironment;
  let client: Client;
  let s360: S360Sandbox;
  let crm: CrmSandbox;
  let service: RunningService;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'crm-sync-budget-e2e-'));
    const [workflowBundle, temporal, receiverPort] = await Promise.all([
      bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') }),
      TestWorkflowEnvironment.createLocal({ server: { executable: devServerExecutable(), ip: '127.0.0.1' } }),
      freePort(),
    ]);
    env = temporal;
    client = env.client;
    const receiverUrl = `http://127.0.0.1:${receiverPort}`;
    crm = await startCrmSandbox({
      port: 0,
      signingSecret,
      changeWebhook: { url: `${receiverUrl}/notifications/crm/${target}`, signingSecret },
    });
    s360 = await startS360Sandbox({
      port: 0,
      jwtSecret,
      institution: 'BUDGET',
      callsPerMinute: 30,
      notificationUrl: `${receiverUrl}/notifications/s360`,
    });
    const config = parseConfig({
      dataDir,
      temporal: { address: env.address, namespace: env.namespace ?? 'default', taskQueue: 'e2e-budget' },
      s360: { baseUrl: s360.url, institution: 'BUDGET', jwtSecret, callsPerMinute: budgetPerMinute },
      crm: { targets: [{ name: target, kind: 'webhook', url: `${crm.url}/hooks/contacts`, signingSecret }] },
      receiver: { port: receiverPort },
    });
    service = await startService(config, { workflowBundle });
  });

  afterAll(async () => {
    await service?.shutdown();
    await Promise.all([s360?.close(), crm?.close()]);
    await env?.teardown();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps outbound reads and inbound writes together within the calls per minute', async () => {
    const settings = { intervalMinutes: 1440, maxContactsPerRun: 500, batchSize: 10 };
    await got.post(`${s360.url}/__sandbox/contacts/generate`, { json: { count: 16, seed: 5 } });
    await s360.notificationsIdle();
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

    // Then both directions at once: 8 edits in S-360 (8 reads) and 8 in the CRM (a read and a write each).
    const numbers = (
      await got(`${crm.url}/__sandbox/records`).json<{
        records: Array<{ contactNumber: string; entity: string }>;
      }>()
    ).records
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
