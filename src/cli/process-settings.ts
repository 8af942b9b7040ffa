/**
 * Process settings of the long-running commands (`worker`, `dev`), which bin/crm-sync.js starts them with (and the
 * import benchmark its worker). Measured on the worker importing 100,000 contacts (see the README's Benchmarks):
 *
 * - `--max-semi-space-size=2 --max-old-space-size=192`: by default V8 sizes its heap for the machine (a young
 *   generation of up to 48 MB, an old generation allowed to grow to gigabytes before collecting hard), and the
 *   worker, whose live heap is about 50 MB, kept hundreds of MB of garbage. The trade-off: more frequent, shorter
 *   garbage collections, and a heap that fails beyond 192 MB of live objects (none of the service's state grows
 *   with the number of contacts; NODE_OPTIONS can set other sizes).
 * - `--wasm-num-compilation-tasks=1`: V8 compiles the hot functions of the embedded store (PostgreSQL compiled to
 *   WebAssembly) with its optimising compiler in background tasks, by default as many as it has threads, each with
 *   its own scratch memory; one task compiles the same functions a little later, with one task's memory.
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

/** Environment variables of the long-running commands (see {@link LONG_RUNNING_NODE_FLAGS}). */
export const LONG_RUNNING_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

/**
 * The commands that run until interrupted, and their node flags. `dev` also holds the sandboxes' contacts (up to
 * a million) in its heap, so its old generation is left unbounded.
 */
export const LONG_RUNNING_COMMANDS: ReadonlyMap<string, readonly string[]> = new Map([
  ['worker', LONG_RUNNING_NODE_FLAGS],
  ['dev', LONG_RUNNING_NODE_FLAGS.filter((flag) => !flag.startsWith('--max-old-space-size='))],
]);

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
): ProcessSettings | null {
  const command = commandOf(args);
  const flags = command === undefined ? undefined : LONG_RUNNING_COMMANDS.get(command);
  if (!flags) return null;
  const given = new Set(
    [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].filter(Boolean).map(flagName),
  );
  const nodeFlags = flags.filter((flag) => !given.has(flagName(flag)));
  const missingEnv = Object.entries(LONG_RUNNING_ENV).filter(([name]) => env[name] === undefined);
  if (nodeFlags.length === 0 && missingEnv.length === 0) return null;
  return { nodeFlags, env: Object.fromEntries(missingEnv) };
}
