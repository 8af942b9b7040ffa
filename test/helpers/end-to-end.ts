/**
 * What the end-to-end tests share: a real Temporal dev server, the S-360 and CRM sandboxes on ports of their own,
 * and the crm-sync service (worker and receiver) configured against them over real HTTP.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got from 'got';
import type { S360Contact } from '../../src/adapters/s360/s360-contact';
import { loadMapping } from '../../src/mapping/load-mapping';
import { formatContactNumber } from '../../src/sandbox/s360-contact-generator';
import type { CrmSyncConfig } from '../../src/config/config-schema';
import { parseConfig } from '../../src/config/load-config';
import { startCrmSandbox, type CrmSandbox, type CrmSandboxOptions } from '../../src/sandbox/crm-sandbox';
import { startS360Sandbox, type S360Sandbox } from '../../src/sandbox/s360-sandbox';
import { devServerExecutable } from '../../src/temporal-server/locate-binaries';
import { startService, type RunningService } from '../../src/worker';
import { triggerSignal } from '../../src/workflows';
import { eventually, freePort } from './free-port';

export interface EndToEndOptions {
  /** The CRM target's name (workflow IDs `outbound-sync:<target>`, `inbound-sync:<target>`). */
  target: string;
  taskQueue: string;
  signingSecret: string;
  jwtSecret?: string;
  /** What the S-360 sandbox allows; default: no practical limit. */
  s360CallsPerMinute?: number;
  /** The service's S-360 budget; default: `s360CallsPerMinute`. */
  budgetPerMinute?: number;
  /** CRM users' edits posted to the receiver (`webhook`), only listed for polling (`poll`), or neither. */
  crmChanges?: 'none' | 'webhook' | 'poll';
  /** More options of the CRM sandbox. */
  crmSandbox?: Partial<CrmSandboxOptions>;
  /** More settings of the CRM target (merged into the configuration). */
  targetSettings?: Record<string, unknown>;
  /** The target searches the CRM sandbox's records (`query.url`), for mass updates from a CRM query. */
  crmQuery?: boolean;
}

export interface EndToEnd {
  env: TestWorkflowEnvironment;
  client: Client;
  s360: S360Sandbox;
  crm: CrmSandbox;
  service: RunningService;
  config: CrmSyncConfig;
  close(): Promise<void>;
}

