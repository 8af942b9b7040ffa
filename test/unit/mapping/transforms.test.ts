import { transformSchema, type TransformConfig } from '../../../src/mapping/mapping-config-schema';
import { compileS360Path } from '../../../src/mapping/s360-paths';
import {
  compileTransform,
  isCalendarDate,
  joinValues,
  Skip,
  splitValue,
  TransformConfigError,
  TransformError,
} from '../../../src/mapping/transforms';

const titleLeaf = compileS360Path('general.title').leaf;
const stringLeaf = compileS360Path('general.firstName').leaf;

/** A transform as the mapping file would give it (defaults filled in by the schema). */
function transform(config: unknown, leaf = stringLeaf) {
  return compileTransform(transformSchema.parse(config) as TransformConfig, leaf);
}

describe('trim', () => {
  const trim = transform('trim');

  it('trims both ways, and an empty text becomes null', () => {
    expect(trim.outbound('  Zoë \t')).toBe('Zoë');
    expect(trim.inbound(' Zoë\n')).toBe('Zoë');
    expect(trim.outbound('   ')).toBeNull();
    expect(trim.outbound('')).toBeNull();
    expect(trim.inbound('')).toBeNull();
  });

  it('leaves null, numbers and yes/no alone', () => {
    expect(trim.outbound(null)).toBeNull();
    expect(trim.inbound(null)).toBeNull();
    expect(trim.outbound(42)).toBe(42);
    expect(trim.outbound(false)).toBe(false);
  });

  it('reads back only values already trimmed', () => {
    expect(trim.invertibility).toEqual({ kind: 'normalizing' });
    expect(trim.label).toBe('trim');
  });
});

describe('upper and lower', () => {
  const upper = transform('upper');
  const lower = transform('lower');

  it('changes the case both ways, non-ASCII letters included', () => {
    expect(upper.outbound('ch')).toBe('CH');
    expect(upper.inbound('straße')).toBe('STRASSE');
    expect(lower.outbound('ÉCOLE')).toBe('école');
    expect(lower.inbound('ZOË@EXAMPLE.CH')).toBe('zoë@example.ch');
  });

  it('leaves null, numbers and yes/no alone', () => {
    expect(upper.outbound(null)).toBeNull();
    expect(upper.inbound(null)).toBeNull();
    expect(lower.outbound(7)).toBe(7);
    expect(lower.inbound(true)).toBe(true);
  });

  it('reads back only values already in that case', () => {
    expect(upper.invertibility.kind).toBe('normalizing');
    expect(lower.invertibility.kind).toBe('normalizing');
  });
});

describe('invert', () => {
  const invert = transform('invert');

  it('turns yes into no and back, and leaves null as null', () => {
    expect(invert.outbound(true)).toBe(false);
    expect(invert.outbound(false)).toBe(true);
    expect(invert.inbound(true)).toBe(false);
    expect(invert.inbound(false)).toBe(true);
    expect(invert.outbound(null)).toBeNull();
    expect(invert.inbound(null)).toBeNull();
    expect(invert.invertibility).toEqual({ kind: 'exact' });
  });

  it('refuses a value that is not yes/no, naming it', () => {
    expect(() => invert.outbound('yes')).toThrow(
      new TransformError('invert expects yes/no (true or false), got "yes"'),
    );
    expect(() => invert.inbound(1)).toThrow(
      new TransformError('invert expects yes/no (true or false), got 1'),
    );
  });
});

