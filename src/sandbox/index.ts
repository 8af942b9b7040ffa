import { startCrmSandbox, type CrmSandbox, type CrmSandboxOptions } from './crm-sandbox';
import { startS360Sandbox, type S360Sandbox, type S360SandboxOptions } from './s360-sandbox';

export {
  startCrmSandbox,
  type CrmSandbox,
  type CrmSandboxChange,
  type CrmSandboxOptions,
} from './crm-sandbox';
export { startS360Sandbox, type S360Sandbox, type S360SandboxOptions } from './s360-sandbox';

export interface SandboxesOptions {
  /** 0 = the OS chooses. */
  s360Port: number;
  /** 0 = the OS chooses. */
  crmPort: number;
  s360: Omit<S360SandboxOptions, 'port'>;
  /** Passed as is, `changeWebhook` and `apiToken` included. */
  crm: Omit<CrmSandboxOptions, 'port'>;
}

export interface Sandboxes {
  s360: S360Sandbox;
  crm: CrmSandbox;
  /** Stops both. */
  close(): Promise<void>;
}

/**
 * Starts the S-360 and CRM sandboxes together (`crm-sync sandbox` and `crm-sync dev`). If one fails to start, the
 * other is stopped before the error is thrown.
 */
export async function startSandboxes(options: SandboxesOptions): Promise<Sandboxes> {
  const [s360, crm] = await Promise.allSettled([
    startS360Sandbox({ ...options.s360, port: options.s360Port }),
    startCrmSandbox({ ...options.crm, port: options.crmPort }),
  ]);
  if (s360.status === 'rejected' || crm.status === 'rejected') {
    await Promise.all([
      s360.status === 'fulfilled' ? s360.value.close() : undefined,
      crm.status === 'fulfilled' ? crm.value.close() : undefined,
    ]);
    throw s360.status === 'rejected' ? s360.reason : (crm as PromiseRejectedResult).reason;
  }
  return {
    s360: s360.value,
    crm: crm.value,
    close: async () => {
      await Promise.all([s360.value.close(), crm.value.close()]);
    },
  };
}
