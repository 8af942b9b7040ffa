import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../../helpers/free-port';
import { runCli } from '../../helpers/run-cli';

describe('crm-sync CLI', () => {
  let cwd: string;
  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'crm-sync-cli-'));
  });
  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  it('prints help for every command', async () => {
    const top = await runCli(['--help'], {}, cwd);
    expect(top.code).toBe(0);
    for (const command of [
      'dev',
      'worker',
      'sandbox',
      'outbound',
      'inbound',
      'failed',
      'conflicts',
      'push',
      'config',
      'mapping',
    ]) {
      expect(top.stdout).toContain(command);
    }
    const outbound = await runCli(['outbound', '--help'], {}, cwd);
    expect(outbound.stdout).toMatch(
      /start[\s\S]*pause[\s\S]*resume[\s\S]*trigger[\s\S]*status[\s\S]*configure/,
    );
  });

  it('prints a complete example configuration that parses', async () => {
    const result = await runCli(['config', 'example'], {}, cwd);
    expect(result.code).toBe(0);
    expect(parseYaml(result.stdout)).toMatchObject({ outbound: { intervalMinutes: 15 } });
  });

  it('checks the configuration, naming the bad field, with exit code 2', async () => {
    writeFileSync(join(cwd, 'bad.yaml'), 'outbound:\n  batchSize: 80\n');
    const result = await runCli(['--config', 'bad.yaml', 'config', 'check'], {}, cwd);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/outbound\.batchSize: .*<=50/);
  });

  it('redacts secrets in config check --json', async () => {
    const result = await runCli(['--json', 'config', 'check'], {}, cwd);
    expect(result.code).toBe(0);
    const config = JSON.parse(result.stdout) as {
      s360: { jwtSecret: string };
      crm: { targets: Array<{ signingSecret: string }> };
    };
    expect(config.s360.jwtSecret).toBe('***');
    expect(config.crm.targets[0]?.signingSecret).toBe('***');
  });

  it('refuses out-of-range settings before contacting Temporal', async () => {
    const result = await runCli(['outbound', 'configure', '--interval-minutes', '0'], {}, cwd);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('intervalMinutes must be an integer from 1 to 1440 (got 0)');
    const notNumber = await runCli(['outbound', 'start', '--batch-size', 'fifty'], {}, cwd);
    expect(notNumber.code).toBe(2);
    expect(notNumber.stderr).toContain('--batch-size: expected a whole number, got "fifty"');
  });

  it('names an unknown target', async () => {
    const result = await runCli(['outbound', 'status', '--target', 'nope'], {}, cwd);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--target: unknown CRM target "nope" (configured: default)');
  });

  it('says clearly when Temporal is unreachable', async () => {
    const port = await freePort();
    const result = await runCli(
      ['outbound', 'status'],
      { CRM_SYNC_TEMPORAL_ADDRESS: `127.0.0.1:${port}` },
      cwd,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Cannot reach Temporal at 127.0.0.1:${port}`);
  }, 20_000); // the client retries for its 5 s connect timeout before giving up

  it('says clearly when the worker is not running for failed list', async () => {
    const port = await freePort();
    const result = await runCli(['failed', 'list'], { CRM_SYNC_RECEIVER_PORT: String(port) }, cwd);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach the crm-sync worker at http://127.0.0.1:${port}/`);
  });

  it('does not start the worker on an unreachable PostgreSQL store, naming it without its password', async () => {
    const port = await freePort();
    const result = await runCli(
      ['worker'],
      { CRM_SYNC_STORE_URL: `postgresql://crm_sync:hunter2@127.0.0.1:${port}/crm_sync` },
      cwd,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `crm-sync: Cannot open the PostgreSQL sync store at postgresql://crm_sync:***@127.0.0.1:${port}/crm_sync:`,
    );
    expect(result.stderr).not.toContain('hunter2');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('does not start the worker on a broken mapping, listing its problems', async () => {
    writeFileSync(join(cwd, 'mapping.yaml'), 'rules:\n  - crm: FirstName\n    s360: general.fristName\n');
    const result = await runCli(['worker'], { CRM_SYNC_MAPPING_FILE: 'mapping.yaml' }, cwd);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Invalid mapping');
    expect(result.stderr).toMatch(/line 2, rules\[0\]\.s360: general has no attribute "fristName"/);
  });

  it('rejects an unknown command with exit code 2', async () => {
    const result = await runCli(['frobnicate'], {}, cwd);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  });
});