describe('valueTable', () => {
  const salutation = transform(
    {
      valueTable: {
        values: { MR: 'Mr.', MRS: 'Mrs.', MISS: 'Ms.', UNDEFINED: 'Unknown' },
        neverSendBack: ['UNDEFINED'],
      },
    },
    titleLeaf,
  );

  it('maps a known value both ways', () => {
    expect(salutation.outbound('MRS')).toBe('Mrs.');
    expect(salutation.inbound('Mrs.')).toBe('MRS');
    expect(salutation.inbound('Mr.')).toBe('MR');
    expect(salutation.invertibility).toEqual({ kind: 'exact' });
    expect(salutation.label).toBe('valueTable');
  });

  it('sends defaultCrm for an S-360 value not in the table (null unless given)', () => {
    expect(salutation.outbound('LADIES')).toBeNull();
    const withDefault = transform({ valueTable: { values: { MR: 'Mr.' }, defaultCrm: 'Other' } }, titleLeaf);
    expect(withDefault.outbound('LADIES')).toBe('Other');
    expect(withDefault.outbound(null)).toBeNull();
  });

  it('leaves S-360 unchanged for a CRM value not in the table, unless defaultS360 is given', () => {
    expect(salutation.inbound('Dr.')).toBe(Skip);
    const withDefault = transform(
      { valueTable: { values: { MR: 'Mr.' }, defaultS360: 'UNDEFINED' } },
      titleLeaf,
    );
    expect(withDefault.inbound('Dr.')).toBe('UNDEFINED');
    expect(withDefault.inbound('Mr.')).toBe('MR');
  });

  it('never writes a neverSendBack value back to S-360', () => {
    expect(salutation.outbound('UNDEFINED')).toBe('Unknown');
    expect(salutation.inbound('Unknown')).toBe(Skip);
  });

  it('leaves S-360 unchanged for a CRM null when null is also what unknown values become', () => {
    expect(salutation.inbound(null)).toBe(Skip);
    const withDefault = transform({ valueTable: { values: { MR: 'Mr.' }, defaultCrm: 'Other' } }, titleLeaf);
    expect(withDefault.inbound(null)).toBeNull();
  });

  it('maps to numbers and yes/no as well as text', () => {
    const codes = transform({ valueTable: { values: { gold: 1, silver: 2, none: false } } });
    expect(codes.outbound('silver')).toBe(2);
    expect(codes.inbound(2)).toBe('silver');
    expect(codes.inbound(false)).toBe('none');
    expect(codes.inbound('2')).toBe(Skip);
  });

  it('reports a table that cannot be read back as not invertible, saying why', () => {
    const twoToOne = transform({ valueTable: { values: { MISS: 'Ms.', MRS: 'Ms.' } } }, titleLeaf);
    expect(twoToOne.invertibility).toEqual({
      kind: 'none',
      why: 'the valueTable cannot be read back: MISS and MRS both map to "Ms."',
    });
    const defaultInTable = transform(
      { valueTable: { values: { MR: 'Mr.', MRS: 'Mrs.' }, defaultCrm: 'Mr.' } },
      titleLeaf,
    );
    expect(defaultInTable.invertibility).toEqual({
      kind: 'none',
      why: 'the valueTable cannot be read back: defaultCrm "Mr." is also the value of an S-360 value in the table',
    });
  });

  it('refuses keys, neverSendBack and defaultS360 values that are not values of an enumeration', () => {
    expect(() =>
      transform({ valueTable: { values: { MR: 'Mr.', DR: 'Dr.' }, neverSendBack: ['NONE'] } }, titleLeaf),
    ).toThrow(
      new TransformConfigError(
        'valueTable: "DR", "NONE" is not an S-360 value of this attribute ' +
          '(expected one of MISS, MRS, MR, MR_AND_MRS, UNDEFINED, LADIES, GENTLEMEN)',
      ),
    );
    expect(() => transform({ valueTable: { values: { MR: 'Mr.' }, defaultS360: 'mr' } }, titleLeaf)).toThrow(
      /"mr" is not an S-360 value of this attribute/,
    );
    expect(() => transform({ valueTable: { values: { DR: 'Dr.' } } }, stringLeaf)).not.toThrow();
  });
});

describe('date', () => {
  const zurich = transform({ date: { timeZone: 'Europe/Zurich' } });
  const newYork = transform({ date: { timeZone: 'America/New_York' } });

  it('keeps a calendar date as it is, both ways', () => {
    expect(zurich.outbound('1984-02-29')).toBe('1984-02-29');
    expect(zurich.inbound('2000-01-01')).toBe('2000-01-01');
    expect(newYork.outbound(' 2024-12-31 ')).toBe('2024-12-31');
    expect(zurich.invertibility).toEqual({ kind: 'exact' });
    expect(zurich.label).toBe('date (Europe/Zurich)');
  });

  it('reads a date-time with an offset as the day it is in the configured time zone', () => {
    expect(zurich.inbound('2024-03-09T23:30:00Z')).toBe('2024-03-10');
    expect(newYork.inbound('2024-03-09T23:30:00Z')).toBe('2024-03-09');
    expect(zurich.outbound('2024-03-10T00:30:00+02:00')).toBe('2024-03-09');
    expect(newYork.outbound('2024-03-10T03:30:00.123+0000')).toBe('2024-03-09');
    expect(zurich.inbound('2024-06-30T22:00Z')).toBe('2024-07-01');
  });

  it('gives null for nothing', () => {
    expect(zurich.outbound(null)).toBeNull();
    expect(zurich.inbound('')).toBeNull();
    expect(zurich.inbound('  ')).toBeNull();
  });

  it('refuses dates that do not exist, in both forms', () => {
    const notADate = (text: string) =>
      new TransformError(`"${text}" is not a date (YYYY-MM-DD) or a date-time with a time zone`);
    expect(() => zurich.outbound('2023-02-29')).toThrow(notADate('2023-02-29'));
    expect(() => zurich.inbound('2024-13-01')).toThrow(notADate('2024-13-01'));
    expect(() => zurich.inbound('2023-02-30T10:00:00Z')).toThrow(notADate('2023-02-30T10:00:00Z'));
    expect(() => zurich.inbound('2024-04-31T10:00:00+02:00')).toThrow(notADate('2024-04-31T10:00:00+02:00'));
  });

  it('refuses other formats, a date-time without a zone, and values that are not text', () => {
    expect(() => zurich.outbound('01.02.2000')).toThrow(/"01.02.2000" is not a date/);
    expect(() => zurich.outbound('2000-1-2')).toThrow(TransformError);
    expect(() => zurich.inbound('2024-03-09T23:30:00')).toThrow(/is not a date/);
    expect(() => zurich.inbound(20240309)).toThrow(
      new TransformError('date expects a date as text, got 20240309'),
    );
  });
});

