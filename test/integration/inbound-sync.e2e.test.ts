/**
 * End to end on a real Temporal dev server, both directions: edits made by CRM users reach S-360 through the
 * inboundSync workflow, and nothing loops — S-360's notification of crm-sync's own write is not pushed back to
 * the CRM, and a CRM change equal to what crm-sync last synced is not written to S-360 again.
 */
import type { WorkflowHandle } from '@temporalio/client';
import got from 'got';
import {
  inboundStatusQuery,
  inboundSync,
  inboundSyncWorkflowId,
  outboundSync,
  outboundSyncWorkflowId,
  pauseUpdate,
  resumeUpdate,
  statusQuery,
  triggerSignal,
} from '../../src/workflows';
import { eventually } from '../helpers/free-port';
import {
  crmRecords as crmSandboxRecords,
  generateS360Contacts,
  runNow,
  s360Contact as s360SandboxContact,
  startEndToEnd,
  untilRunAfter,
  type EndToEnd,
} from '../helpers/end-to-end';

jest.setTimeout(180_000);

const target = 'both';

describe('inbound sync and loop prevention, end to end', () => {
  let e2e: EndToEnd;
  let outbound: WorkflowHandle<typeof outboundSync>;
  let inbound: WorkflowHandle<typeof inboundSync>;

  beforeAll(async () => {
    e2e = await startEndToEnd({
      target,
      taskQueue: 'e2e-inbound',
      signingSecret: 'whsec_ZTJlLWluYm91bmQtc2lnbmluZy1zZWNyZXQ=',
      crmChanges: 'webhook',
    });
    await generateS360Contacts(e2e.s360, 30, 11);
    const settings = { intervalMinutes: 1440, maxContactsPerRun: 500, batchSize: 50 };
    outbound = await e2e.client.workflow.start(outboundSync, {
      workflowId: outboundSyncWorkflowId(target),
      taskQueue: e2e.config.temporal.taskQueue,
      args: [{ target, settings }],
    });
    inbound = await e2e.client.workflow.start(inboundSync, {
      workflowId: inboundSyncWorkflowId(target),
      taskQueue: e2e.config.temporal.taskQueue,
      args: [{ target, settings }],
    });
    await untilRunAfter(() => outbound.query(statusQuery), 0);
  });

  afterAll(() => e2e?.close());

  const crmRecords = () => crmSandboxRecords(e2e.crm);
  const s360Contact = (contactNumber: string) => s360SandboxContact(e2e.s360, contactNumber);
  const crmPushes = async (): Promise<number> =>
    (await got(`${e2e.crm.url}/__sandbox/stats`).json<{ pushes: number }>()).pushes;
  const s360Calls = async (): Promise<number> =>
    (await got(`${e2e.s360.url}/__sandbox/stats`).json<{ calls: number }>()).calls;
  const runInbound = () => runNow(inbound, () => inbound.query(inboundStatusQuery));
  const runOutbound = () => runNow(outbound, () => outbound.query(statusQuery));

  it('writes a CRM edit to S-360, and S-360 notifying that write does not push it back', async () => {
    const person = (await crmRecords()).find((record) => record.entity === 'person');
    if (!person) throw new Error('expected a person among the generated contacts');
    const optedOut = person.fields.HasOptedOutOfEmail === true;
    await got.patch(`${e2e.crm.url}/__sandbox/records/${person.contactNumber}`, {
      json: { fields: { FirstName: 'Élodie', HasOptedOutOfEmail: !optedOut } },
    });
    await e2e.crm.changesIdle();

    const inboundStatus = await runInbound();
    expect(inboundStatus.lastRun).toMatchObject({ claimed: 1, applied: 1, parked: 0 });
    const contact = await s360Contact(person.contactNumber);
    expect(contact.general.firstName).toBe('Élodie');
    // Seed 001: the CRM's opt-out is the inverse of S-360's EMAIL authorization.
    expect(contact.authorizations.find((authorization) => authorization.code === 'EMAIL')?.value).toBe(
      optedOut,
    );

    // S-360 notifies the write like any change; the outbound run recognises it and pushes nothing.
    await e2e.s360.notificationsIdle();
    const pushesBefore = await crmPushes();
    const outboundStatus = await runOutbound();
    expect(outboundStatus.lastRun).toMatchObject({ claimed: 1, delivered: 0, echoes: 1 });
    expect(await crmPushes()).toBe(pushesBefore);
  });

  it('pushes an S-360 edit to the CRM, and the CRM sending the same state back writes nothing to S-360', async () => {
    const person = (await crmRecords()).filter((record) => record.entity === 'person')[1];
    if (!person) throw new Error('expected two persons among the generated contacts');
    await got.patch(`${e2e.s360.url}/__sandbox/contacts/${person.contactNumber}`, {
      json: { general: { lastName: 'Dubois-Møller' } },
    });
    await e2e.s360.notificationsIdle();
    const outboundStatus = await runOutbound();
    expect(outboundStatus.lastRun).toMatchObject({ claimed: 1, delivered: 1 });
    const pushed = (await crmRecords()).find((record) => record.contactNumber === person.contactNumber);
    expect(pushed?.fields.LastName).toBe('Dubois-Møller');

    // A CRM whose automation re-saves the record sends back exactly what crm-sync pushed: an echo.
    await got.patch(`${e2e.crm.url}/__sandbox/records/${person.contactNumber}`, {
      json: { fields: { LastName: 'Dubois-Møller' } },
    });
    await e2e.crm.changesIdle();
    const callsBefore = await s360Calls();
    const inboundStatus = await runInbound();
    expect(inboundStatus.lastRun).toMatchObject({ claimed: 1, applied: 0, echoes: 1 });
    expect(await s360Calls()).toBe(callsBefore);
  });

  it('merges a record both sides changed: the most recent change wins a shared field, and it is recorded', async () => {
    const person = (await crmRecords()).filter((record) => record.entity === 'person')[3];
    if (!person) throw new Error('expected four persons among the generated contacts');
    // S-360 first (its notification waits in the outbound queue), then the CRM, on the same field and another.
    await got.patch(`${e2e.s360.url}/__sandbox/contacts/${person.contactNumber}`, {
      json: { general: { firstName: 'Anouk' } },
    });
    await e2e.s360.notificationsIdle();
    await got.patch(`${e2e.crm.url}/__sandbox/records/${person.contactNumber}`, {
      json: { fields: { FirstName: 'Annick', MobilePhone: '+41 79 123 45 67' } },
    });
    await e2e.crm.changesIdle();

    const inboundStatus = await runInbound();
    expect(inboundStatus.lastRun).toMatchObject({ claimed: 1, applied: 1 });
    const contact = await s360Contact(person.contactNumber);
    expect(contact.general.firstName).toBe('Annick');
    expect(contact.comMeans.mobile).toBe('+41 79 123 45 67');
    const conflicts = await e2e.service.store.listConflicts({ target });
    expect(conflicts).toEqual([
      expect.objectContaining({
        contactNumber: person.contactNumber,
        field: 'FirstName',
        s360Value: 'Anouk',
        crmValue: 'Annick',
        policy: 'latest',
        winner: 'crm',
      }),
    ]);

    // Both sides now agree: the outbound run has nothing to send.
    await e2e.s360.notificationsIdle();
    const pushesBefore = await crmPushes();
    await runOutbound();
    expect(await crmPushes()).toBe(pushesBefore);
    const record = (await crmRecords()).find((candidate) => candidate.contactNumber === person.contactNumber);
    expect(record?.fields).toMatchObject({ FirstName: 'Annick', MobilePhone: '+41 79 123 45 67' });
  });

  it('keeps the changes made while a direction is paused and applies them once it is resumed', async () => {
    const person = (await crmRecords()).filter((record) => record.entity === 'person')[4];
    if (!person) throw new Error('expected five persons among the generated contacts');
    await inbound.executeUpdate(pauseUpdate);
    await got.patch(`${e2e.crm.url}/__sandbox/records/${person.contactNumber}`, {
      json: { fields: { LastName: 'Pendant-la-pause' } },
    });
    await e2e.crm.changesIdle();
    const before = await inbound.query(inboundStatusQuery);
    await inbound.signal(triggerSignal);
    // Paused: the trigger waits, the change stays queued (long enough for a run to have happened otherwise).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const outbox = await got(`${e2e.service.receiver.url}/api/outbox`, {
      searchParams: { target, direction: 'inbound' },
    }).json<{ pending: number }>();
    expect(outbox.pending).toBe(1);
    expect((await inbound.query(inboundStatusQuery)).totals.runs).toBe(before.totals.runs);
    expect((await s360Contact(person.contactNumber)).general.lastName).not.toBe('Pendant-la-pause');

    await inbound.executeUpdate(resumeUpdate);
    await eventually('the held run after resume', async () => {
      const status = await inbound.query(inboundStatusQuery);
      return status.totals.runs > before.totals.runs && status.state !== 'running' ? status : undefined;
    });
    expect((await s360Contact(person.contactNumber)).general.lastName).toBe('Pendant-la-pause');
  });

  it('flags the S-360 contact inactive when its CRM record is deleted, never deleting it', async () => {
    const person = (await crmRecords()).filter((record) => record.entity === 'person')[2];
    if (!person) throw new Error('expected three persons among the generated contacts');
    await got.delete(`${e2e.crm.url}/__sandbox/records/${person.contactNumber}`);
    await e2e.crm.changesIdle();
    const inboundStatus = await runInbound();
    expect(inboundStatus.lastRun).toMatchObject({ claimed: 1, deleted: 1 });
    const contact = await s360Contact(person.contactNumber);
    expect(contact.active).toBe(false);
    expect(contact.general.lastName).toBeTruthy();
  });

  it('creates an S-360 contact for a record created in the CRM, and the CRM record gets its contact number', async () => {
    // What earlier tests left queued outbound goes first, so that the CRM's records are counted as they settle.
    await e2e.s360.notificationsIdle();
    await runOutbound();
    const before = await crmRecords();
    const fields = {
      Salutation: 'Mrs.',
      FirstName: 'Léa',
      LastName: 'Favre-Nouvelle',
      Email: 'lea.favre@example.org',
      HasOptedOutOfEmail: true,
    };
    const { crmId } = await got
      .post(`${e2e.crm.url}/__sandbox/records`, { json: { entity: 'person', fields } })
      .json<{ crmId: string }>();
    await e2e.crm.changesIdle();

    const inboundStatus = await runInbound();
    expect(inboundStatus.lastRun).toMatchObject({ claimed: 1, created: 1, applied: 0, parked: 0 });
    const contactNumber = await e2e.service.store.contactNumberOfCrmId({ target, crmId });
    if (contactNumber === undefined) throw new Error(`expected CRM record ${crmId} to be linked`);
    const contact = await s360Contact(contactNumber);
    expect(contact).toMatchObject({
      contactType: 'INDIVIDUAL',
      role: 'PUBLIC',
      general: { title: 'MRS', firstName: 'Léa', lastName: 'Favre-Nouvelle' },
      comMeans: { email: 'lea.favre@example.org' },
    });
    expect(contact.authorizations).toContainEqual({ code: 'EMAIL', value: false });

    // The outbound run gives the CRM record its contact number: the same record, not a second one.
    await e2e.s360.notificationsIdle();
    await runOutbound();
    const after = await crmRecords();
    expect(after.filter((record) => record.crmId === crmId)).toEqual([
      expect.objectContaining({
        contactNumber,
        entity: 'person',
        fields: expect.objectContaining({ FirstName: 'Léa', LastName: 'Favre-Nouvelle' }) as unknown,
      }),
    ]);
    expect(after.filter((record) => record.contactNumber.startsWith('crm:'))).toEqual([]);
    expect(after).toHaveLength(before.length + 1);
  });
});
