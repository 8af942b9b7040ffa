import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  TemporalBinaryError,
  devServerExecutable,
  locateTemporalBinary,
  timeSkippingServerExecutable,
  timeSkippingServerOptions,
} from '../../../src/temporal-server/locate-binaries';

describe('locating the Temporal binaries', () => {
  let dir: string;
  const executable = (path: string): string => {
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, 0o755);
    return path;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'crm-sync-bin-'));
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prefers the explicit variable over PATH', () => {
    const explicit = executable(join(dir, 'my-temporal'));
    executable(join(dir, 'b', 'temporal'));
    const env = { CRM_SYNC_TEMPORAL_CLI: explicit, PATH: join(dir, 'b') };
    expect(locateTemporalBinary('cli', env)).toBe(explicit);
    expect(devServerExecutable(env)).toEqual({ type: 'existing-path', path: explicit });
  });

  it('searches PATH in order, skipping non-executable files', () => {
    writeFileSync(join(dir, 'a', 'temporal-test-server'), 'not executable');
    const found = executable(join(dir, 'b', 'temporal-test-server'));
    const env = { PATH: [join(dir, 'missing'), join(dir, 'a'), join(dir, 'b')].join(delimiter) };
    expect(locateTemporalBinary('testServer', env)).toBe(found);
    expect(timeSkippingServerExecutable(env)).toEqual({ type: 'existing-path', path: found });
  });

  it('skips a directory that has the binary name', () => {
    mkdirSync(join(dir, 'a', 'temporal'));
    const found = executable(join(dir, 'b', 'temporal'));
    expect(locateTemporalBinary('cli', {}, [join(dir, 'a'), join(dir, 'b')].join(delimiter))).toBe(found);
  });

  it('searches the PATH given as a parameter rather than the one in env', () => {
    const found = executable(join(dir, 'b', 'temporal-test-server'));
    const env = { PATH: join(dir, 'a') };
    expect(locateTemporalBinary('testServer', env)).toBeUndefined();
    expect(locateTemporalBinary('testServer', env, join(dir, 'b'))).toBe(found);
    expect(timeSkippingServerOptions(env, join(dir, 'b'))).toEqual({
      server: { executable: { type: 'existing-path', path: found } },
    });
  });

  it("falls back to the SDK's download when nothing is found", () => {
    const env = { PATH: join(dir, 'a'), CRM_SYNC_TEMPORAL_CLI: '  ' };
    expect(locateTemporalBinary('cli', env)).toBeUndefined();
    expect(devServerExecutable(env)).toEqual({ type: 'cached-download' });
    // No server option at all: @temporalio/testing then uses its default, the cached download.
    expect(timeSkippingServerOptions(env)).toEqual({});
  });

  it('names the variable when it points at nothing usable', () => {
    const env = { CRM_SYNC_TEMPORAL_TEST_SERVER: join(dir, 'nope'), PATH: '' };
    expect(() => locateTemporalBinary('testServer', env)).toThrow(TemporalBinaryError);
    expect(() => locateTemporalBinary('testServer', env)).toThrow(
      /^CRM_SYNC_TEMPORAL_TEST_SERVER=.*nope: no executable/,
    );
    // Also when the file exists but cannot be run, and even when PATH has a working one.
    const notExecutable = join(dir, 'temporal');
    writeFileSync(notExecutable, 'text');
    const found = executable(join(dir, 'b', 'temporal'));
    expect(() =>
      locateTemporalBinary('cli', { CRM_SYNC_TEMPORAL_CLI: notExecutable }, join(dir, 'b')),
    ).toThrow(/^CRM_SYNC_TEMPORAL_CLI=/);
    expect(locateTemporalBinary('cli', {}, join(dir, 'b'))).toBe(found);
  });

  it('reads the process environment when called, not when imported', () => {
    const fakeServer = executable(join(dir, 'fake-test-server'));
    const before = process.env.CRM_SYNC_TEMPORAL_TEST_SERVER;
    process.env.CRM_SYNC_TEMPORAL_TEST_SERVER = fakeServer;
    try {
      expect(locateTemporalBinary('testServer')).toBe(fakeServer);
      expect(timeSkippingServerOptions()).toEqual({
        server: { executable: { type: 'existing-path', path: fakeServer } },
      });
    } finally {
      if (before === undefined) delete process.env.CRM_SYNC_TEMPORAL_TEST_SERVER;
      else process.env.CRM_SYNC_TEMPORAL_TEST_SERVER = before;
    }
  });
});
