import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LONG_RUNNING_ENV, missingProcessSettings } from '../../../src/cli/process-settings';

describe('Dockerfile', () => {
  it('starts the worker with its process settings, in one process', () => {
    const dockerfile = readFileSync(join(__dirname, '..', '..', '..', 'Dockerfile'), 'utf8');
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
});
