import {
  LONG_RUNNING_ENV,
  LONG_RUNNING_NODE_FLAGS,
  commandOf,
  missingProcessSettings,
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
