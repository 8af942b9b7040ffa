/**
 * The process the import benchmark measures, driven over IPC by import-throughput.ts: either the crm-sync service
 * (`worker`: worker and receiver, as `crm-sync worker` runs them, with a pre-built workflow bundle) or the plain
 * script (`plain`). Its own process, so that its CPU and peak memory are its own; `stop` answers with the peak
 * resident set size. Exits when the parent goes away.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseConfig } from '../src/config/load-config';
import { startService, type RunningService } from '../src/worker';
import { plainImport, type PlainImportOptions, type PlainImportResult } from './plain-import';

export type ImportChildCommand =
  | { type: 'worker'; config: unknown; workflowBundlePath: string }
  | { type: 'plain'; options: PlainImportOptions }
  | { type: 'stop' };

export type ImportChildEvent =
  | { type: 'ready' }
  | { type: 'plain-done'; result: PlainImportResult }
  | { type: 'failed'; message: string }
  | { type: 'stopped'; maxRssBytes: number; atPeak: MemorySample | null; cpuSeconds: number };

/** `process.memoryUsage()` in bytes. */
export type MemorySample = ReturnType<typeof process.memoryUsage>;

const send = (event: ImportChildEvent): void => void process.send?.(event);
const failed = (err: unknown): void =>
  send({ type: 'failed', message: String((err as Error)?.stack ?? err) });

function main(): void {
  let service: RunningService | undefined;
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
    } else if (command.type === 'plain') {
      plainImport(command.options).then((result) => send({ type: 'plain-done', result }), failed);
    } else {
      void (async () => {
        await service?.shutdown();
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
