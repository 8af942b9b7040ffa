#!/usr/bin/env node
'use strict';
// The compiled CLI; `npm install` builds it (the `prepare` script).
const { processSettingsFor } = require('../dist/cli/process-settings.js');

const args = process.argv.slice(2);
const missing = processSettingsFor(args, process.execArgv, process.env);
if (missing) {
  // `worker` and `dev` run with node flags and environment variables that bound their memory, chosen for their
  // sync store (see src/cli/process-settings.ts), which only take effect when a process starts: this process runs
  // the command in a child node started with them, and waits for it. Ctrl-C reaches both (the terminal signals its
  // foreground process group), so SIGINT is left to the child; SIGTERM and SIGHUP, which a supervisor (docker stop,
  // systemd) sends to this process alone, are passed on.
  const { spawn } = require('node:child_process');
  const child = spawn(process.execPath, [...missing.nodeFlags, ...process.execArgv, __filename, ...args], {
    stdio: 'inherit',
    env: { ...process.env, ...missing.env },
  });
  child.on('error', (err) => {
    process.stderr.write(`crm-sync: cannot start node: ${err.message}\n`);
    process.exit(1);
  });
  process.on('SIGINT', () => undefined);
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 1);
    }
  });
} else {
  require('../dist/cli/main.js')
    .main(process.argv)
    .then((code) => {
      process.exitCode = code;
    });
}
