import {
  defaultOutboundSettings,
  outboundSettingLimits,
  resolveOutboundSettings,
  validateOutboundSettings,
} from '../../src/workflows/outbound-sync-settings';

describe('outbound sync settings', () => {
  it('has the limits and defaults of the S-360 contact webhook, with our 50-per-push ceiling', () => {
    expect(outboundSettingLimits).toEqual({
      intervalMinutes: { min: 1, max: 1440 },
      maxContactsPerRun: { min: 1, max: 500 },
      batchSize: { min: 1, max: 50 },
    });
    expect(defaultOutboundSettings).toEqual({ intervalMinutes: 15, maxContactsPerRun: 100, batchSize: 50 });
  });

  it('accepts the bounds and an empty change', () => {
    expect(validateOutboundSettings({})).toEqual([]);
    expect(validateOutboundSettings({ intervalMinutes: 1, maxContactsPerRun: 1, batchSize: 1 })).toEqual([]);
    expect(
      validateOutboundSettings({ intervalMinutes: 1440, maxContactsPerRun: 500, batchSize: 50 }),
    ).toEqual([]);
    expect(validateOutboundSettings({ intervalMinutes: undefined })).toEqual([]);
  });

  it('names the field, the range and the value of every problem', () => {
    expect(
      validateOutboundSettings({ intervalMinutes: 0, maxContactsPerRun: 501, batchSize: 51, colour: 'red' }),
    ).toEqual([
      'intervalMinutes must be an integer from 1 to 1440 (got 0)',
      'maxContactsPerRun must be an integer from 1 to 500 (got 501)',
      'batchSize must be an integer from 1 to 50 (got 51)',
      'colour is not an outbound sync setting (expected one of intervalMinutes, maxContactsPerRun, batchSize)',
    ]);
    expect(validateOutboundSettings({ intervalMinutes: 1441 })).toEqual([
      'intervalMinutes must be an integer from 1 to 1440 (got 1441)',
    ]);
    expect(
      validateOutboundSettings({ batchSize: 2.5, maxContactsPerRun: '10', intervalMinutes: null }),
    ).toEqual([
      'batchSize must be an integer from 1 to 50 (got 2.5)',
      'maxContactsPerRun must be an integer from 1 to 500 (got "10")',
      'intervalMinutes must be an integer from 1 to 1440 (got null)',
    ]);
  });

  it('fills what is not given with the defaults', () => {
    expect(resolveOutboundSettings()).toEqual(defaultOutboundSettings);
    expect(resolveOutboundSettings({ batchSize: 10 })).toEqual({
      intervalMinutes: 15,
      maxContactsPerRun: 100,
      batchSize: 10,
    });
  });
});
