import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { exampleConfigYaml } from '../../../src/config/example-config';
import { ConfigError, loadConfig, parseConfig } from '../../../src/config/load-config';

describe('configuration', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'crm-sync-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function configError(run: () => unknown): ConfigError {
    try {
      run();
    } catch (err) {
      if (err instanceof ConfigError) return err;
      throw err;
    }
    throw new Error('expected a ConfigError');
  }

  it('runs on defaults alone, resolving the data folder from the working directory', () => {
    const config = loadConfig({ env: {}, cwd: dir });
    expect(config.dataDir).toBe(join(dir, 'data'));
    expect(config.outbound).toEqual({ intervalMinutes: 15, maxContactsPerRun: 100, batchSize: 50 });
    expect(config.s360.callsPerMinute).toBe(180);
    expect(config.crm.targets.map((t) => t.name)).toEqual(['default']);
  });

  it('prints an example whose every value is the default', () => {
    expect(parseConfig(parseYaml(exampleConfigYaml))).toEqual(parseConfig({}));
  });

  it('reads crm-sync.config.yaml from the working directory, and the environment overrides it', () => {
    writeFileSync(join(dir, 'crm-sync.config.yaml'), 'outbound:\n  intervalMinutes: 5\n  batchSize: 20\n');
    const config = loadConfig({
      env: { CRM_SYNC_OUTBOUND_BATCH_SIZE: '10', CRM_SYNC_TASK_QUEUE: '' },
      cwd: dir,
    });
    expect(config.outbound.intervalMinutes).toBe(5);
    expect(config.outbound.batchSize).toBe(10);
    expect(config.temporal.taskQueue).toBe('crm-sync'); // empty string = unset
  });

  it('defines a single webhook target from the environment alone', () => {
    const config = loadConfig({
      env: {
        CRM_SYNC_CRM_WEBHOOK_URL: 'https://crm.example.com/hooks',
        CRM_SYNC_CRM_SIGNING_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      },
      cwd: dir,
    });
    expect(config.crm.targets).toEqual([
      expect.objectContaining({ name: 'default', url: 'https://crm.example.com/hooks' }),
    ]);
  });

  it('lists every problem with its path and the variable it came from', () => {
    writeFileSync(
      join(dir, 'settings.json'),
      JSON.stringify({
        outbound: { intervalMinutes: 0 },
        crm: { targets: [{ name: 'Bad Name', kind: 'webhook' }] },
      }),
    );
    const error = configError(() =>
      loadConfig({ configFile: 'settings.json', env: { CRM_SYNC_OUTBOUND_BATCH_SIZE: '51' }, cwd: dir }),
    );
    expect(error.issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^outbound\.intervalMinutes: .*>=1/),
        expect.stringMatching(/^outbound\.batchSize: .*<=50.*\(from CRM_SYNC_OUTBOUND_BATCH_SIZE\)$/),
        expect.stringMatching(/^crm\.targets\[0\]\.name: expected lowercase letters/),
        expect.stringMatching(/^crm\.targets\[0\]\.url: /),
        expect.stringMatching(/^crm\.targets\[0\]\.signingSecret: /),
      ]),
    );
    expect(error.message).toContain('settings.json');
  });

  it('refuses a number variable that is not a number, naming it', () => {
    const error = configError(() => loadConfig({ env: { CRM_SYNC_RECEIVER_PORT: 'eighty' }, cwd: dir }));
    expect(error.issues).toEqual(['CRM_SYNC_RECEIVER_PORT: expected a number, got "eighty"']);
  });

  it('names a missing or unparsable file', () => {
    expect(configError(() => loadConfig({ configFile: 'absent.yaml', env: {}, cwd: dir })).issues[0]).toMatch(
      /configuration file not found: .*absent\.yaml/,
    );
    writeFileSync(join(dir, 'broken.json'), '{ "outbound": ');
    expect(configError(() => loadConfig({ configFile: 'broken.json', env: {}, cwd: dir })).issues[0]).toMatch(
      /^cannot parse: /,
    );
    writeFileSync(join(dir, 'list.yaml'), '- a\n- b\n');
    expect(configError(() => loadConfig({ configFile: 'list.yaml', env: {}, cwd: dir })).issues[0]).toMatch(
      /expected a mapping/,
    );
  });

  it('refuses duplicate target names', () => {
    const target = {
      kind: 'webhook',
      url: 'https://a.example/h',
      signingSecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La',
    };
    const error = configError(() =>
      parseConfig({
        crm: {
          targets: [
            { name: 'a', ...target },
            { name: 'a', ...target },
          ],
        },
      }),
    );
    expect(error.issues).toEqual(['crm.targets: target names must be unique']);
  });
  it('keeps the store embedded by default, and a PostgreSQL URL from the file or the environment switches it', () => {
    expect(loadConfig({ env: {}, cwd: dir }).store).toEqual({ kind: 'embedded' });
    expect(
      loadConfig({
        env: { CRM_SYNC_STORE_URL: 'postgresql://crm_sync:secret@db.example.com:5432/crm_sync' },
        cwd: dir,
      }).store,
    ).toEqual({
      kind: 'postgres',
      url: 'postgresql://crm_sync:secret@db.example.com:5432/crm_sync',
      poolSize: 10,
    });
    writeFileSync(
      join(dir, 'crm-sync.config.yaml'),
      'store:\n  kind: postgres\n  url: postgres://db.example.com/crm\n  poolSize: 4\n',
    );
    expect(loadConfig({ env: {}, cwd: dir }).store).toEqual({
      kind: 'postgres',
      url: 'postgres://db.example.com/crm',
      poolSize: 4,
    });
  });

  it('names the store setting that is wrong', () => {
    expect(configError(() => parseConfig({ store: { kind: 'postgres' } })).issues).toEqual([
      expect.stringMatching(/^store\.url: /),
    ]);
    expect(configError(() => parseConfig({ store: { url: 'mysql://db.example.com/crm' } })).issues).toEqual([
      expect.stringMatching(/^store\.url: expected a PostgreSQL connection URL/),
    ]);
    expect(
      configError(() => parseConfig({ store: { kind: 'embedded', url: 'postgresql://db/crm' } })).issues,
    ).toEqual([expect.stringMatching(/^store: .*url/)]);
    expect(
      configError(() =>
        loadConfig({
          env: { CRM_SYNC_STORE_URL: 'postgresql://db/crm', CRM_SYNC_STORE_POOL_SIZE: '0' },
          cwd: dir,
        }),
      ).issues,
    ).toEqual([expect.stringMatching(/^store\.poolSize: .*\(from CRM_SYNC_STORE_POOL_SIZE\)$/)]);
  });
});
