import { Client, Connection } from '@temporalio/client';
import type { CrmSyncConfig } from './config/config-schema';

/** Temporal is not reachable at the configured address. */
export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
  constructor(address: string, cause: unknown) {
    super(
      `Cannot reach Temporal at ${address}: ${(cause as Error)?.message ?? String(cause)}. ` +
        'Is the server running? (`crm-sync dev` starts one; set CRM_SYNC_TEMPORAL_ADDRESS to use another)',
      { cause },
    );
  }
}

/** A Temporal client for the configured namespace. Call `connection.close()` when done. */
export async function connectTemporalClient(
  temporal: CrmSyncConfig['temporal'],
  options: { connectTimeoutMs?: number } = {},
): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({
      address: temporal.address,
      connectTimeout: options.connectTimeoutMs ?? 5_000,
    });
  } catch (err) {
    throw new TemporalUnreachableError(temporal.address, err);
  }
  return new Client({ connection, namespace: temporal.namespace });
}
