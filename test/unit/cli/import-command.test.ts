import { formatImportProgress, progressBar } from '../../../src/cli/commands/import-command';
import type { ImportProgress } from '../../../src/workflows';
import { runCli } from '../../helpers/run-cli';

const progress = (overrides: Partial<ImportProgress> = {}): ImportProgress => ({
  target: 'default',
  state: 'importing',
  done: 3_100,
  total: 10_000,
  phase: 'individuals',
  ratePerSecond: 42.5,
  etaSeconds: 162,
  pausedReason: null,
  settings: { pageSize: 250, payloadSize: 50, concurrency: 4, searchPageSize: 500 },
  totals: {
    done: 3_100,
    pages: 13,
    imported: 3_090,
    rejected: 2,
    parked: 3,
    unchanged: 5,
    leftToOutboundSync: 0,
    heldRelays: 0,
    resumedPushes: 1,
    duplicatePushes: 1,
    pushes: 62,
  },
  startedAt: '2026-01-05T10:00:00.000Z',
  finishedAt: null,
  ...overrides,
});

describe('import progress display', () => {
  it('draws a bar with the share done, the counts, the rate and the ETA', () => {
    expect(progressBar(progress())).toBe(
      `[${'#'.repeat(9)}${'.'.repeat(21)}]   31.0%  3,100 / 10,000  42.5/s  ETA 2m 42s`,
    );
    expect(progressBar(progress({ state: 'paused', pausedReason: 'CRM refused the credentials' }))).toContain(
      'paused: CRM refused the credentials',
    );
    expect(progressBar(progress({ state: 'listing', total: null, done: 0 }))).toBe('listing contacts... 0');
    expect(progressBar(progress({ state: 'completed', done: 10_000 }))).toContain(
      '100.0%  10,000 / 10,000  completed',
    );
  });

  it('reports the counts and where the parked contacts are', () => {
    const text = formatImportProgress('import:default', progress());
    expect(text).toContain(
      'import:default: importing: 3,100 of 10,000 contacts (31.0%), 42.5/s, about 2m 42s left',
    );
    expect(text).toContain('imported 3090, unchanged 5, rejected 2, parked 3');
    expect(text).toContain('sent again after a crash 1, already applied by the CRM 1');
    expect(text).toContain('crm-sync failed list');
  });
});

describe('crm-sync import start: bad input', () => {
  it.each([
    [['--contact-type', 'company'], '--contact-type: expected INDIVIDUAL or STRUCTURE, got "company"'],
    [['--modified-since', 'yesterday'], '--modified-since: expected an ISO 8601 date or timestamp'],
    [['--payload-size', '60'], 'payloadSize must be an integer from 1 to 50 (got 60)'],
    [['--concurrency', 'two'], '--concurrency: expected a whole number, got "two"'],
  ])('%j is refused before connecting', async (args, message) => {
    const result = await runCli(['import', 'start', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});
