/**
 * Every benchmark, as `npm run bench` runs them: the mapping's throughput, the initial import (contacts per second
 * against a plain script without Temporal, Temporal actions per 1,000 contacts, the worker's peak memory over
 * 100,000 contacts) and the mass update's achieved rate against its configured one. Prints one table (each figure,
 * its goal, pass or fail) and writes the figures to reports/bench.json.
 *
 *   npm run bench [-- --contacts 20000 --memory-contacts 100000 --mapping-contacts 100000]
 *
 * A goal not met is reported in the table and the JSON; the exit code stays 0 (it is non-zero when a benchmark
 * could not run).
 */
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { cpus } from 'node:os';
import { number, option, writeReport } from './bench-common';
import {
  actionsPer1000Goal,
  formatFigures,
  importFigures,
  importRatioGoal,
  runImportBenchmarks,
  workerPeakRssGoalMb,
  type BenchFigure,
} from './import-throughput';
import { mappingGoalPerSecond, measureMappingThroughput } from './mapping-throughput';

/**
 * >>> The mass-update benchmark goes here. <<<
 *
 * `bench/mass-update-rate.ts` (exporting `measureMassUpdateRate(options): Promise<{configuredPerMinute,
 * achievedPerMinute, ratio, throttled, raiseEffectSeconds}>`) is written on another branch. Once it is merged, import
 * it and let this function run it, returning its result as `report` and its figures (achieved versus configured
 * rate, with their goal) as `figures`. Until then the table says the mass update was not measured.
 */
async function massUpdateBenchmark(): Promise<{ report: unknown; figures: BenchFigure[] }> {
  return {
    report: null,
    figures: [
      {
        figure: 'mass update, achieved / configured rate',
        value: 'not measured',
        goal: '',
        met: null,
      },
    ],
  };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const started = Date.now();
  const log = (line: string): void => void process.stderr.write(`${line}\n`);

  log('mapping benchmark');
  const mapping = measureMappingThroughput({ contacts: option('mapping-contacts', 100_000), rounds: 5 });
  const imports = await runImportBenchmarks({
    contacts: option('contacts', 20_000),
    memoryContacts: option('memory-contacts', 100_000, 0),
    log,
  });
  const massUpdate = await massUpdateBenchmark();

  const figures: BenchFigure[] = [
    {
      figure: `mapping, contacts/s (main thread, ${number(mapping.contacts)} contacts)`,
      value: number(mapping.contactsPerSecond),
      goal: `>= ${number(mappingGoalPerSecond)}`,
      met: mapping.goalMet,
    },
    ...importFigures(imports),
    ...massUpdate.figures,
  ];
  const { settings } = imports.throughput;
  process.stdout.write(
    formatFigures(
      `crm-sync benchmarks (Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}; ` +
        `import: pages of ${settings.pageSize}, payloads of ${settings.payloadSize}, ${settings.concurrency} lanes)`,
      figures,
    ),
  );
  const file = writeReport('bench.json', {
    benchmark: 'all',
    figures,
    mapping,
    import: imports,
    massUpdate: massUpdate.report,
    goals: {
      mappingContactsPerSecond: mappingGoalPerSecond,
      importRatio: importRatioGoal,
      actionsPer1000Contacts: actionsPer1000Goal,
      workerPeakRssMb: workerPeakRssGoalMb,
    },
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    seconds: Math.round((Date.now() - started) / 1000),
    measuredAt: new Date().toISOString(),
  });
  process.stdout.write(`Written to ${file}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
