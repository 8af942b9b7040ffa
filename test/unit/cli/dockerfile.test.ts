import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { LONG_RUNNING_ENV, missingProcessSettings } from '../../../src/cli/process-settings';

const root = join(__dirname, '..', '..', '..');

describe('Dockerfile', () => {
  it('starts the worker with its process settings, in one process', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    const command = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    const [node, ...execArgv] = JSON.parse(entrypoint ?? '[]') as string[];
    const script = execArgv.pop();
    expect([node, script]).toEqual(['node', 'bin/crm-sync.js']);
    const env = Object.fromEntries(
      [...dockerfile.matchAll(/^ENV (\w+)=(\S+)$/gm)].map((match) => [match[1], match[2]]),
    );
    expect(env).toMatchObject(LONG_RUNNING_ENV);
    expect(missingProcessSettings(JSON.parse(command ?? '[]') as string[], execArgv, env)).toBeNull();
  });

  it("runs the worker of docker compose, on its PostgreSQL store, with that store's settings in one process", () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const imageEnv = Object.fromEntries(
      [...dockerfile.matchAll(/^ENV (\w+)=(\S+)$/gm)].map((match) => [match[1], match[2]]),
    );
    const compose = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
      services: Record<
        string,
        { entrypoint?: string[]; command?: string[]; environment?: Record<string, string> }
      >;
    };
    const service = compose.services['crm-sync'];
    const [node, ...execArgv] = service?.entrypoint ?? [];
    const script = execArgv.pop();
    expect([node, script]).toEqual(['node', 'bin/crm-sync.js']);
    expect(service?.environment?.CRM_SYNC_STORE_URL).toMatch(/^postgresql:\/\//);
    expect(
      missingProcessSettings(
        service?.command ?? [],
        execArgv,
        { ...imageEnv, ...service?.environment },
        'postgres',
      ),
    ).toBeNull();
  });
});