describe('isCalendarDate', () => {
  it('accepts real days only, leap years included, and any four-digit year', () => {
    expect(isCalendarDate('2024-02-29')).toBe(true);
    expect(isCalendarDate('2000-02-29')).toBe(true);
    expect(isCalendarDate('1900-02-29')).toBe(false);
    expect(isCalendarDate('2023-02-29')).toBe(false);
    expect(isCalendarDate('2024-00-10')).toBe(false);
    expect(isCalendarDate('2024-01-32')).toBe(false);
    expect(isCalendarDate('0001-01-01')).toBe(true);
    expect(isCalendarDate('0099-12-31')).toBe(true);
    expect(isCalendarDate('2024-01-01T00:00:00Z')).toBe(false);
  });
});

describe('constant', () => {
  it('always sends the constant and never writes S-360', () => {
    const constant = transform({ constant: 'SecuTix S-360' });
    expect(constant.outbound(null)).toBe('SecuTix S-360');
    expect(constant.outbound('000123')).toBe('SecuTix S-360');
    expect(constant.inbound('SecuTix S-360')).toBe(Skip);
    expect(constant.inbound(null)).toBe(Skip);
    expect(transform({ constant: false }).outbound(true)).toBe(false);
    expect(transform({ constant: null }).outbound('x')).toBeNull();
  });

  it('cannot be read back', () => {
    expect(transform({ constant: 'S-360' }).invertibility).toEqual({
      kind: 'none',
      why: 'constant "S-360" cannot be read back',
    });
    expect(transform({ constant: 3 }).label).toBe('constant 3');
  });
});

describe('default', () => {
  const fallback = transform({ default: 'unknown' });

  it('sends the default for nothing only', () => {
    expect(fallback.outbound(null)).toBe('unknown');
    expect(fallback.outbound('de')).toBe('de');
    expect(fallback.outbound('')).toBe('');
    expect(transform({ default: 0 }).outbound(null)).toBe(0);
  });

  it('passes CRM values through inbound, the default included', () => {
    expect(fallback.inbound('fr')).toBe('fr');
    expect(fallback.inbound('unknown')).toBe('unknown');
    expect(fallback.inbound(null)).toBeNull();
  });

  it('cannot be read back', () => {
    expect(fallback.invertibility).toEqual({
      kind: 'none',
      why: 'default "unknown" cannot be told apart from a real "unknown" when read back',
    });
  });
});

describe('joinValues and splitValue', () => {
  it('joins in order, keeping an empty line in the middle and dropping empty ones at the end', () => {
    expect(joinValues(['Rue A 1', null, 'Case postale 12'], '\n')).toBe('Rue A 1\n\nCase postale 12');
    expect(joinValues(['Rue A 1', '  ', 'CP 12'], '\n')).toBe('Rue A 1\n\nCP 12');
    expect(joinValues(['Rue A 1', '', null], '\n')).toBe('Rue A 1');
    expect(joinValues([null, 'c/o Büro'], '\n')).toBe('\nc/o Büro');
    expect(joinValues(['1201', 'Genève'], ' | ')).toBe('1201 | Genève');
    expect(joinValues([12, true], '/')).toBe('12/true');
  });

  it('gives null when every value is empty', () => {
    expect(joinValues([null, '', ' '], '\n')).toBeNull();
    expect(joinValues([], '\n')).toBeNull();
  });

  it('splits back into the same positions, empty parts as null', () => {
    expect(splitValue('Rue A 1\n\nCase postale 12', '\n', 3)).toEqual(['Rue A 1', null, 'Case postale 12']);
    expect(splitValue('Rue A 1', '\n', 3)).toEqual(['Rue A 1', null, null]);
    expect(splitValue('\nc/o Büro', '\n', 2)).toEqual([null, 'c/o Büro']);
    expect(splitValue('1201 | Genève', ' | ', 2)).toEqual(['1201', 'Genève']);
  });

  it('gives nulls for null', () => {
    expect(splitValue(null, '\n', 3)).toEqual([null, null, null]);
  });

  it('keeps extra parts in the last attribute, so no line is lost', () => {
    expect(splitValue('a\nb\nc\nd', '\n', 3)).toEqual(['a', 'b', 'c\nd']);
    expect(splitValue('a\nb\n\n', '\n', 2)).toEqual(['a', 'b\n\n']);
  });

  it('reads back what it joined', () => {
    const lines = ['Chemin des Écoliers 3', null, '🏠 Case postale 12'];
    expect(splitValue(joinValues(lines, '\n'), '\n', 3)).toEqual(lines);
  });
});
