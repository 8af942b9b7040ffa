import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LONG_RUNNING_ENV,
  LONG_RUNNING_NODE_FLAGS,
  POSTGRES_STORE_NODE_FLAGS,
  commandOf,
  missingProcessSettings,
  processSettingsFor,
  storeKindOf,
} from '../../../src/cli/process-settings';

describe('commandOf', () => {
  it('finds the command after the global options, skipping their values', () => {
    expect(commandOf(['worker'])).toBe('worker');
    expect(commandOf(['-c', 'worker.yaml', '--json', 'dev', '--contacts', '10'])).toBe('dev');
    expect(commandOf(['--config', 'dev', 'status'])).toBe('status');
    expect(commandOf(['--config=x.yaml', 'worker'])).toBe('worker');
    expect(commandOf(['--json'])).toBeUndefined();
    expect(commandOf([])).toBeUndefined();
  });
});

describe('missingProcessSettings', () => {
  it('gives the long-running commands their node flags and environment', () => {
    expect(missingProcessSettings(['-c', 'a.yaml', 'worker'], [], {})).toEqual({
      nodeFlags: [...LONG_RUNNING_NODE_FLAGS],
      env: { ...LONG_RUNNING_ENV },
    });
    // dev holds the sandboxes' contacts: no bound on its old generation.
    expect(missingProcessSettings(['dev', '--contacts', '100000'], [], {})).toEqual({
      nodeFlags: ['--max-semi-space-size=2', '--wasm-num-compilation-tasks=1'],
      env: { ...LONG_RUNNING_ENV },
    });
  });

  it('leaves the other commands alone', () => {
    expect(missingProcessSettings(['outbound', 'start'], [], {})).toBeNull();
    expect(missingProcessSettings(['--config', 'worker', 'status'], [], {})).toBeNull();
    expect(missingProcessSettings(['toString'], [], {})).toBeNull();
    expect(missingProcessSettings([], [], {})).toBeNull();
  });

  it('keeps what the node options and the environment already set', () => {
    expect(
      missingProcessSettings(['worker'], ['--max-old-space-size=512'], {
        NODE_OPTIONS: '--max_semi_space_size=8',
        MALLOC_ARENA_MAX: '4',
      }),
    ).toEqual({ nodeFlags: ['--wasm-num-compilation-tasks=1'], env: {} });
    expect(
      missingProcessSettings(['worker'], [...LONG_RUNNING_NODE_FLAGS], { ...LONG_RUNNING_ENV }),
    ).toBeNull();
  });
});

describe('process settings per sync store', () => {
  let cwd: string;
  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'crm-sync-process-settings-'));
  });
  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  it("gives a worker on a PostgreSQL store a larger heap, without the embedded store's WebAssembly flag", () => {
    expect(missingProcessSettings(['worker'], [], {}, 'postgres')).toEqual({
      nodeFlags: [...POSTGRES_STORE_NODE_FLAGS],
      env: { ...LONG_RUNNING_ENV },
    });
    expect(missingProcessSettings(['dev'], [], {}, 'postgres')).toEqual({
      nodeFlags: ['--max-semi-space-size=16'],
      env: { ...LONG_RUNNING_ENV },
    });
  });

  it('reads the store from the configuration the command will read: the environment, --config, the file', () => {
    expect(storeKindOf(['worker'], {}, cwd)).toBe('embedded');
    expect(storeKindOf(['worker'], { CRM_SYNC_STORE_URL: 'postgresql://db/crm' }, cwd)).toBe('postgres');
    writeFileSync(join(cwd, 'other.yaml'), 'store:\n  url: postgresql://db/crm\n');
    expect(storeKindOf(['-c', 'other.yaml', 'worker'], {}, cwd)).toBe('postgres');
    expect(storeKindOf(['--config=other.yaml', 'worker'], {}, cwd)).toBe('postgres');
    writeFileSync(join(cwd, 'crm-sync.config.yaml'), 'store:\n  url: postgresql://db/crm\n');
    expect(storeKindOf(['worker'], {}, cwd)).toBe('postgres');
    // A configuration that cannot be read: the embedded store's settings; the command reports the problem.
    expect(storeKindOf(['--config', 'absent.yaml', 'worker'], {}, cwd)).toBe('embedded');
  });

  it('starts worker and dev with the settings of their store, and the other commands as they are', () => {
    expect(processSettingsFor(['worker'], [], { CRM_SYNC_STORE_URL: 'postgresql://db/crm' }, cwd)).toEqual({
      nodeFlags: [...POSTGRES_STORE_NODE_FLAGS],
      env: { ...LONG_RUNNING_ENV },
    });
    expect(processSettingsFor(['worker'], [], {}, cwd)).toEqual({
      nodeFlags: [...LONG_RUNNING_NODE_FLAGS],
      env: { ...LONG_RUNNING_ENV },
    });
    expect(processSettingsFor(['outbound', 'status'], [], {}, cwd)).toBeNull();
  });
});
