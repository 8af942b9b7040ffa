/**
 * A throwaway PostgreSQL server for the tests and benchmarks of the PostgreSQL sync store: `initdb` in a temporary
 * folder, `postgres` on 127.0.0.1 and a port the OS reports free, removed again by `stop()`. The server binaries are
 * found without a machine path: `CRM_SYNC_POSTGRES_BIN` (the folder holding `initdb` and `postgres`), then PATH,
 * then the versioned folders of the Debian and Ubuntu packages (`/usr/lib/postgresql/<major>/bin`, newest first).
 *
 * PostgreSQL refuses to run as root: under root, the server runs as the `postgres` user the distribution's package
 * creates (or `nobody`), and its folder is given to that user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chownSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './free-port';

export interface PostgresServer {
  /** `postgresql://crm_sync@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** A fast shutdown (open connections are closed), then the folder is removed. */
  stop(): Promise<void>;
}

export interface PostgresServerOptions {
  /**
   * `false` (the default for tests): no fsync, for speed, as the data dies with the test. `true` keeps PostgreSQL's
   * durable defaults, for benchmarks that must measure what a deployment pays.
   */
  durable?: boolean;
  /** Default 30 s. */
  startTimeoutMs?: number;
}

const user = 'crm_sync';
const debianPackages = '/usr/lib/postgresql';

/** The folder of `initdb` and `postgres`, or an error saying where it looked and how to install them. */
export function locatePostgresBinaries(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.CRM_SYNC_POSTGRES_BIN?.trim();
  if (explicit) {
    if (!hasServerBinaries(explicit)) {
      throw new Error(`CRM_SYNC_POSTGRES_BIN=${explicit}: no executable initdb and postgres there`);
    }
    return explicit;
  }
  const fromPath = (env.PATH ?? '').split(delimiter).filter(Boolean).find(hasServerBinaries);
  if (fromPath) return fromPath;
  const versions = safeReaddir(debianPackages)
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const folder = join(debianPackages, version, 'bin');
    if (hasServerBinaries(folder)) return folder;
  }
  throw new Error(
    'No PostgreSQL server binaries (initdb, postgres) found: set CRM_SYNC_POSTGRES_BIN to their folder, put them ' +
      `on PATH, or install the server (Debian, Ubuntu: apt-get install postgresql; looked in ${debianPackages}/*/bin too)`,
  );
}

/** Starts a server; call `stop()` in `afterAll`. */
export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const bin = locatePostgresBinaries();
  const owner = unprivilegedOwner();
  const folder = mkdtempSync(join(tmpdir(), 'crm-sync-postgres-'));
  const dataDir = join(folder, 'data');
  if (owner) chownSync(folder, owner.uid, owner.gid);
  const spawnOptions = owner ? { uid: owner.uid, gid: owner.gid } : {};

  await run(
    join(bin, 'initdb'),
    ['-D', dataDir, '-U', user, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
    spawnOptions,
  );
  const port = await freePort();
  const settings = [
    'listen_addresses=127.0.0.1',
    `unix_socket_directories=${folder}`,
    'max_connections=200',
    ...(options.durable ? [] : ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off']),
  ];
  const server = spawn(
    join(bin, 'postgres'),
    ['-D', dataDir, '-p', String(port), ...settings.flatMap((setting) => ['-c', setting])],
    { ...spawnOptions, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  server.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const url = (database: string): string => `postgresql://${user}@127.0.0.1:${port}/${database}`;

  const stop = async (): Promise<void> => {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGINT');
    const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    rmSync(folder, { recursive: true, force: true });
  };

  try {
    await untilAccepting(url('postgres'), server, options.startTimeoutMs ?? 30_000, () => log);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: url('postgres'),
    port,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      const client = new Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`create database ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
  };
}

async function untilAccepting(
  url: string,
  server: ChildProcess,
  timeoutMs: number,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`postgres exited (${server.signalCode ?? server.exitCode}) at start:\n${log()}`);
    }
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) {
        throw new Error(
          `postgres did not accept connections within ${timeoutMs} ms: ${String(err)}\n${log()}`,
          {
            cause: err,
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function run(command: string, args: string[], options: { uid?: number; gid?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}:\n${stderr}`)),
    );
  });
}

/** Under root, the user the server runs as: `postgres` (made by the distribution's package), else `nobody`. */
function unprivilegedOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const accounts = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .filter((fields) => fields.length >= 4);
  for (const name of ['postgres', 'nobody']) {
    const account = accounts.find((fields) => fields[0] === name);
    if (account) return { uid: Number(account[2]), gid: Number(account[3]) };
  }
  throw new Error('running as root, and neither a "postgres" nor a "nobody" user to run PostgreSQL as');
}

function hasServerBinaries(folder: string): boolean {
  return ['initdb', 'postgres'].every((name) => {
    try {
      accessSync(join(folder, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function safeReaddir(folder: string): string[] {
  try {
    return readdirSync(folder);
  } catch {
    return [];
  }
}
