/**
 * Mapping throughput: how many S-360 contacts per second the default mapping turns into CRM records
 * (`mapOutbound`), on one thread. The goal is 50,000 contacts per second.
 *
 *   npm run bench:mapping [-- --contacts 100000 --rounds 5]
 *
 * The contacts are generated (and validated as the S-360 client validates them) before timing starts; the mapping
 * is warmed up, then every contact is mapped in each round and the median round is reported. Prints a table and
 * writes the same figures to reports/bench-mapping.json.
 */
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import type { S360Contact } from '../src/adapters/s360/s360-contact';
import { loadMapping } from '../src/mapping/load-mapping';
import {
  formatRows,
  generatedS360Contacts,
  megabytes,
  number,
  option,
  packageRoot,
  writeReport,
} from './bench-common';

/** Contacts per second the default mapping must reach on one thread. */
export const mappingGoalPerSecond = 50_000;
const seed = 42;
const warmUpContacts = 10_000;
const warmUpPasses = 5;
/** Heap samples while mapping: one every this many contacts. */
const heapSampleEvery = 1_000;

export interface MappingBenchOptions {
  /** Default 100,000. */
  contacts?: number;
  /** Default 5. */
  rounds?: number;
}

/** The figures of one mapping benchmark, as written to reports/bench-mapping.json. */
export type MappingBenchReport = ReturnType<typeof measureMappingThroughput>;

/** Maps `contacts` generated contacts `rounds` times with the default mapping and reports the median round. */
export function measureMappingThroughput(options: MappingBenchOptions = {}) {
  const count = options.contacts ?? 100_000;
  const rounds = options.rounds ?? 5;
  const root = packageRoot();
  const mappingFile = join(root, 'mappings', 'default.yaml');
  const plan = loadMapping(mappingFile);

  // Not timed: the contacts as the S-360 client returns them (validated, defaults applied).
  const contacts = generatedS360Contacts(count, seed);

  let checksum = 0;
  for (let pass = 0; pass < warmUpPasses; pass += 1) {
    for (let index = 0; index < Math.min(warmUpContacts, count); index += 1) {
      if (plan.mapOutbound(contacts[index] as S360Contact).ok) checksum += 1;
    }
  }

  let peakHeapUsed = getHeapStatistics().used_heap_size;
  let mapped = 0;
  let parked = 0;
  const roundSeconds: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    mapped = 0;
    parked = 0;
    const started = process.hrtime.bigint();
    for (let index = 0; index < count; index += 1) {
      const result = plan.mapOutbound(contacts[index] as S360Contact);
      if (result.ok) {
        mapped += 1;
        checksum += Object.keys(result.record.fields).length;
      } else parked += 1;
      if (index % heapSampleEvery === 0) {
        peakHeapUsed = Math.max(peakHeapUsed, getHeapStatistics().used_heap_size);
      }
    }
    roundSeconds.push(Number(process.hrtime.bigint() - started) / 1e9);
  }

  const seconds = [...roundSeconds].sort((a, b) => a - b)[Math.floor(rounds / 2)] as number;
  const perSecond = Math.round(count / seconds);
  const report = {
    benchmark: 'mapping-throughput',
    mapping: relative(root, mappingFile),
    contacts: count,
    rounds,
    seconds: Math.round(seconds * 1000) / 1000,
    contactsPerSecond: perSecond,
    roundsContactsPerSecond: roundSeconds.map((round) => Math.round(count / round)),
    mapped,
    parked,
    peakRssMb: megabytes(process.resourceUsage().maxRSS * 1024),
    peakHeapUsedMb: megabytes(peakHeapUsed),
    goalContactsPerSecond: mappingGoalPerSecond,
    goalMet: perSecond >= mappingGoalPerSecond,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    checksum,
    measuredAt: new Date().toISOString(),
  };

  return report;
}

/** The table printed for a mapping benchmark. */
export function mappingRows(report: MappingBenchReport): Array<[string, string]> {
  return [
    [
      'contacts',
      `${number(report.contacts)} (${number(report.mapped)} mapped, ${number(report.parked)} would be parked)`,
    ],
    ['seconds', `${report.seconds.toFixed(3)} (median of ${report.rounds} rounds)`],
    ['contacts per second', number(report.contactsPerSecond)],
    ['peak RSS (MB)', report.peakRssMb.toFixed(1)],
    ['heap used (MB)', `${report.peakHeapUsedMb.toFixed(1)} (peak while mapping, the contacts included)`],
    [`goal ${number(mappingGoalPerSecond)}/s`, report.goalMet ? 'met' : 'NOT met'],
  ];
}

function main(): void {
  const report = measureMappingThroughput({
    contacts: option('contacts', 100_000),
    rounds: option('rounds', 5),
  });
  process.stdout.write(
    formatRows(
      `Mapping throughput: default mapping, mapOutbound, one thread (Node ${process.version}, ${report.cpu})`,
      mappingRows(report),
    ),
  );
  process.stdout.write(`Written to ${writeReport('bench-mapping.json', report)}\n`);
}

if (require.main === module) main();
