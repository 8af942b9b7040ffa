import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  defaultUpdateId,
  formatMassUpdateStatus,
  parseDuration,
} from '../../../src/cli/commands/mass-update-command';
import type { MassUpdateStatus } from '../../../src/workflows';
import { freePort } from '../../helpers/free-port';
import { runCli } from '../../helpers/run-cli';

describe('crm-sync mass-update', () => {
  let cwd: string;
  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'crm-sync-mass-update-cli-'));
  });
  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  it('lists its commands', async () => {
    const top = await runCli(['--help'], {}, cwd);
    expect(top.stdout).toContain('mass-update');
    const help = await runCli(['mass-update', '--help'], {}, cwd);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(
      /start[\s\S]*status[\s\S]*pause[\s\S]*resume[\s\S]*raise-rate[\s\S]*failed[\s\S]*retry/,
    );
  });

  it('refuses a malformed file before starting anything, saying why', async () => {
    writeFileSync(join(cwd, 'semicolons.csv'), 'contactNumber;firstName\n1;Ana\n');
    const wrongDelimiter = await runCli(['mass-update', 'start', '--file', 'semicolons.csv'], {}, cwd);
    expect(wrongDelimiter.code).toBe(2);
    expect(wrongDelimiter.stderr).toContain(join(cwd, 'semicolons.csv'));
    expect(wrongDelimiter.stderr).toContain('it must be comma-separated; nothing was started');

    writeFileSync(join(cwd, 'no-header.csv'), '0000000001,Ana\n');
    const noHeader = await runCli(['mass-update', 'start', '--file', 'no-header.csv'], {}, cwd);
    expect(noHeader.code).toBe(2);
    expect(noHeader.stderr).toContain('unknown columns');

    const missing = await runCli(['mass-update', 'start', '--file', 'none.csv'], {}, cwd);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('none.csv: no such file');
  });

  it('takes either a file or a CRM query, on a target that can search its records', async () => {
    writeFileSync(join(cwd, 'ok.csv'), 'contactNumber,firstName\n1,Ana\n');
    const neither = await runCli(['mass-update', 'start'], {}, cwd);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('give either --file <file> or --crm-query <query>');
    const both = await runCli(['mass-update', 'start', '--file', 'ok.csv', '--crm-query', 'A = 1'], {}, cwd);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give either --file <file> or --crm-query <query>');
    const targetForFile = await runCli(
      ['mass-update', 'start', '--file', 'ok.csv', '--target', 'default'],
      {},
      cwd,
    );
    expect(targetForFile.code).toBe(2);
    expect(targetForFile.stderr).toContain('--target: only with --crm-query');

    // The default target has no record search configured.
    const noSearch = await runCli(['mass-update', 'start', '--crm-query', 'Renewal__c = true'], {}, cwd);
    expect(noSearch.code).toBe(2);
    expect(noSearch.stderr).toContain(
      '--crm-query: CRM target "default" has no record search: set crm.targets[0].query.url in the configuration',
    );
    const unknownTarget = await runCli(
      ['mass-update', 'start', '--crm-query', 'A = 1', '--target', 'nope'],
      {},
      cwd,
    );
    expect(unknownTarget.code).toBe(2);
    expect(unknownTarget.stderr).toContain('--target: unknown CRM target "nope"');

    // A record search nobody answers: exit code 1, nothing started.
    const port = await freePort();
    writeFileSync(
      join(cwd, 'crm-sync.config.yaml'),
      `crm:\n  targets:\n    - name: default\n      kind: webhook\n      url: http://127.0.0.1:${port}/hooks\n` +
        `      signingSecret: whsec_c2FuZGJveC1zaWduaW5nLXNlY3JldA==\n      query:\n        url: http://127.0.0.1:${port}/query\n`,
    );
    const unreachable = await runCli(['mass-update', 'start', '--crm-query', 'A = 1'], {}, cwd);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('--crm-query: cannot run the query on CRM target "default":');
    expect(unreachable.stderr).toContain('nothing was started');
  });

  it('refuses bad rates, IDs and durations before contacting Temporal', async () => {
    writeFileSync(join(cwd, 'ok.csv'), 'contactNumber,firstName\n1,Ana\n');
    const cases: Array<[string[], string]> = [
      [
        ['start', '--file', 'ok.csv', '--per-minute', '0'],
        '--per-minute must be an integer from 1 to 100000 (got 0)',
      ],
      [
        ['start', '--file', 'ok.csv', '--per-minute', 'fast'],
        '--per-minute: expected a whole number, got "fast"',
      ],
      [
        ['start', '--file', 'ok.csv', '--per-minute', '600'],
        'is above the S-360 budget of 180 calls per minute',
      ],
      [['start', '--file', 'ok.csv', '--id', 'no spaces'], '--id: "no spaces" is not a mass update ID'],
      [
        ['raise-rate', '--per-minute', '600', '--for', '2 hours'],
        '--for: expected a duration like 90m, 2h or 1h30m',
      ],
      [['raise-rate', '--per-minute', '600', '--for', '8d'], '--for: at most a week (7d), got "8d"'],
      [
        ['raise-rate', '--per-minute', '0', '--for', '2h'],
        '--per-minute must be an integer from 1 to 100000',
      ],
      [['raise-rate', '--per-minute', '600'], "required option '--for <duration>' not specified"],
      [['status', '--id', '../x'], '--id: "../x" is not a mass update ID'],
      [['failed'], "required option '--id <id>' not specified"],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['mass-update', ...args], {}, cwd);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toContain(message);
    }
  });

  it('says clearly when the worker is not running for failed', async () => {
    const port = await freePort();
    const result = await runCli(
      ['mass-update', 'failed', '--id', 'renewals'],
      { CRM_SYNC_RECEIVER_PORT: String(port) },
      cwd,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach the crm-sync worker at http://127.0.0.1:${port}/`);
  });
});

