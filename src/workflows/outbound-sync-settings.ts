/**
 * Settings of the outbound sync and their limits (seed 000: every M minutes, 1..1440, default 15; at most 500
 * contacts per run; at most 50 per payload). Pure: shared by the workflow, the configuration and the CLI.
 */
import { integerSettingProblems } from './integer-settings';

export interface OutboundSyncSettings {
  /** Minutes between the starts of two runs. */
  intervalMinutes: number;
  /** Contacts claimed by one run. */
  maxContactsPerRun: number;
  /** Contacts in one CRM push. */
  batchSize: number;
}

/** Inclusive integer range of each setting; the CLI and the configuration check against the same numbers. */
export const outboundSettingLimits: Readonly<
  Record<keyof OutboundSyncSettings, { min: number; max: number }>
> = {
  intervalMinutes: { min: 1, max: 1440 },
  maxContactsPerRun: { min: 1, max: 500 },
  batchSize: { min: 1, max: 50 },
};

/** What a setting is when neither the start input nor a later change gives it. */
export const defaultOutboundSettings: Readonly<OutboundSyncSettings> = {
  intervalMinutes: 15,
  maxContactsPerRun: 100,
  batchSize: 50,
};

/** Every problem of a partial settings object, each naming the field, the allowed range and the value. */
export function validateOutboundSettings(settings: Partial<Record<string, unknown>>): string[] {
  return integerSettingProblems('an outbound sync', outboundSettingLimits, settings);
}

/** The settings with defaults applied (validate first). */
export function resolveOutboundSettings(settings: Partial<OutboundSyncSettings> = {}): OutboundSyncSettings {
  return {
    intervalMinutes: settings.intervalMinutes ?? defaultOutboundSettings.intervalMinutes,
    maxContactsPerRun: settings.maxContactsPerRun ?? defaultOutboundSettings.maxContactsPerRun,
    batchSize: settings.batchSize ?? defaultOutboundSettings.batchSize,
  };
}
