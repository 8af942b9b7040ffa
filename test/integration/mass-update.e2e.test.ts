/**
 * A mass update end to end: a CSV file with bad rows, applied by the real service on a Temporal dev server to the
 * S-360 sandbox over HTTP, at a high rate; the bad rows parked with their lines and listed by the admin API and
 * the CLI.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got from 'got';
import { WebhookCrmAdapter } from '../../src/adapters/crm';
import type { CrmContactRecord } from '../../src/mapping/crm-contact-record';
import type { MassUpdateParkedRow } from '../../src/store/sync-store';
import { massUpdate, massUpdateWorkflowId } from '../../src/workflows';
import { generateS360Contacts, s360Contact, startEndToEnd, type EndToEnd } from '../helpers/end-to-end';
import { eventually } from '../helpers/free-port';
import { runCli } from '../helpers/run-cli';

jest.setTimeout(120_000);

const target = 'mass';
const taskQueue = 'e2e-mass-update';
const rate = 1_200;
const contact = (n: number): string => String(n).padStart(10, '0');
const signingSecret = 'whsec_bWFzcy11cGRhdGUtc2lnbmluZy1zZWNyZXQ=';

describe('mass update, end to end', () => {
  let e2e: EndToEnd;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'crm-sync-mass-update-e2e-'));
    e2e = await startEndToEnd({
      target,
      taskQueue,
      signingSecret,
      s360CallsPerMinute: rate,
      crmQuery: true,
    });
  });

  afterAll(async () => {
    await e2e?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('applies the good rows, parks the bad ones with their line and reason, and S-360 never throttles', async () => {
    const { client, s360, config } = e2e;
    await generateS360Contacts(s360, 30, 11);
    await got.post(`${s360.url}/__sandbox/stats/reset`);

    const lines = ['contactNumber,firstName,email,authorization:NEWSLETTER'];
    for (let n = 1; n <= 30; n++) {
      lines.push(`${contact(n)},Renewal ${n},renewal${n}@example.org,yes`);
      if (n === 5) lines.push(`${contact(9_999)},Nobody,nobody@example.org,yes`); // line 7: unknown contact
      if (n === 12) lines.push(`${contact(12)},Zoé,not-an-email,no`); // line 15: invalid value
      if (n === 20) lines.push(`${contact(20)},Quo"te,x@example.org,yes`); // line 24: a bad line
      if (n === 25) lines.push(`${contact(8_888)},Ghost,ghost@example.org,no`); // line 30: unknown contact
    }
    const file = join(dir, 'renewals.csv');
    writeFileSync(file, `${lines.join('\r\n')}\r\n`);
    const sampled = [1, 12, 20, 30];
    const before = new Map(
      await Promise.all(sampled.map(async (n) => [n, await s360Contact(s360, contact(n))] as const)),
    );

    const updateId = 'e2e-renewals';
    const handle = await client.workflow.start(massUpdate, {
      workflowId: massUpdateWorkflowId(updateId),
      taskQueue,
      args: [{ updateId, file, perMinute: rate }],
    });
    const result = await handle.result();
    expect(result).toMatchObject({
      state: 'completed',
      totalRows: 34,
      rowsDone: 34,
      applied: 30,
      parked: 4,
      // Each row names an opt-in: the contact is read, then saved (the two unknown ones are only read).
      calls: 62,
      percentDone: 100,
    });

    for (const n of sampled) {
      const saved = await s360Contact(s360, contact(n));
      expect(saved.general.firstName).toBe(`Renewal ${n}`);
      expect(saved.comMeans.email).toBe(`renewal${n}@example.org`);
      // NEWSLETTER is set, and the contact's other opt-ins are as they were.
      const others = (before.get(n)?.authorizations ?? []).filter((entry) => entry.code !== 'NEWSLETTER');
      expect(others.length).toBeGreaterThan(0);
      expect(saved.authorizations).toHaveLength(others.length + 1);
      expect(saved.authorizations).toEqual(
        expect.arrayContaining([...others, { code: 'NEWSLETTER', value: true }]),
      );
    }
    const stats = await got(`${s360.url}/__sandbox/stats`).json<{ calls: number; throttled: number }>();
    expect(stats).toMatchObject({ calls: 62, throttled: 0 });

    const listed = await got(`${e2e.service.receiver.url}/api/mass-updates/${updateId}/parked`).json<{
      parked: number;
      retryable: number;
      rows: MassUpdateParkedRow[];
    }>();
    expect(listed).toMatchObject({ parked: 4, retryable: 2 });
    expect(listed.rows.map(({ line, contactNumber, code }) => ({ line, contactNumber, code }))).toEqual([
      { line: 7, contactNumber: contact(9_999), code: 'NOT_FOUND' },
      { line: 15, contactNumber: contact(12), code: 'INVALID_ROW' },
      { line: 24, contactNumber: contact(20), code: 'INVALID_ROW' },
      { line: 30, contactNumber: contact(8_888), code: 'NOT_FOUND' },
    ]);
    expect(listed.rows[0]?.reason).toContain(`Contact ${contact(9_999)} does not exist`);
    expect(listed.rows[1]?.reason).toBe('email "not-an-email": not an e-mail address');
    expect(listed.rows[2]?.reason).toMatch(/quote/);

    // What an operator types.
    const env = {
      CRM_SYNC_TEMPORAL_ADDRESS: config.temporal.address,
      CRM_SYNC_TEMPORAL_NAMESPACE: config.temporal.namespace,
      CRM_SYNC_TASK_QUEUE: taskQueue,
      CRM_SYNC_RECEIVER_PORT: String(config.receiver.port),
    };
    const failed = await runCli(['mass-update', 'failed', '--id', updateId], env, dir);
    expect(failed.code).toBe(0);
    expect(failed.stdout).toContain(`4 parked row(s) of mass update "${updateId}"`);
    expect(failed.stdout).toMatch(/\n7\s+0000009999\s+NOT_FOUND/);
    expect(failed.stdout).toContain('2 can be applied again');
    const status = await runCli(['mass-update', 'status', '--id', updateId], env, dir);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`mass-update:${updateId}: completed`);
    expect(status.stdout).toContain('34 / 34 rows (100%): 30 applied, 4 parked');

    // The retry applies the two rows with an update again; the contacts are still unknown, so they stay parked.
    const retry = await runCli(['--json', 'mass-update', 'retry', '--id', updateId], env, dir);
    expect(retry.code).toBe(0);
    const retried = JSON.parse(retry.stdout) as { workflowId: string; rows: number };
    expect(retried.rows).toBe(2);
    expect(await client.workflow.getHandle(retried.workflowId).result()).toMatchObject({
      state: 'completed',
      retryOf: updateId,
      totalRows: 2,
      applied: 0,
      parked: 2,
    });
    const after = await got(`${e2e.service.receiver.url}/api/mass-updates/${updateId}/parked`).json<{
      rows: MassUpdateParkedRow[];
    }>();
    expect(after.rows.map(({ line, attempts }) => ({ line, attempts }))).toEqual([
      { line: 7, attempts: 2 },
      { line: 15, attempts: 1 },
      { line: 24, attempts: 1 },
      { line: 30, attempts: 2 },
    ]);
  });

  it('is operated from the CLI: start, pause, raise-rate, resume, status', async () => {
    const { client, s360, config } = e2e;
    await generateS360Contacts(s360, 40, 12);
    const rows = Array.from({ length: 40 }, (_, index) => `${contact(index + 1)},CLI ${index + 1}`);
    writeFileSync(join(dir, 'cli.csv'), ['contactNumber,lastName', ...rows].join('\n'));
    const env = {
      CRM_SYNC_TEMPORAL_ADDRESS: config.temporal.address,
      CRM_SYNC_TEMPORAL_NAMESPACE: config.temporal.namespace,
      CRM_SYNC_TASK_QUEUE: taskQueue,
      CRM_SYNC_S360_CALLS_PER_MINUTE: String(rate),
      CRM_SYNC_RECEIVER_PORT: String(config.receiver.port),
    };
    const cli = (...args: string[]) => runCli(['mass-update', ...args], env, dir);

    const started = await cli('start', '--file', 'cli.csv', '--per-minute', '60', '--id', 'e2e-cli');
    expect(started.code).toBe(0);
    expect(started.stdout).toContain(
      `Started mass-update:e2e-cli: ${join(dir, 'cli.csv')} at 60 S-360 calls`,
    );
    const again = await cli('start', '--file', 'cli.csv', '--id', 'e2e-cli');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('a mass update "e2e-cli" already exists');

    const paused = await cli('pause', '--id', 'e2e-cli');
    expect(paused.code).toBe(0);
    expect(paused.stdout).toContain('Paused.');
    // Without --id: the one running (once the server's list shows it).
    const status = await eventually('the running mass update listed', async () => {
      const result = await cli('status');
      return result.code === 0 ? result : undefined;
    });
    expect(status.stdout).toContain('mass-update:e2e-cli: paused');
    expect(status.stdout).toContain('/ 40 rows');

    const raised = await cli('raise-rate', '--per-minute', '1200', '--for', '10m', '--id', 'e2e-cli');
    expect(raised.code).toBe(0);
    expect(raised.stdout).toContain('1200 calls per minute from the next chunk');
    expect(raised.stdout).toContain('then 60 again');
    const resumed = await cli('resume');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('Resumed.');

    const result = await client.workflow.getHandle(massUpdateWorkflowId('e2e-cli')).result();
    expect(result).toMatchObject({ state: 'completed', applied: 40, parked: 0, basePerMinute: 60 });
    expect((await s360Contact(s360, contact(40))).general.lastName).toBe('CLI 40');
    const done = await cli('status', '--id', 'e2e-cli');
    expect(done.stdout).toContain('40 / 40 rows (100%): 40 applied, 0 parked');
    const notRunning = await cli('pause', '--id', 'e2e-cli');
    expect(notRunning.code).toBe(1);
    expect(notRunning.stderr).toContain('mass update "e2e-cli" is not running');
  });

  it('applies the records a CRM query selects, started from the CLI, the query checked first', async () => {
    const { client, s360, crm, config } = e2e;
    // CRM records linked to S-360 contacts 1..6 (generated by the first test), as crm-sync would have pushed them;
    // 1..4 are up for renewal, and one more is for a contact S-360 does not know.
    const before = new Map(
      await Promise.all([1, 2, 3, 4].map(async (n) => [n, await s360Contact(s360, contact(n))] as const)),
    );
    const crmRecord = (n: number, renewal: boolean): CrmContactRecord => ({
      contactNumber: contact(n),
      entity: 'person',
      fields: {
        FirstName: `Renewed ${n}`,
        LastName: `Query ${n}`,
        HasOptedOutOfEmail: true,
        Renewal__c: renewal,
      },
      sourceModifiedAt: '2026-11-30T10:00:00.000Z',
    });
    await new WebhookCrmAdapter({ target, url: `${crm.url}/hooks/contacts`, signingSecret }).pushContacts({
      pushId: 'e2e-query-records',
      records: [1, 2, 3, 4, 5, 6].map((n) => crmRecord(n, n <= 4)).concat(crmRecord(7_777, true)),
    });
    // A record a CRM user created, never linked to S-360.
    await got.post(`${crm.url}/__sandbox/records`, {
      json: { entity: 'person', fields: { LastName: 'Unlinked', Renewal__c: true } },
    });

    writeFileSync(
      join(dir, 'crm-sync.config.yaml'),
      [
        'crm:',
        '  targets:',
        `    - name: ${target}`,
        '      kind: webhook',
        `      url: ${crm.url}/hooks/contacts`,
        `      signingSecret: ${signingSecret}`,
        '      query:',
        `        url: ${crm.url}/query`,
      ].join('\n'),
    );
    const env = {
      CRM_SYNC_TEMPORAL_ADDRESS: config.temporal.address,
      CRM_SYNC_TEMPORAL_NAMESPACE: config.temporal.namespace,
      CRM_SYNC_TASK_QUEUE: taskQueue,
      CRM_SYNC_S360_CALLS_PER_MINUTE: String(rate),
    };
    const refused = await runCli(['mass-update', 'start', '--crm-query', 'Renewal__c true'], env, dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`--crm-query: CRM target "${target}" refused the query:`);
    expect(refused.stderr).toContain('query: expected = or != at character 12');
    expect(refused.stderr).toContain('nothing was started');

    const started = await runCli(
      ['mass-update', 'start', '--crm-query', 'Renewal__c = true', '--id', 'e2e-query'],
      env,
      dir,
    );
    expect(started.code).toBe(0);
    expect(started.stdout).toContain(
      `Started mass-update:e2e-query: the records of CRM ${target} where Renewal__c = true at ${rate} S-360 calls`,
    );
    const result = await client.workflow.getHandle(massUpdateWorkflowId('e2e-query')).result();
    expect(result).toMatchObject({
      state: 'completed',
      crmQuery: { target, query: 'Renewal__c = true' },
      totalRows: 6,
      rowsDone: 6,
      applied: 4,
      parked: 2,
    });

    for (const n of [1, 2, 3, 4]) {
      const saved = await s360Contact(s360, contact(n));
      expect(saved.general).toMatchObject({ firstName: `Renewed ${n}`, lastName: `Query ${n}` });
      // HasOptedOutOfEmail maps, inverted, to the EMAIL opt-in; the contact's other opt-ins are as they were.
      const others = (before.get(n)?.authorizations ?? []).filter((entry) => entry.code !== 'EMAIL');
      expect(saved.authorizations).toEqual(
        expect.arrayContaining([...others, { code: 'EMAIL', value: false }]),
      );
      expect(saved.authorizations).toHaveLength(others.length + 1);
    }
    expect((await s360Contact(s360, contact(5))).general.firstName).not.toBe('Renewed 5');

    const parked = await got(`${e2e.service.receiver.url}/api/mass-updates/e2e-query/parked`).json<{
      rows: MassUpdateParkedRow[];
    }>();
    expect(parked.rows.map(({ contactNumber, code, reason }) => ({ contactNumber, code, reason }))).toEqual([
      { contactNumber: contact(7_777), code: 'NOT_FOUND', reason: expect.stringContaining('NOT_FOUND') },
      { code: 'INVALID_ROW', reason: 'CRM record crm-000001 is not linked to an S-360 contact' },
    ]);
  });
});
