/**
 * Mass update rate: the S-360 calls per minute a real mass update achieves against the configured rate, measured
 * from the S-360 sandbox's side, the throttled answers it got, and how many seconds a raised rate takes to show.
 *
 *   npm run bench:mass-update [-- --per-minute 600 --seconds 60 --raised 1200 --raised-seconds 25]
 *
 * Starts a Temporal dev server, the S-360 sandbox (its limit = the configured rate) and the crm-sync service (its
 * S-360 budget = the configured rate), and runs a mass update of a generated file at the configured rate. The
 * sandbox's call counter is sampled every 50 ms: the mass update calls S-360 in chunks of 5 s of work, so the
 * achieved rate is measured from the start of the first chunk to the start of the last one in the measured time.
 * Then SecuTix "raises the limit" (the sandbox's, at run time) and the mass update is told so (raise-rate); the
 * raise shows when the first chunk of the raised size starts. Prints a table and writes
 * reports/bench-mass-update.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseConfig } from '../src/config/load-config';
import { startS360Sandbox } from '../src/sandbox/s360-sandbox';
import { formatContactNumber } from '../src/sandbox/s360-contact-generator';
import { devServerExecutable } from '../src/temporal-server/locate-binaries';
import { startService } from '../src/worker';
import { massUpdate, massUpdateWorkflowId, raiseRateUpdate } from '../src/workflows';
import { freePort, option, packageRoot, writeReport } from './bench-common';

export interface MassUpdateRateOptions {
  /** The rate of the mass update, the S-360 budget and the sandbox's limit; default 600 calls per minute. */
  configuredPerMinute?: number;
  /** How long the configured rate is measured; default 60 s. */
  measureSeconds?: number;
  /** The raised rate (and the sandbox's raised limit); default twice the configured rate. */
  raisedPerMinute?: number;
  /** How long the raised rate is watched; default 25 s. */
  raisedSeconds?: number;
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

export interface MassUpdateRateResult {
  configuredPerMinute: number;
  /** S-360 calls per minute the sandbox received at the configured rate. */
  achievedPerMinute: number;
  /** achieved / configured. */
  ratio: number;
  /** Throttled answers of the sandbox during the whole run. */
  throttled: number;
  /** Seconds from the raise-rate update until the first chunk at the raised rate reached S-360; null if none did. */
  raiseEffectSeconds: number | null;
  raisedPerMinute: number;
  /** S-360 calls per minute the sandbox received at the raised rate, once in effect; null if not measured. */
  raisedAchievedPerMinute: number | null;
  /** Calls the sandbox received in all. */
  calls: number;
}

interface Sample {
  /** ms since the measurement started. */
  t: number;
  calls: number;
}

/** A chunk as the sandbox saw it: when its first call arrived, the calls made before it, and its own calls. */
interface Burst {
  t: number;
  before: number;
  calls: number;
}

/** No call for this long between two samples ends a burst (chunks are 5 s apart, their calls take milliseconds). */
const burstGapMs = 1_000;
const chunkSeconds = 5;