/** Starts everything; call `close()` in `afterAll`. */
export async function startEndToEnd(options: EndToEndOptions): Promise<EndToEnd> {
  const jwtSecret = options.jwtSecret ?? 'e2e-jwt-secret-0123456789';
  const callsPerMinute = options.s360CallsPerMinute ?? 60_000;
  const dataDir = mkdtempSync(join(tmpdir(), `crm-sync-${options.target}-e2e-`));
  const [workflowBundle, env, receiverPort] = await Promise.all([
    bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') }),
    TestWorkflowEnvironment.createLocal({ server: { executable: devServerExecutable(), ip: '127.0.0.1' } }),
    freePort(),
  ]);
  const receiverUrl = `http://127.0.0.1:${receiverPort}`;
  const crm = await startCrmSandbox({
    port: 0,
    signingSecret: options.signingSecret,
    ...(options.crmChanges === 'webhook'
      ? {
          changeWebhook: {
            url: `${receiverUrl}/notifications/crm/${options.target}`,
            signingSecret: options.signingSecret,
          },
        }
      : {}),
    ...options.crmSandbox,
  });
  const s360 = await startS360Sandbox({
    port: 0,
    jwtSecret,
    institution: 'E2E',
    callsPerMinute,
    notificationUrl: `${receiverUrl}/notifications/s360`,
  });
  const config = parseConfig({
    dataDir,
    temporal: { address: env.address, namespace: env.namespace ?? 'default', taskQueue: options.taskQueue },
    s360: {
      baseUrl: s360.url,
      institution: 'E2E',
      jwtSecret,
      callsPerMinute: options.budgetPerMinute ?? callsPerMinute,
    },
    crm: {
      targets: [
        {
          name: options.target,
          kind: 'webhook',
          url: `${crm.url}/hooks/contacts`,
          signingSecret: options.signingSecret,
          ...options.targetSettings,
          ...(options.crmQuery ? { query: { url: `${crm.url}/query` } } : {}),
          ...(options.crmChanges === 'poll'
            ? {
                changes: {
                  url: `${crm.url}/changes`,
                  ...(options.targetSettings?.changes as Record<string, unknown> | undefined),
                },
              }
            : {}),
        },
      ],
    },
    receiver: { port: receiverPort },
  });
  const service = await startService(config, { workflowBundle });
  return {
    env,
    client: env.client,
    s360,
    crm,
    service,
    config,
    async close() {
      await service.shutdown();
      await Promise.all([s360.close(), crm.close()]);
      await env.teardown();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A record as the CRM sandbox stores it. */
export interface CrmSandboxRecord {
  contactNumber: string;
  /** Records created by a CRM user. */
  crmId?: string;
  entity: string;
  accountContactNumber?: string;
  active?: boolean;
  fields: Record<string, unknown>;
  timesApplied: number;
}

export const crmRecords = async (crm: CrmSandbox): Promise<CrmSandboxRecord[]> =>
  (await got(`${crm.url}/__sandbox/records`).json<{ records: CrmSandboxRecord[] }>()).records;

export const s360Contact = (s360: S360Sandbox, contactNumber: string): Promise<S360Contact> =>
  got(`${s360.url}/__sandbox/contacts/${contactNumber}`).json<S360Contact>();

/** Generates contacts in the S-360 sandbox and waits until their notifications reached the receiver. */
export async function generateS360Contacts(s360: S360Sandbox, count: number, seed: number): Promise<void> {
  await got.post(`${s360.url}/__sandbox/contacts/generate`, { json: { count, seed } });
  await s360.notificationsIdle();
}

/** The status once a run that started after this call has finished. */
export async function untilRunAfter<Status extends { totals: { runs: number }; state: string }>(
  query: () => Promise<Status>,
  runsBefore: number,
  timeoutMs?: number,
): Promise<Status> {
  return eventually(
    `a run after run ${runsBefore}`,
    async () => {
      const status = await query();
      return status.totals.runs > runsBefore && status.state !== 'running' ? status : undefined;
    },
    timeoutMs,
  );
}

/** Triggers a run of a sync workflow and resolves with its status once that run has finished. */
export async function runNow<Status extends { totals: { runs: number }; state: string }>(
  handle: WorkflowHandle,
  query: () => Promise<Status>,
): Promise<Status> {
  const before = (await query()).totals.runs;
  await handle.signal(triggerSignal);
  return untilRunAfter(query, before);
}

/** What the CRM sandbox counted of the pushes it received. */
export interface CrmPushStats {
  pushes: number;
  duplicatePushes: number;
  maxContactsPerPush: number;
}

export const crmPushStats = (crm: CrmSandbox): Promise<CrmPushStats> =>
  got(`${crm.url}/__sandbox/stats`).json<CrmPushStats>();

/**
 * After an import of the S-360 sandbox's contacts 1..`contacts`: the CRM holds every one exactly once (a push sent
 * again carried the same `webhook-id` and was not applied twice), with the data the mapping makes of the S-360
 * contact (a sample across the import, structures and relays included).
 */
export async function expectCrmHoldsEachContactOnce(
  crm: CrmSandbox,
  s360: S360Sandbox,
  contacts: number,
): Promise<void> {
  const records = await crmRecords(crm);
  expect(records).toHaveLength(contacts);
  expect(new Set(records.map((record) => record.contactNumber)).size).toBe(contacts);
  expect(records.filter((record) => record.timesApplied !== 1)).toEqual([]);
  const mapping = loadMapping();
  const byNumber = new Map(records.map((record) => [record.contactNumber, record]));
  for (let index = 1; index <= contacts; index += 97) {
    const contactNumber = formatContactNumber(index);
    const mapped = mapping.mapOutbound(await s360Contact(s360, contactNumber));
    if (!mapped.ok) throw new Error(`contact ${contactNumber} does not map: ${mapped.reason}`);
    const record = byNumber.get(contactNumber);
    expect({ contactNumber, entity: record?.entity, fields: record?.fields }).toEqual(
      JSON.parse(
        JSON.stringify({ contactNumber, entity: mapped.record.entity, fields: mapped.record.fields }),
      ),
    );
  }
}
