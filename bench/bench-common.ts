/**
 * What the benchmarks share: command-line options, the package folder (from bench/ or from its build output),
 * units, and the report files under reports/.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { s360ContactSchema, type S360Contact } from '../src/adapters/s360/s360-contact';
import { formatContactNumber, generateContacts } from '../src/sandbox/s360-contact-generator';

/** A whole number of at least `min` given as `--name N`, or the fallback. */
export function option(
  name: string,
  fallback: number,
  min = 1,
  argv: readonly string[] = process.argv,
): number {
  const index = argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = Number(argv[index + 1]);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`--${name}: expected a whole number of at least ${min}`);
  }
  return value;
}

/** One of `choices` given as `--name VALUE`, or the fallback. */
export function choiceOption<T extends string>(
  name: string,
  choices: readonly T[],
  fallback: T,
  argv: readonly string[] = process.argv,
): T {
  const index = argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = argv[index + 1] as T;
  if (!choices.includes(value)) throw new Error(`--${name}: expected one of ${choices.join(', ')}`);
  return value;
}

/** The package folder: the first parent holding the delivered mapping (from bench/ or from its build output). */
export function packageRoot(): string {
  let folder = __dirname;
  while (!existsSync(join(folder, 'mappings', 'default.yaml')) || !existsSync(join(folder, 'package.json'))) {
    const parent = dirname(folder);
    if (parent === folder) throw new Error('cannot find mappings/default.yaml above the benchmark');
    folder = parent;
  }
  return folder;
}

/** A TCP port free on 127.0.0.1 now: the tests' helper. */
export { freePort } from '../test/helpers/free-port';

/**
 * `count` contacts generated from `seed`, numbered from 1 as the S-360 sandbox numbers a first generation, and as
 * the S-360 client returns them (validated, defaults applied).
 */
export function generatedS360Contacts(count: number, seed: number): S360Contact[] {
  return generateContacts(count, seed, new Date().toISOString()).map(
    ({ structureIndex, ...contact }, index) =>
      s360ContactSchema.parse({
        ...contact,
        contactNumber: formatContactNumber(index + 1),
        ...(structureIndex !== undefined
          ? { structureContactNumber: formatContactNumber(structureIndex + 1) }
          : {}),
      }),
  );
}

export const megabytes = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

export const number = (value: number): string => value.toLocaleString('en-US');

/** Writes `reports/<name>` (JSON) and says where. */
export function writeReport(name: string, report: unknown): string {
  const file = join(packageRoot(), 'reports', name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return relative(process.cwd(), file) || file;
}

/** Runs a benchmark's `main` as a script: its failure printed with its stack, and the process exits with 1. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  });
}

/** Label/value rows under a title, the labels aligned. */
export function formatRows(title: string, rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return [title, ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`), ''].join('\n');
}

/** Name and CPU time (user + system, with waited-for children's, in ms) of a process from /proc (Linux). */
function procCpu(pid: string | number): { name: string; cpuMs: number } | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // exited meanwhile, or not Linux
  }
  const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const fields = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  // Fields 14-17 of stat (utime, stime, cutime, cstime), counted from the state field (the third) here.
  const ticks = (fields[11] ?? 0) + (fields[12] ?? 0) + (fields[13] ?? 0) + (fields[14] ?? 0);
  return { name, cpuMs: ticks * 10 };
}

/** CPU time used so far by one process, in ms (Linux: /proc/<pid>/stat); null elsewhere or once it exited. */
export function cpuMsOfProcess(pid: number): number | null {
  return procCpu(pid)?.cpuMs ?? null;
}

/**
 * CPU time used so far by the processes of each name (Linux: /proc/<pid>/stat, user + system, in ms), with the
 * time of their children that exited and were waited for (a PostgreSQL server's finished backends count with it).
 * Empty elsewhere.
 */
export function cpuMsByProcessName(): Map<string, number> {
  const byName = new Map<string, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return byName;
  }
  for (const pid of entries) {
    const found = procCpu(pid);
    if (found) byName.set(found.name, (byName.get(found.name) ?? 0) + found.cpuMs);
  }
  return byName;
}

/** What each name used between two readings of {@link cpuMsByProcessName}. */
export function cpuMsSpent(before: Map<string, number>, after: Map<string, number>, name: string): number {
  return Math.max(0, (after.get(name) ?? 0) - (before.get(name) ?? 0));
}
