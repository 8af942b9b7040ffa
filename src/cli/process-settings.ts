import type { StoreConfig } from '../config/config-schema';
import { loadConfig } from '../config/load-config';

/**
 * Process settings of the long-running commands (`worker`, `dev`), which bin/crm-sync.js starts them with (and the
 * import benchmark its worker). They depend on where the sync store is. Measured on the worker importing 100,000
 * contacts (see the README's Benchmarks):
 *
 * - Embedded store, `--max-semi-space-size=2 --max-old-space-size=192`: by default V8 sizes its heap for the
 *   machine (a young generation of up to 48 MB, an old generation allowed to grow to gigabytes before collecting
 *   hard), and the worker, whose live heap is about 50 MB, kept hundreds of MB of garbage beside PGlite's own
 *   memory. The trade-off: CPU. A young generation of 2 MB is collected eight times as often, and below 256 MB of
 *   old generation V8 lets the heap grow by only 30% between full collections, each of which marks the whole live
 *   heap (the Temporal SDK's is most of it); together about 0.4 ms of CPU per contact imported. A heap that fails
 *   beyond 192 MB of live objects (none of the service's state grows with the number of contacts; NODE_OPTIONS can
 *   set other sizes).
 * - PostgreSQL store, `--max-semi-space-size=16 --max-old-space-size=1024`: no PGlite in the process, so the heap
 *   may take more: V8's own young generation, and room for the old one to grow by 60% between full collections.
 *   The worker peaked near 220 MB over 100,000 contacts, and spent that CPU on the import instead.
 * - `--wasm-num-compilation-tasks=1` (embedded store): V8 compiles the hot functions of the embedded store
 *   (PostgreSQL compiled to WebAssembly) with its optimising compiler in background tasks, by default as many as it
 *   has threads, each with its own scratch memory; one task compiles the same functions a little later, with one
 *   task's memory.
 * - `MALLOC_ARENA_MAX=1`: glibc gives each thread that allocates (V8's platform and compiler threads, libuv's pool,
 *   the Temporal core's Rust runtime) a malloc arena of its own, which keeps the memory freed in it; one arena is
 *   shared by all (two kept about 20 MB more). The trade-off: threads wait for each other's allocations; the import
 *   showed no difference in CPU or contacts per second. Other C libraries ignore it.
 */
export const LONG_RUNNING_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=2',
  '--max-old-space-size=192',
  '--wasm-num-compilation-tasks=1',
];

/** The node flags of a worker whose sync store is a PostgreSQL server (see {@link LONG_RUNNING_NODE_FLAGS}). */
export const POSTGRES_STORE_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=16',
  '--max-old-space-size=1024',
];

/** Environment variables of the long-running commands (see {@link LONG_RUNNING_NODE_FLAGS}). */
export const LONG_RUNNING_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

/** Where the sync store is, as far as the process settings care. */
export type StoreKind = StoreConfig['kind'];

/**
 * The node flags of each long-running command, per store. `dev` also holds the sandboxes' contacts (up to a
 * million) in its heap, so its old generation is left unbounded.
 */
export function longRunningNodeFlags(command: string, store: StoreKind): readonly string[] | undefined {
  const flags = store === 'postgres' ? POSTGRES_STORE_NODE_FLAGS : LONG_RUNNING_NODE_FLAGS;
  if (command === 'worker') return flags;
  if (command === 'dev') return flags.filter((flag) => !flag.startsWith('--max-old-space-size='));
  return undefined;
}

/** Global options of `crm-sync` that take a value (see buildProgram). */
const OPTIONS_WITH_VALUE = new Set(['-c', '--config']);

/** The command named by `crm-sync`'s arguments (those after `node` and the script), if any. */
export function commandOf(args: readonly string[]): string | undefined {
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] as string;
    if (arg === '--') return args[index + 1];
    if (OPTIONS_WITH_VALUE.has(arg)) index += 1;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/** Flags and environment variables to start a process with. */
export interface ProcessSettings {
  nodeFlags: string[];
  env: Record<string, string>;
}

const flagName = (flag: string): string => (flag.split('=')[0] as string).replace(/_/g, '-');

/**
 * What the process running `crm-sync <args>` lacks of the long-running commands' settings: nothing for other
 * commands, and nothing that its node options (`execArgv`, `NODE_OPTIONS`) or environment already set, so that a
 * deployment can choose its own. Null when nothing is missing.
 */
export function missingProcessSettings(
  args: readonly string[],
  execArgv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  store: StoreKind = 'embedded',
): ProcessSettings | null {
  const command = commandOf(args);
  const flags = command === undefined ? undefined : longRunningNodeFlags(command, store);
  if (!flags) return null;
  const given = new Set(
    [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].filter(Boolean).map(flagName),
  );
  const nodeFlags = flags.filter((flag) => !given.has(flagName(flag)));
  const missingEnv = Object.entries(LONG_RUNNING_ENV).filter(([name]) => env[name] === undefined);
  if (nodeFlags.length === 0 && missingEnv.length === 0) return null;
  return { nodeFlags, env: Object.fromEntries(missingEnv) };
}

/**
 * The kind of sync store `crm-sync <args>` would run with: its configuration (`--config`, the environment, the
 * working directory's file), read the way the command itself will read it. A configuration that cannot be read
 * counts as the embedded store's: the command reports the problem itself.
 */
export function storeKindOf(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string = process.cwd(),
): StoreKind {
  try {
    const configFile = configFileOf(args);
    return loadConfig({ ...(configFile !== undefined ? { configFile } : {}), env, cwd }).store.kind;
  } catch {
    return 'embedded';
  }
}

/** The value of `--config` / `-c` among the global options, if given. */
function configFileOf(args: readonly string[]): string | undefined {
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] as string;
    if (arg === '--') return undefined;
    if (OPTIONS_WITH_VALUE.has(arg)) return args[index + 1];
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
    if (!arg.startsWith('-')) return undefined;
  }
  return undefined;
}

/**
 * What bin/crm-sync.js starts `crm-sync <args>` with: {@link missingProcessSettings} for the store the command's
 * configuration names (read only for the long-running commands).
 */
export function processSettingsFor(
  args: readonly string[],
  execArgv: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string = process.cwd(),
): ProcessSettings | null {
  const command = commandOf(args);
  if (command === undefined || longRunningNodeFlags(command, 'embedded') === undefined) return null;
  return missingProcessSettings(args, execArgv, env, storeKindOf(args, env, cwd));
}
