import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import { createActivities } from './activities';
import { createCrmAdapter } from './adapters/crm';
import type { CrmAdapter } from './adapters/crm/crm-adapter';
import { SlidingWindowLimiter } from './adapters/http/sliding-window-limiter';
import { S360Client } from './adapters/s360/s360-client';
import type { CrmSyncConfig } from './config/config-schema';
import { loadMapping } from './mapping/load-mapping';
import { startReceiver, type Receiver } from './receiver/receiver-server';
import { openSyncStore } from './store/open-sync-store';
import type { SyncStore } from './store/sync-store';

/** The running service: a Temporal worker and the HTTP receiver, sharing one sync store and S-360 budget. */
export interface RunningService {
  receiver: Receiver;
  worker: Worker;
  store: SyncStore;
  /** Settles when the worker stops (after {@link RunningService.shutdown}, or on a fatal worker error). */
  finished: Promise<void>;
  /** Stops polling, lets running activities finish, then closes the receiver, the store and the connection. */
  shutdown(): Promise<void>;
}

export interface StartServiceOptions {
  /** A pre-built workflow bundle (tests bundle once per file); default: bundle `src/workflows` at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Overrides for tests (e.g. a shorter shutdown grace time). */
  workerOptions?: Partial<WorkerOptions>;
}

/**
 * The composition root: configuration -> store, adapters -> activities -> worker, plus the receiver that S-360
 * change notifications and the CLI's admin calls reach. The embedded store is single-process, so the worker and
 * the receiver run together here.
 */
export async function startService(
  config: CrmSyncConfig,
  options: StartServiceOptions = {},
): Promise<RunningService> {
  const mapping = loadMapping(config.mapping.file);
  const store = await openSyncStore(config, {
    onMaintenanceError: (err) =>
      Runtime.instance().logger.warn(
        'Sync store maintenance (vacuum, analyze) failed; a later run tries again',
        {
          error: String(err),
        },
      ),
  });
  const cleanups: Array<() => Promise<void>> = [() => store.close()];
  try {
    const s360Budget = new SlidingWindowLimiter({ limit: config.s360.callsPerMinute, windowMs: 60_000 });
    const s360 = new S360Client({ ...config.s360, limiter: s360Budget });
    const adapters = new Map<string, CrmAdapter>(
      config.crm.targets.map((target) => [target.name, createCrmAdapter(target)]),
    );
    const activities = createActivities({
      store,
      s360,
      s360Budget,
      mapping,
      mapContact: (contact) => mapping.mapOutbound(contact),
      removalOf: (target) =>
        config.crm.targets.find((candidate) => candidate.name === target)?.onS360Removal ?? 'deactivate',
      crmAdapter: (target) => {
        const adapter = adapters.get(target);
        if (!adapter)
          throw new Error(`Unknown CRM target "${target}"; configured: ${[...adapters.keys()].join(', ')}`);
        return adapter;
      },
    });

    const receiver = await startReceiver({
      host: config.receiver.host,
      port: config.receiver.port,
      store,
      targets: config.crm.targets.map((target) => target.name),
      crmSigningSecrets: Object.fromEntries(
        config.crm.targets.map((target) => [
          target.name,
          target.inboundSigningSecret ?? target.signingSecret,
        ]),
      ),
      s360Token: config.receiver.s360Token,
      adminToken: config.receiver.adminToken,
    });
    cleanups.unshift(() => receiver.close());

    const connection = await NativeConnection.connect({ address: config.temporal.address });
    cleanups.push(() => connection.close());
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      activities,
      workflowBundle:
        options.workflowBundle ??
        // Bundled here rather than by Worker.create, so that webpack's build report stays out of the service's log.
        (await bundleWorkflowCode({
          workflowsPath: require.resolve('./workflows'),
          logger: new DefaultLogger('WARN'),
        })),
      ...options.workerOptions,
    });
    const finished = worker.run();
    let stopping: Promise<void> | undefined;
    const shutdown = (): Promise<void> =>
      (stopping ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await finished.catch(() => undefined);
        for (const cleanup of cleanups) await cleanup();
      })());
    return { receiver, worker, store, finished, shutdown };
  } catch (err) {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    throw err;
  }
}
