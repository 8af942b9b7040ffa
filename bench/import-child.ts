/**
 * A process of the import benchmark, driven over IPC by import-throughput.ts: the crm-sync service it measures
 * (`worker`: worker and receiver, as `crm-sync worker` runs them, with a pre-built workflow bundle), the plain
 * script (`plain`), or the S-360 and CRM sandboxes that either runs against (`sandboxes`, holding `contacts`
 * generated contacts). Each in a process of its own, so that its CPU and peak memory are its own, and started
 * afresh for every run, so that no run inherits the heap of an earlier one; `stop` answers with the peak resident
 * set size and the CPU time. Exits when the parent goes away.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseConfig } from '../src/config/load-config';
import { startCrmSandbox, type CrmSandbox } from '../src/sandbox/crm-sandbox';
import { startS360Sandbox, type S360Sandbox } from '../src/sandbox/s360-sandbox';
import { startService, type RunningService } from '../src/worker';
import { plainImport, type PlainImportOptions, type PlainImportResult } from './plain-import';

/** The sandboxes of one run: without rate limits, the S-360 one holding `contacts` contacts from `seed`. */
export interface BenchSandboxesOptions {
  contacts: number;
  seed: number;
  institution: string;
  jwtSecret: string;
  signingSecret: string;
}

export type ImportChildCommand =
  | { type: 'worker'; config: unknown; workflowBundlePath: string }
  | { type: 'plain'; options: PlainImportOptions }
  | { type: 'sandboxes'; options: BenchSandboxesOptions }
  | { type: 'stop' };

export type ImportChildEvent =
  | { type: 'ready' }
  | { type: 'sandboxes-ready'; s360Url: string; crmUrl: string }
  | { type: 'plain-done'; result: PlainImportResult }
  | { type: 'failed'; message: string }
  | { type: 'stopped'; maxRssBytes: number; atPeak: MemorySample | null; cpuSeconds: number };

/** `process.memoryUsage()` in bytes. */
export type MemorySample = ReturnType<typeof process.memoryUsage>;

const send = (event: ImportChildEvent): void => void process.send?.(event);
const failed = (err: unknown): void =>
  send({ type: 'failed', message: String((err as Error)?.stack ?? err) });

/** Starts the sandboxes and fills the S-360 one. */
async function startSandboxes(
  options: BenchSandboxesOptions,
): Promise<{ s360: S360Sandbox; crm: CrmSandbox }> {
  const s360 = await startS360Sandbox({
    port: 0,
    jwtSecret: options.jwtSecret,
    institution: options.institution,
    callsPerMinute: 0,
  });
  const crm = await startCrmSandbox({ port: 0, signingSecret: options.signingSecret });
  const response = await fetch(`${s360.url}/__sandbox/contacts/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ count: options.contacts, seed: options.seed, notify: false }),
  });
  if (!response.ok) throw new Error(`generating contacts: ${response.status} ${await response.text()}`);
  return { s360, crm };
}

function main(): void {
  let service: RunningService | undefined;
  let sandboxes: Array<{ close(): Promise<void> }> = [];
  // Where the memory is at the highest RSS sampled.
  let atPeak: MemorySample | null = null;
  setInterval(() => {
    const sample = process.memoryUsage();
    if (!atPeak || sample.rss > atPeak.rss) atPeak = sample;
  }, 250).unref();
  process.on('disconnect', () => process.exit(1));
  process.on('message', (command: ImportChildCommand) => {
    if (command.type === 'worker') {
      Runtime.install({ logger: new DefaultLogger('WARN') });
      startService(parseConfig(command.config, 'benchmark'), {
        workflowBundle: { codePath: command.workflowBundlePath },
      }).then((started) => {
        service = started;
        send({ type: 'ready' });
      }, failed);
    } else if (command.type === 'sandboxes') {
      startSandboxes(command.options).then(({ s360, crm }) => {
        sandboxes = [s360, crm];
        send({ type: 'sandboxes-ready', s360Url: s360.url, crmUrl: crm.url });
      }, failed);
    } else if (command.type === 'plain') {
      plainImport(command.options).then((result) => send({ type: 'plain-done', result }), failed);
    } else {
      void (async () => {
        await service?.shutdown();
        await Promise.all(sandboxes.map((sandbox) => sandbox.close()));
        const { user, system } = process.cpuUsage();
        send({
          type: 'stopped',
          maxRssBytes: process.resourceUsage().maxRSS * 1024,
          atPeak,
          cpuSeconds: (user + system) / 1e6,
        });
        process.disconnect();
        process.exit(0);
      })();
    }
  });
}

main();
