import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startReceiver, type Receiver } from '../../../src/receiver/receiver-server';
import { openEmbeddedSyncStore } from '../../../src/store/open-sync-store';
import type { SyncConflict, SyncStore } from '../../../src/store/sync-store';
import { freePort } from '../../helpers/free-port';
import { runCli } from '../../helpers/run-cli';

// A real receiver over a real embedded store, as the worker runs them; the CLI reaches it through
// CRM_SYNC_RECEIVER_PORT with the default configuration (one target, "default").
let dataDir: string;
let cwd: string;
let store: SyncStore;
let receiver: Receiver;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'crm-sync-cli-store-'));
  cwd = await mkdtemp(path.join(os.tmpdir(), 'crm-sync-cli-'));
  store = await openEmbeddedSyncStore(dataDir);
  receiver = await startReceiver({ port: 0, store, targets: ['default'], onError: () => undefined });
  env = { CRM_SYNC_RECEIVER_PORT: String(receiver.port) };
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await store?.close();
  for (const dir of [dataDir, cwd]) if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('crm-sync conflicts list', () => {
  it('says so when there are none', async () => {
    const result = await runCli(['conflicts', 'list'], env, cwd);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe('No conflicts.\n');
  });

  it('prints a table, newest first, and the same rows with --json', async () => {
    const first: Omit<SyncConflict, 'decidedAt'> = {
      target: 'default',
      contactNumber: '1001',
      field: 'Email',
      baseValue: 'old@example.com',
      s360Value: 's360@example.com',
      crmValue: 'crm@example.com',
      policy: 'latest',
      winner: 'crm',
    };
    await store.recordConflicts([first]);
    await store.recordConflicts([
      {
        ...first,
        contactNumber: '1002',
        field: 'Phone',
        s360Value: null,
        crmValue: 41,
        policy: 's360',
        winner: 's360',
      },
    ]);

    const result = await runCli(['conflicts', 'list', '--target', 'default'], env, cwd);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('2 conflict(s), newest first:');
    expect(lines[1]).toMatch(
      /^DECIDED AT\s+TARGET\s+CONTACT\s+FIELD\s+S-360 VALUE\s+CRM VALUE\s+POLICY\s+WINNER$/,
    );
    expect(lines[2]).toMatch(/^\d{4}-\d\d-\d\dT\S+\s+default\s+1002\s+Phone\s+\(empty\)\s+41\s+s360\s+s360$/);
    expect(lines[3]).toMatch(
      /^\d{4}-\d\d-\d\dT\S+\s+default\s+1001\s+Email\s+s360@example\.com\s+crm@example\.com\s+latest\s+crm$/,
    );
    expect(lines).toHaveLength(4);

    const json = await runCli(['--json', 'conflicts', 'list', '--limit', '1'], env, cwd);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      {
        ...first,
        contactNumber: '1002',
        field: 'Phone',
        s360Value: null,
        crmValue: 41,
        policy: 's360',
        winner: 's360',
        decidedAt: expect.any(String),
      },
    ]);
  });

  it('refuses a bad limit or target before asking the worker', async () => {
    const limit = await runCli(['conflicts', 'list', '--limit', '0'], env, cwd);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toContain('--limit: expected 1..10000, got 0');
    const target = await runCli(['conflicts', 'list', '--target', 'nope'], env, cwd);
    expect(target.code).toBe(2);
    expect(target.stderr).toContain('--target: unknown CRM target "nope" (configured: default)');
  });

  it('says clearly when the worker is not running', async () => {
    const port = await freePort();
    const result = await runCli(['conflicts', 'list'], { CRM_SYNC_RECEIVER_PORT: String(port) }, cwd);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach the crm-sync worker at http://127.0.0.1:${port}/`);
    expect(result.stderr).toContain('is `crm-sync worker` running?');
  });
});

describe('crm-sync push', () => {
  it('refuses a bad contact number, naming it, and queues nothing', async () => {
    const result = await runCli(['push', '2001', 'abc', '12-3'], env, cwd);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('not a contact number (1 to 20 digits): "abc", "12-3"');
    expect(await store.counts({ direction: 'outbound', target: 'default' })).toMatchObject({ pending: 0 });
  });

  it('queues the contacts, then fails with exit 1 when Temporal is unreachable', async () => {
    const port = await freePort();
    const result = await runCli(
      ['push', '3001', '3002', '3001'],
      { ...env, CRM_SYNC_TEMPORAL_ADDRESS: `127.0.0.1:${port}` },
      cwd,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('2 contact(s) are queued for target "default"');
    expect(result.stderr).toContain(`Cannot reach Temporal at 127.0.0.1:${port}`);
    expect(await store.counts({ direction: 'outbound', target: 'default' })).toEqual({
      pending: 2,
      claimed: 0,
      parked: 0,
    });
  }, 20_000); // the client retries for its 5 s connect timeout before giving up

  it('says clearly when the worker is not running, before contacting Temporal', async () => {
    const port = await freePort();
    const result = await runCli(['push', '4001'], { CRM_SYNC_RECEIVER_PORT: String(port) }, cwd);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach the crm-sync worker at http://127.0.0.1:${port}/`);
  });
});
