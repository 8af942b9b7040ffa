/**
 * Every benchmark, as `npm run bench` runs them: the mapping's throughput, the initial import (contacts per second
 * against a plain script without Temporal, Temporal actions per 1,000 contacts, the worker's peak memory over
 * 100,000 contacts) and the mass update's achieved rate against its configured one. Prints one table (each figure,
 * its goal, pass or fail) and writes the figures to reports/bench.json.
 *
 *   npm run bench [-- --contacts 20000 --rounds 3 --store both --memory-contacts 100000 --mapping-contacts 100000]
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
  formatRounds,
  importFigures,
  importRatioGoal,
  runImportBenchmarks,
  storesOption,
  workerPeakRssGoalMb,
  type BenchFigure,
} from './import-throughput';
import { mappingGoalPerSecond, measureMappingThroughput } from './mapping-throughput';
import { measureMassUpdateRate, type MassUpdateRateResult } from './mass-update-rate';

/** The mass update's goal: the achieved rate within 5% of the configured one, and no throttled answer. */
const massUpdateRateTolerance = 0.05;

/** A real mass update against the S-360 sandbox: achieved versus configured rate, and how soon a raise shows. */
async function massUpdateBenchmark(
  log: (line: string) => void,
): Promise<{ report: MassUpdateRateResult; figures: BenchFigure[] }> {
  const result = await measureMassUpdateRate({ log });
  return {
    report: result,
    figures: [
      {
        figure: `mass update, achieved / configured rate (${number(result.configuredPerMinute)}/min)`,
        value: `${number(result.achievedPerMinute)}/min (${result.ratio.toFixed(3)})`,
        goal: `within ${massUpdateRateTolerance * 100}%`,
        met: Math.abs(result.ratio - 1) <= massUpdateRateTolerance,
      },
      {
        figure: 'mass update, throttled answers of S-360',
        value: number(result.throttled),
        goal: '0',
        met: result.throttled === 0,
      },
      {
        figure: `mass update, seconds until a raise to ${number(result.raisedPerMinute)}/min shows`,
        value: result.raiseEffectSeconds === null ? 'never' : result.raiseEffectSeconds.toFixed(1),
        goal: 'a few seconds (<= 5)',
        met: result.raiseEffectSeconds !== null && result.raiseEffectSeconds <= 5,
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
    rounds: option('rounds', 3),
    memoryContacts: option('memory-contacts', 100_000, 0),
    stores: storesOption(),
    log,
  });
  log('mass update benchmark');
  const massUpdate = await massUpdateBenchmark(log);

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
  process.stdout.write(formatRounds(imports.throughput));
  process.stdout.write(`Written to ${file}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
