import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CrmSyncConfig } from '../../config/config-schema';
import { startSandboxes } from '../../sandbox';
import { devServerExecutable } from '../../temporal-server/locate-binaries';
import { startService } from '../../worker';
import {
  inboundSync,
  inboundSyncWorkflowId,
  initialImport,
  initialImportWorkflowId,
  outboundSync,
  outboundSyncWorkflowId,
} from '../../workflows';
import { configFor, integerOption, output, type CliIo } from '../cli-context';
import { untilInterrupted } from '../until-interrupted';
import { generateContacts } from './sandbox-command';

/**
 * `crm-sync dev`: everything a newcomer needs in one process — the Temporal dev server with its Web UI (history
 * kept in `<dataDir>/temporal.db`), the S-360 and CRM sandboxes, the worker and its receiver; then it generates
 * sandbox contacts (as if they were in S-360 before crm-sync) and starts the initial import, the outbound and the
 * inbound sync of every target. Ctrl-C stops it all.
 */
export function registerDevCommand(program: Command, io: CliIo): void {
  program
    .command('dev')
    .description(
      'run everything locally: Temporal dev server + Web UI, sandboxes, worker; start the outbound sync',
    )
    .option(
      '--contacts <n>',
      'contacts to generate in the S-360 sandbox (default: dev.generateContacts)',
      integerOption('--contacts'),
    )
    .action(async (options: { contacts?: number }, command: Command) => {
      const config = configFor(command, io);
      const say = (line: string): void => {
        io.stderr.write(`${line}\n`);
      };
      mkdirSync(config.dataDir, { recursive: true });

      say('Starting the Temporal dev server...');
      const temporal = await TestWorkflowEnvironment.createLocal({
        server: {
          executable: devServerExecutable(io.env),
          ip: '127.0.0.1',
          port: config.dev.temporalPort,
          ui: true,
          uiPort: config.dev.temporalUiPort,
          dbFilename: join(config.dataDir, 'temporal.db'),
          namespace: config.temporal.namespace,
        },
      });
      const stops: Array<() => Promise<void>> = [() => temporal.teardown()];
      try {
        const devConfig: CrmSyncConfig = {
          ...config,
          temporal: { ...config.temporal, address: `127.0.0.1:${config.dev.temporalPort}` },
        };
        const receiverUrl = `http://127.0.0.1:${config.receiver.port}`;
        const firstTarget = config.crm.targets[0];
        say('Starting the S-360 and CRM sandboxes...');
        const sandboxes = await startSandboxes({
          s360Port: config.dev.s360SandboxPort,
          crmPort: config.dev.crmSandboxPort,
          s360: {
            jwtSecret: config.s360.jwtSecret,
            institution: config.s360.institution,
            callsPerMinute: config.s360.callsPerMinute,
            notificationUrl: `${receiverUrl}/notifications/s360${
              config.receiver.s360Token ? `?token=${encodeURIComponent(config.receiver.s360Token)}` : ''
            }`,
          },
          crm: {
            signingSecret: firstTarget?.signingSecret ?? '',
            // Edits made in the CRM sandbox come back as signed change events, like a CRM's outbound messages.
            ...(firstTarget
              ? {
                  changeWebhook: {
                    url: `${receiverUrl}/notifications/crm/${firstTarget.name}`,
                    signingSecret: firstTarget.inboundSigningSecret ?? firstTarget.signingSecret,
                  },
                }
              : {}),
          },
        });
        stops.unshift(() => sandboxes.close());

        say('Starting the crm-sync worker (bundling workflows takes a few seconds)...');
        const service = await startService(devConfig);
        stops.unshift(() => service.shutdown());

        const contacts = options.contacts ?? config.dev.generateContacts;
        // Contacts that were in S-360 before crm-sync: the initial import brings them to the CRM.
        if (contacts > 0) {
          await generateContacts(sandboxes.s360.url, contacts, config.dev.seed, { notify: false });
        }

        const client = temporal.client;
        const startOnce = async (start: () => Promise<unknown>): Promise<void> => {
          try {
            await start();
          } catch (err) {
            if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          }
        };
        for (const target of config.crm.targets) {
          await startOnce(() =>
            client.workflow.start(initialImport, {
              workflowId: initialImportWorkflowId(target.name),
              taskQueue: config.temporal.taskQueue,
              args: [{ target: target.name }],
            }),
          );
          await startOnce(() =>
            client.workflow.start(outboundSync, {
              workflowId: outboundSyncWorkflowId(target.name),
              taskQueue: config.temporal.taskQueue,
              args: [{ target: target.name, settings: config.outbound }],
            }),
          );
          await startOnce(() =>
            client.workflow.start(inboundSync, {
              workflowId: inboundSyncWorkflowId(target.name),
              taskQueue: config.temporal.taskQueue,
              args: [{ target: target.name, settings: config.inbound }],
            }),
          );
        }

        const uiUrl = `http://127.0.0.1:${config.dev.temporalUiPort}`;
        const urls = {
          temporalUi: uiUrl,
          temporal: devConfig.temporal.address,
          workflows: config.crm.targets.flatMap((target) =>
            [
              initialImportWorkflowId(target.name),
              outboundSyncWorkflowId(target.name),
              inboundSyncWorkflowId(target.name),
            ].map(
              (workflowId) =>
                `${uiUrl}/namespaces/${config.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}`,
            ),
          ),
          s360Sandbox: sandboxes.s360.url,
          crmSandboxRecords: `${sandboxes.crm.url}/__sandbox/records`,
          receiver: `${service.receiver.url}/notifications/s360`,
          parked: `${service.receiver.url}/api/parked?target=${config.crm.targets[0]?.name ?? 'default'}`,
        };
        output(command, io, urls, () =>
          [
            '',
            'crm-sync is running.',
            `  Temporal Web UI:      ${urls.temporalUi}`,
            ...urls.workflows.map((url) => `  Workflow:             ${url}`),
            `  Temporal frontend:    ${urls.temporal}`,
            `  S-360 sandbox:        ${urls.s360Sandbox}  (${contacts} contacts generated)`,
            `  CRM sandbox records:  ${urls.crmSandboxRecords}`,
            `  S-360 notifications:  ${urls.receiver}`,
            `  Parked records:       ${urls.parked}`,
            '',
            'In another terminal: `npx crm-sync import status --watch` (the initial import),',
            '`npx crm-sync outbound status`, `npx crm-sync outbound trigger`, `npx crm-sync failed list`.',
            'Ctrl-C stops everything.',
          ].join('\n'),
        );
        await untilInterrupted(service.finished);
        say('Stopping...');
      } finally {
        for (const stop of stops) await stop().catch((err: unknown) => say(`while stopping: ${String(err)}`));
      }
    });
}
