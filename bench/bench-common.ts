/**
 * What the benchmarks share: command-line options, the package folder (from bench/ or from its build output),
 * units, and the report files under reports/.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

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

export const megabytes = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

export const number = (value: number): string => value.toLocaleString('en-US');

/** Writes `reports/<name>` (JSON) and says where. */
export function writeReport(name: string, report: unknown): string {
  const file = join(packageRoot(), 'reports', name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return relative(process.cwd(), file) || file;
}

/** Label/value rows under a title, the labels aligned. */
export function formatRows(title: string, rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return [title, ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`), ''].join('\n');
}
