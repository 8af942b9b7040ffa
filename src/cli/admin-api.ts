import got, { HTTPError, RequestError } from 'got';
import type { CrmSyncConfig } from '../config/config-schema';
import { CliError } from './cli-context';

/**
 * Calls the running worker's admin API (the embedded store belongs to the worker process, so the CLI goes through
 * it). An unreachable worker or an error answer becomes a {@link CliError} saying where it looked.
 */
export async function adminApi<T>(
  config: CrmSyncConfig,
  method: 'GET' | 'POST',
  path: string,
  options: { searchParams?: Record<string, string | number>; json?: unknown },
): Promise<T> {
  const host = ['0.0.0.0', '::'].includes(config.receiver.host) ? '127.0.0.1' : config.receiver.host;
  const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${config.receiver.port}/`;
  try {
    return await got(path, {
      prefixUrl: baseUrl,
      method,
      ...options,
      headers: config.receiver.adminToken ? { authorization: `Bearer ${config.receiver.adminToken}` } : {},
      timeout: { request: 10_000 },
      retry: { limit: 0 },
    }).json<T>();
  } catch (err) {
    if (err instanceof HTTPError) {
      throw new CliError(`the worker answered ${err.response.statusCode}: ${String(err.response.body)}`);
    }
    if (err instanceof RequestError) {
      throw new CliError(
        `cannot reach the crm-sync worker at ${baseUrl} (${err.code}): is \`crm-sync worker\` running?`,
      );
    }
    throw err;
  }
}

/** A text table: columns padded to their widest cell (the first 200 rows), the last column left as is. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.slice(0, 200).map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}