/** Runs a real mass update against the S-360 sandbox and measures its rate from the sandbox's side. */
export async function measureMassUpdateRate(
  options: MassUpdateRateOptions = {},
): Promise<MassUpdateRateResult> {
  const configured = options.configuredPerMinute ?? 600;
  const measureSeconds = options.measureSeconds ?? 60;
  const raised = options.raisedPerMinute ?? configured * 2;
  const raisedSeconds = options.raisedSeconds ?? 25;
  const log = options.log ?? (() => undefined);
  const root = packageRoot();
  const dataDir = mkdtempSync(join(tmpdir(), 'crm-sync-bench-mass-update-'));
  const jwtSecret = 'bench-jwt-secret-0123456789';
  const taskQueue = 'bench-mass-update';
  const cleanups: Array<() => Promise<unknown>> = [];

  try {
    log('starting the Temporal dev server, the S-360 sandbox and the service');
    const env = await TestWorkflowEnvironment.createLocal({
      server: { executable: devServerExecutable(), ip: '127.0.0.1' },
    });
    cleanups.unshift(() => env.teardown());
    const s360 = await startS360Sandbox({
      port: 0,
      jwtSecret,
      institution: 'BENCH',
      callsPerMinute: configured,
    });
    cleanups.unshift(() => s360.close());
    const contacts = 500;
    await postJson(`${s360.url}/__sandbox/contacts/generate`, 'POST', { count: contacts, seed: 7 });

    const config = parseConfig({
      dataDir,
      temporal: { address: env.address, namespace: env.namespace ?? 'default', taskQueue },
      s360: { baseUrl: s360.url, institution: 'BENCH', jwtSecret, callsPerMinute: configured },
      crm: {
        targets: [
          {
            name: 'bench',
            kind: 'webhook',
            url: 'http://127.0.0.1:9/not-used',
            signingSecret: 'whsec_YmVuY2gtbWFzcy11cGRhdGUtc2VjcmV0',
          },
        ],
      },
      receiver: { port: await freePort() },
      mapping: { file: join(root, 'mappings', 'default.yaml') },
    });
    const service = await startService(config);
    cleanups.unshift(() => service.shutdown());

    // Enough rows for both phases and a margin; contacts repeat (the same values twice are harmless).
    const rows = Math.ceil(
      ((configured * (measureSeconds + 10)) / 60 + (raised * (raisedSeconds + 10)) / 60) * 1.2,
    );
    const file = join(dataDir, 'bench-updates.csv');
    const lines = ['contactNumber,firstName,criterion:SEASON'];
    for (let row = 0; row < rows; row++) {
      lines.push(`${formatContactNumber((row % contacts) + 1)},Bench ${row},2026-2027`);
    }
    writeFileSync(file, `${lines.join('\n')}\n`);
    await postJson(`${s360.url}/__sandbox/stats/reset`, 'POST', {});

    const samples: Sample[] = [];
    const started = performance.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const stats = (await getJson(`${s360.url}/__sandbox/stats`)) as { calls: number };
        samples.push({ t: performance.now() - started, calls: stats.calls });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const updateId = `bench-${Date.now()}`;
    log(`mass update of ${rows} rows at ${configured} calls per minute`);
    const handle = await env.client.workflow.start(massUpdate, {
      workflowId: massUpdateWorkflowId(updateId),
      taskQueue,
      args: [{ updateId, file, perMinute: configured }],
    });
    cleanups.unshift(() => handle.terminate('benchmark over').catch(() => undefined));

    while (!samples.some((sample) => sample.calls > 0)) await sleep(50);
    const firstCallAt = samples.find((sample) => sample.calls > 0)?.t ?? 0;
    await sleep(Math.max(0, firstCallAt + measureSeconds * 1000 - (performance.now() - started)));
    const measureEnd = performance.now() - started;
    const base = bursts(samples).filter((burst) => burst.t < measureEnd);
    const achieved = paceOf(base, samples, firstCallAt, measureEnd);
    log(`achieved ${achieved.toFixed(1)} calls per minute; raising to ${raised}`);

    // SecuTix raises the instance's limit, and the operator tells the mass update.
    await postJson(`${s360.url}/__sandbox/limit`, 'PUT', { callsPerMinute: raised });
    const raisedAt = performance.now() - started;
    await handle.executeUpdate(raiseRateUpdate, { args: [{ perMinute: raised, forMs: 10 * 60_000 }] });
    await sleep(raisedSeconds * 1000);
    const end = performance.now() - started;
    sampling = false;
    await sampler;

    const raisedChunk = Math.max(1, Math.ceil((raised * chunkSeconds) / 60));
    const after = bursts(samples).filter((burst) => burst.t >= raisedAt);
    const firstRaised = after.findIndex((burst) => burst.calls >= raisedChunk * 0.9);
    const raiseEffectSeconds =
      firstRaised >= 0 ? Math.round(((after[firstRaised]?.t ?? 0) - raisedAt) / 100) / 10 : null;
    const raisedBursts = firstRaised >= 0 ? after.slice(firstRaised) : [];
    const raisedAchieved =
      raisedBursts.length >= 2 ? paceOf(raisedBursts, samples, raisedBursts[0]?.t ?? 0, end) : null;
    const stats = (await getJson(`${s360.url}/__sandbox/stats`)) as { calls: number; throttled: number };

    return {
      configuredPerMinute: configured,
      achievedPerMinute: Math.round(achieved * 10) / 10,
      ratio: Math.round((achieved / configured) * 1000) / 1000,
      throttled: stats.throttled,
      raiseEffectSeconds,
      raisedPerMinute: raised,
      raisedAchievedPerMinute: raisedAchieved === null ? null : Math.round(raisedAchieved * 10) / 10,
      calls: stats.calls,
    };
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The chunks as the sandbox's counter shows them: a rise after at least {@link burstGapMs} without one. */
function bursts(samples: Sample[]): Burst[] {
  const found: Burst[] = [];
  let lastRiseAt = Number.NEGATIVE_INFINITY;
  for (let index = 1; index < samples.length; index++) {
    const previous = samples[index - 1] as Sample;
    const sample = samples[index] as Sample;
    if (sample.calls <= previous.calls) continue;
    if (sample.t - lastRiseAt >= burstGapMs) {
      // The first call arrived between the two samples: take the middle.
      found.push({ t: (previous.t + sample.t) / 2, before: previous.calls, calls: 0 });
    }
    const current = found[found.length - 1];
    if (current) current.calls = sample.calls - current.before;
    lastRiseAt = sample.t;
  }
  return found;
}

/**
 * Calls per minute from the first chunk's start to the last one's (whole chunk periods, no edge effect); with
 * fewer than two chunks, the calls over the whole time.
 */
function paceOf(chunks: Burst[], samples: Sample[], from: number, to: number): number {
  const first = chunks[0];
  const last = chunks[chunks.length - 1];
  if (first && last && last !== first) return ((last.before - first.before) * 60_000) / (last.t - first.t);
  const inRange = samples.filter((sample) => sample.t >= from && sample.t <= to);
  const calls = (inRange[inRange.length - 1]?.calls ?? 0) - (inRange[0]?.calls ?? 0);
  return (calls * 60_000) / Math.max(1, to - from);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.json();
}

async function postJson(url: string, method: 'POST' | 'PUT', body: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function main(): Promise<void> {
  // The worker's and the workflow's INFO lines would bury the figures: warnings and errors only.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const configuredPerMinute = option('per-minute', 600);
  const result = await measureMassUpdateRate({
    configuredPerMinute,
    measureSeconds: option('seconds', 60),
    raisedPerMinute: option('raised', configuredPerMinute * 2),
    raisedSeconds: option('raised-seconds', 25),
    log: (line) => process.stderr.write(`bench: ${line}\n`),
  });
  const report = {
    benchmark: 'mass-update-rate',
    ...result,
    node: process.version,
    measuredAt: new Date().toISOString(),
  };
  const withinGoal = Math.abs(result.ratio - 1) <= 0.05;
  const rows: Array<[string, string]> = [
    ['configured', `${result.configuredPerMinute} calls/min (sandbox limit and S-360 budget alike)`],
    [
      'achieved',
      `${result.achievedPerMinute} calls/min (ratio ${result.ratio.toFixed(3)}, goal within 5%: ${withinGoal ? 'met' : 'NOT met'})`,
    ],
    ['throttled answers', String(result.throttled)],
    ['raised to', `${result.raisedPerMinute} calls/min`],
    [
      'raise took effect',
      result.raiseEffectSeconds === null ? 'not seen' : `after ${result.raiseEffectSeconds} s`,
    ],
    [
      'achieved once raised',
      result.raisedAchievedPerMinute === null
        ? 'not measured'
        : `${result.raisedAchievedPerMinute} calls/min`,
    ],
    ['calls in all', String(result.calls)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  process.stdout.write(
    [
      'Mass update rate: S-360 calls per minute as the S-360 sandbox received them',
      ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
      '',
    ].join('\n'),
  );
  process.stdout.write(`Written to ${writeReport('bench-mass-update.json', report)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
