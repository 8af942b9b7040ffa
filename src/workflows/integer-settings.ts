/** Inclusive integer range of a setting. */
export interface IntegerRange {
  min: number;
  max: number;
}

/**
 * Every problem of a partial settings object whose settings are integers within ranges, each naming the field, the
 * allowed range and the value; a field not in `limits` is named with the ones expected. Pure: workflows, the
 * configuration and the CLI check with it.
 */
export function integerSettingProblems(
  kind: string,
  limits: Readonly<Record<string, IntegerRange>>,
  settings: Partial<Record<string, unknown>>,
): string[] {
  const problems: string[] = [];
  for (const [field, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    const range = limits[field];
    if (!range) {
      problems.push(`${field} is not ${kind} setting (expected one of ${Object.keys(limits).join(', ')})`);
    } else if (
      typeof value !== 'number' ||
      !Number.isInteger(value) ||
      value < range.min ||
      value > range.max
    ) {
      problems.push(
        `${field} must be an integer from ${range.min} to ${range.max} (got ${JSON.stringify(value)})`,
      );
    }
  }
  return problems;
}