describe('parseDuration', () => {
  it('reads days, hours, minutes and seconds', () => {
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(parseDuration('2h')).toBe(2 * 3_600_000);
    expect(parseDuration('1h30m')).toBe(90 * 60_000);
    expect(parseDuration('45s')).toBe(45_000);
    expect(parseDuration('1d2h')).toBe(26 * 3_600_000);
    expect(parseDuration(' 10MIN ')).toBe(600_000);
  });

  it('refuses anything else', () => {
    for (const text of ['', 'h', '2', '2 hours', '1.5h', '-1h', '0m', '30m1h', 'soon']) {
      expect({ text, ms: parseDuration(text) }).toEqual({ text, ms: undefined });
    }
  });
});

describe('defaultUpdateId', () => {
  it('is the file name and the UTC time, as an ID', () => {
    const now = new Date('2026-11-23T17:49:00.123Z');
    expect(defaultUpdateId('/data/renewals.csv', now)).toBe('renewals-20261123-174900');
    expect(defaultUpdateId('/data/Renouvellements été 2026.csv', now)).toBe(
      'Renouvellements-ete-2026-20261123-174900',
    );
    expect(defaultUpdateId('/data/---.csv', now)).toBe('update-20261123-174900');
  });
});

describe('formatMassUpdateStatus', () => {
  const status: MassUpdateStatus = {
    updateId: 'renewals',
    file: '/data/renewals.csv',
    crmQuery: null,
    retryOf: null,
    state: 'running',
    pausedReason: null,
    perMinute: 600,
    basePerMinute: 180,
    raisedPerMinute: 600,
    raisedUntil: '2026-11-23T20:00:00.000Z',
    totalRows: 10_000,
    rowsDone: 1_250,
    applied: 1_240,
    parked: 10,
    calls: 1_245,
    percentDone: 12.5,
    nextLine: 1_252,
    achievedPerMinute: 598,
    startedAt: '2026-11-23T17:50:00.000Z',
    finishedAt: null,
    eta: '2026-11-23T18:30:00.000Z',
  };

  it('shows rates, progress, achieved rate, ETA and where parked rows are listed', () => {
    const text = formatMassUpdateStatus(status, Date.parse('2026-11-23T18:00:00.000Z'));
    expect(text).toContain('mass-update:renewals: running');
    expect(text).toContain('rate:     600 calls/min until 2026-11-23T20:00:00.000Z (in 2 h 0 min), then 180');
    expect(text).toContain('progress: 1250 / 10000 rows (12.5%): 1240 applied, 10 parked; next line 1252');
    expect(text).toContain('achieved: 598 calls/min');
    expect(text).toContain('ETA:      2026-11-23T18:30:00.000Z (in 30 min)');
    expect(text).toContain('`crm-sync mass-update failed --id renewals`');
  });

  it('shows why it paused itself', () => {
    const text = formatMassUpdateStatus({
      ...status,
      state: 'paused',
      pausedReason: 'the chunk from line 2 failed: S-360 refused the credentials',
      eta: null,
    });
    expect(text).toContain('paused by crm-sync: the chunk from line 2 failed');
    expect(text).not.toContain('ETA');
  });

  it('shows the query a mass update from the CRM runs, and that it is running it before the rows are counted', () => {
    const text = formatMassUpdateStatus({
      ...status,
      file: null,
      crmQuery: { target: 'salesforce', query: 'Renewal__c = true' },
      totalRows: null,
      rowsDone: 0,
      percentDone: null,
    });
    expect(text).toContain('query:    Renewal__c = true (CRM salesforce)');
    expect(text).toContain('progress: 0 rows (running the query)');
  });
});
