import type { Command } from 'commander';
import got from 'got';
import { startSandboxes } from '../../sandbox';
import { CliError, configFor, integerOption, output, type CliIo } from '../cli-context';
import { untilInterrupted } from '../until-interrupted';

interface SandboxOptions {
  s360Port?: number;
  crmPort?: number;
  notifyUrl?: string;
  /** Where CRM users' edits are posted; false with --no-crm-changes. */
  crmChanges: string | boolean;
  callsPerMinute?: number;
  throttleStatus: number;
  generate: number;
  seed?: number;
}

/** `crm-sync sandbox`: the S-360 and CRM simulators in one process, until interrupted. */
export function registerSandboxCommand(program: Command, io: CliIo): void {
  program
    .command('sandbox')
    .description('run the S-360 and CRM simulators (for demos, tests and benchmarks) until interrupted')
    .option(
      '--s360-port <port>',
      'S-360 sandbox port (default: dev.s360SandboxPort)',
      integerOption('--s360-port'),
    )
    .option(
      '--crm-port <port>',
      'CRM sandbox port (default: dev.crmSandboxPort)',
      integerOption('--crm-port'),
    )
    .option('--notify-url <url>', 'where S-360 change notifications are POSTed (default: the receiver)')
    .option(
      '--crm-changes <url>',
      'where CRM sandbox edits are POSTed as signed events (default: the receiver, /notifications/crm/<target>)',
    )
    .option('--no-crm-changes', 'do not post CRM sandbox edits (they are still listed by GET /changes)')
    .option(
      '--calls-per-minute <n>',
      'S-360 API limit, 0 = none (default: 180)',
      integerOption('--calls-per-minute'),
    )
    .option(
      '--throttle-status <code>',
      'answer to calls over the limit: 509 or 429',
      integerOption('--throttle-status'),
      509,
    )
    .option('--generate <n>', 'contacts to generate at start', integerOption('--generate'), 0)
    .option('--seed <n>', 'seed of the generated contacts (default: dev.seed)', integerOption('--seed'))
    .action(async (options: SandboxOptions, command: Command) => {
      const config = configFor(command, io);
      if (options.throttleStatus !== 509 && options.throttleStatus !== 429) {
        throw new CliError(`--throttle-status: expected 509 or 429, got ${options.throttleStatus}`, 2);
      }
      const receiverHost = ['0.0.0.0', '::'].includes(config.receiver.host)
        ? '127.0.0.1'
        : config.receiver.host;
      const notificationUrl =
        options.notifyUrl ?? `http://${receiverHost}:${config.receiver.port}/notifications/s360`;
      const target = config.crm.targets[0];
      const crmChangesUrl =
        options.crmChanges === false
          ? undefined
          : typeof options.crmChanges === 'string'
            ? options.crmChanges
            : target
              ? `http://${receiverHost}:${config.receiver.port}/notifications/crm/${target.name}`
              : undefined;
      const sandboxes = await startSandboxes({
        s360Port: options.s360Port ?? config.dev.s360SandboxPort,
        crmPort: options.crmPort ?? config.dev.crmSandboxPort,
        s360: {
          jwtSecret: config.s360.jwtSecret,
          institution: config.s360.institution,
          callsPerMinute: options.callsPerMinute ?? config.s360.callsPerMinute,
          throttleStatus: options.throttleStatus,
          notificationUrl,
        },
        crm: {
          signingSecret: target?.signingSecret ?? '',
          ...(crmChangesUrl && target
            ? {
                changeWebhook: {
                  url: crmChangesUrl,
                  signingSecret: target.inboundSigningSecret ?? target.signingSecret,
                },
              }
            : {}),
        },
      });
      if (options.generate > 0) {
        await generateContacts(sandboxes.s360.url, options.generate, options.seed ?? config.dev.seed);
      }
      output(
        command,
        io,
        {
          s360: sandboxes.s360.url,
          crm: sandboxes.crm.url,
          notificationUrl,
          crmChangesUrl: crmChangesUrl ?? null,
          generated: options.generate,
        },
        () =>
          [
            `S-360 sandbox: ${sandboxes.s360.url}  (API under /tnco/backend-apis/contactInformationPublicService/v2_21/)`,
            `  change notifications -> ${notificationUrl}`,
            `CRM sandbox:   ${sandboxes.crm.url}  (webhook: POST /hooks/contacts; records: GET /__sandbox/records)`,
            crmChangesUrl
              ? `  CRM users' edits -> ${crmChangesUrl}`
              : "  CRM users' edits: listed by GET /changes only",
            options.generate > 0 ? `Generated ${options.generate} contacts.` : '',
            'Ctrl-C to stop.',
          ]
            .filter(Boolean)
            .join('\n'),
      );
      await untilInterrupted();
      await sandboxes.close();
    });
}

/**
 * Generates contacts in a running S-360 sandbox: each one a change, notified like any other, or with
 * `notify: false` contacts that were there before crm-sync (the initial import's job).
 */
export async function generateContacts(
  s360Url: string,
  count: number,
  seed: number,
  options: { notify?: boolean } = {},
): Promise<void> {
  await got.post(`${s360Url}/__sandbox/contacts/generate`, {
    json: { count, seed, notify: options.notify ?? true },
    timeout: { request: 120_000 },
  });
}
