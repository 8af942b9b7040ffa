/**
 * Settings of the initial import and their limits, and the one-line progress text the Web UI and the CLI show.
 * Pure: shared by the workflow and the CLI.
 */
import { integerSettingProblems } from './integer-settings';

export interface ImportSettings {
  /** Contacts per page: one activity each, heartbeating, resumed after its last confirmed push. */
  pageSize: number;
  /** Contacts per CRM push (seed 000: at most 50). */
  payloadSize: number;
  /** Pages imported at once: S-360 calls and CRM pushes in flight (the S-360 budget limits them all). */
  concurrency: number;
  /** Contact numbers per searchContact call while listing. */
  searchPageSize: number;
}

/** Inclusive integer range of each setting; the CLI checks against the same numbers. */
export const importSettingLimits: Readonly<Record<keyof ImportSettings, { min: number; max: number }>> = {
  pageSize: { min: 1, max: 5000 },
  payloadSize: { min: 1, max: 50 },
  concurrency: { min: 1, max: 32 },
  searchPageSize: { min: 1, max: 1000 },
};

export const defaultImportSettings: Readonly<ImportSettings> = {
  pageSize: 250,
  payloadSize: 50,
  concurrency: 4,
  searchPageSize: 500,
};

/** Every problem of a partial settings object, each naming the field, the allowed range and the value. */
export function validateImportSettings(settings: Partial<Record<string, unknown>>): string[] {
  return integerSettingProblems('an import', importSettingLimits, settings);
}

/** The settings with defaults applied (validate first). */
export function resolveImportSettings(settings: Partial<ImportSettings> = {}): ImportSettings {
  return {
    pageSize: settings.pageSize ?? defaultImportSettings.pageSize,
    payloadSize: settings.payloadSize ?? defaultImportSettings.payloadSize,
    concurrency: settings.concurrency ?? defaultImportSettings.concurrency,
    searchPageSize: settings.searchPageSize ?? defaultImportSettings.searchPageSize,
  };
}

/**
 * How long an import is measured before it has a rate: one window of the S-360 budget (calls per minute). The
 * budget lets a minute's calls go at once, so the pages that finish within the first minute ran on that burst:
 * 27 structures done in half a second gave 54 contacts per second and an ETA of seconds, for an import then paced
 * at 3 calls per second.
 */
export const RATE_MEASURE_MS = 60_000;

/**
 * Contacts per second between the oldest and the newest `(time ms, contacts done)` sample, once the newest is at
 * least {@link RATE_MEASURE_MS} after `measuringSince` (when the pages began, or the import resumed); null before,
 * and without two samples apart in time.
 */
export function importRate(
  samples: ReadonlyArray<readonly [number, number]>,
  measuringSince: number,
): number | null {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last || last[0] <= first[0] || last[0] - measuringSince < RATE_MEASURE_MS) return null;
  return ((last[1] - first[1]) * 1000) / (last[0] - first[0]);
}

/** What {@link importProgressText} needs of the progress. */
export interface ImportProgressFigures {
  state: string;
  done: number;
  total: number | null;
  ratePerSecond: number | null;
  etaSeconds: number | null;
  pausedReason: string | null;
}

/** "importing: 1,250 of 10,000 contacts (12.5%), 41.7/s, about 3m 30s left" */
export function importProgressText(progress: ImportProgressFigures): string {
  const parts = [`${progress.state}: ${progress.done.toLocaleString('en-US')}`];
  if (progress.total !== null) {
    const percent = progress.total === 0 ? 100 : (progress.done * 100) / progress.total;
    parts[0] += ` of ${progress.total.toLocaleString('en-US')} contacts (${percent.toFixed(1)}%)`;
  } else {
    parts[0] += ' contacts';
  }
  if (progress.ratePerSecond !== null && progress.state === 'importing') {
    parts.push(`${progress.ratePerSecond.toFixed(1)}/s`);
    if (progress.etaSeconds !== null) parts.push(`about ${formatDuration(progress.etaSeconds)} left`);
  }
  if (progress.pausedReason) parts.push(`paused: ${progress.pausedReason}`);
  return parts.join(', ');
}

/** 3725 -> "1h 2m 5s"; 42 -> "42s". */
export function formatDuration(totalSeconds: number): string {
  const seconds = Math.max(0, Math.round(totalSeconds));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (hours > 0) return `${hours}h ${minutes}m ${rest}s`;
  if (minutes > 0) return `${minutes}m ${rest}s`;
  return `${rest}s`;
}
