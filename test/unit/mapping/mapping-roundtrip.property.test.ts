import fc from 'fast-check';
import type { z } from 'zod';
import {
  s360ContactSchema,
  s360TitleSchema,
  type S360Contact,
} from '../../../src/adapters/s360/s360-contact';
import type { MappingPlan } from '../../../src/mapping/compile-mapping';
import { characterLength } from '../../../src/mapping/crm-field-checks';
import { loadMapping, parseMapping } from '../../../src/mapping/load-mapping';
import type { S360Path } from '../../../src/mapping/s360-paths';

/**
 * Round trip: a contact sent to the CRM and read back over itself comes back unchanged, for every rule declared for
 * both directions: `mapInbound(mapOutbound(x).record, x)` gives x again on every mapped path.
 *
 * Exact transforms (invert, valueTable, date on a calendar date, joining lines) read back any value. Normalizing
 * ones only read back values already in the form they produce, so the contacts below hold normalized values:
 * - trim: no leading or trailing white space; and a CRM does not tell an empty text from no text, so an empty or
 *   blank value reads back as null (compared as equal here);
 * - upper / lower: a country is in capitals, an e-mail or a segment in lower case;
 * - onTooLong: truncate: texts are at most maxLength characters long (counted in characters: an emoji is one);
 * - joined lines never contain the separator (no line break in an address line).
 * Every generated contact is valid for the CRM (e-mail syntax, ISO countries, lengths within the limits), so that
 * the outbound direction accepts it and the round trip is actually checked.
 */

const runs = 250;

/** A round-trip mapping that uses every transform that can be read back, on every kind of path. */
const everyInvertibleTransform = parseMapping(
  `
personObject: PersonAccount
rules:
  - crm: Salutation__c
    s360: general.title
    entities: [person, relay]
    type: number
    transforms:
      - valueTable:
          values: { UNDEFINED: 0, MR: 1, MRS: 2, MISS: 3, MR_AND_MRS: 4, LADIES: 5, GENTLEMEN: 6 }
          neverSendBack: [UNDEFINED]
  - crm: Language__c
    s360: general.language
    transforms:
      - trim
      - valueTable:
          values: { de: German, fr: French, it: Italian, en: English }
  - crm: GivenName__c
    s360: general.firstName
    entities: [person, relay]
    transforms: [trim]
    maxLength: 40
    onTooLong: truncate
  - crm: Birthdate__c
    s360: general.birthDate
    entities: [person, relay]
    type: date
    transforms:
      - date: { timeZone: America/New_York }
  - crm: Email__c
    s360: comMeans.email
    type: email
    maxLength: 80
    transforms: [trim, lower]
  - crm: Phones__c
    s360: [comMeans.phone, comMeans.mobile]
    separator: " / "
    maxLength: 100
  - crm: Inactive__c
    s360: active
    transforms: [invert]
  - crm: NoNewsletter__c
    s360: authorizations[code=NEWSLETTER].value
    type: boolean
    transforms: [invert]
  - crm: Segment__c
    s360: criteria[code=SEGMENT].value
    maxLength: 30
    transforms: [trim, lower]
  - crm: FirstPostalCode__c
    s360: addresses[0].zipCode
    maxLength: 20
    transforms: [trim, upper]
  - crm: FirstCountry__c
    s360: addresses[0].country
    type: country
    transforms: [trim, upper]
  - crm: SecondCity__c
    s360: addresses[1].town
    maxLength: 40
    transforms: [trim]
  - crm: Street__c
    s360:
      - addresses[main].addressLine1
      - addresses[main].addressLine2
      - addresses[main].addressLine3
    separator: "\\n"
    entities: [account]
    maxLength: 255
`,
  'every-invertible-transform.yaml',
);

// --- generators -------------------------------------------------------------------------------------------------

/** One character (one code point): anything, with non-ASCII letters, CJK and emoji made frequent. */
const anyCharacter = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('é', 'ë', 'ß', 'Ł', 'ø', 'ç', 'Ω', '中', '😀', '🎭', '🇨', ' ', '\t'),
  },
);
/** A trimmed text of at most `max` characters: often empty, short, or exactly `max` long. */
function trimmedText(max: number, character = anyCharacter): fc.Arbitrary<string> {
  const solidCharacter = character.filter((one) => one.trim() === one);
  return fc
    .oneof(
      fc.constant(''),
      fc.string({ unit: character, maxLength: Math.min(max, 12) }),
      fc.string({ unit: character, maxLength: max }),
      fc.string({ unit: solidCharacter, minLength: max, maxLength: max }),
    )
    .map((text) => text.trim());
}
const nonEmpty = (text: fc.Arbitrary<string>) => text.filter((value) => value !== '');

const lowerCaseText = (max: number) =>
  trimmedText(max)
    .map((text) => text.toLowerCase().trim())
    .filter((text) => characterLength(text) <= max);
const upperCaseText = (max: number) =>
  trimmedText(max)
    .map((text) => text.toUpperCase().trim())
    .filter((text) => characterLength(text) <= max);

const emailPart = (max: number) =>
  fc.string({
    unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_', 'é', 'ü', 'ø'),
    minLength: 1,
    maxLength: max,
  });
/** A valid, lower-case e-mail address of at most 80 characters. */
const email = fc
  .tuple(emailPart(30), fc.option(emailPart(10)), emailPart(30), fc.stringMatching(/^[a-z]{2,6}$/))
  .map(([local, more, domain, tld]) => `${local}${more ? `.${more}` : ''}@${domain}.${tld}`);

/** A phone number: never the " / " that joins phone and mobile in the mapping above. */
const phone = trimmedText(40, fc.constantFrom(...'0123456789 +()-.', '٠', '٣'));

const dateBetween = (from: string, to: string) =>
  fc
    .date({ min: new Date(`${from}T00:00:00Z`), max: new Date(`${to}T00:00:00Z`), noInvalidDate: true })
    .map((date) => date.toISOString().slice(0, 10));
/** A calendar date from year 1 to 9999: mostly 1900-2030, often before the year 100. */
const calendarDate = fc.oneof(
  { weight: 3, arbitrary: dateBetween('1900-01-01', '2030-12-31') },
  { weight: 1, arbitrary: dateBetween('0001-01-01', '0099-12-31') },
  { weight: 1, arbitrary: dateBetween('0001-01-01', '9999-12-31') },
);

const countries = ['CH', 'FR', 'DE', 'IT', 'LI', 'AT', 'US', 'GB'];
const contactNumber = fc.stringMatching(/^\d{1,20}$/);

/** An address line: any text but a line break, at most 84 characters so that three fit in 255. */
const addressLine = fc.oneof(
  fc.constant(null),
  fc.string({ unit: anyCharacter.filter((character) => character !== '\n'), maxLength: 84 }),
);

const address = fc.record({
  addressLine1: addressLine,
  addressLine2: addressLine,
  addressLine3: addressLine,
  zipCode: fc.option(upperCaseText(20)),
  town: fc.option(trimmedText(40)),
  country: fc.option(fc.constantFrom(...countries)),
  isMain: fc.boolean(),
});

const authorizations = fc.array(
  fc.record({ code: fc.constantFrom('EMAIL', 'SMS', 'POST', 'NEWSLETTER'), value: fc.boolean() }),
  { maxLength: 3 },
);

const criteria = fc.array(
  fc.record({ code: fc.constantFrom('SEGMENT', 'SCORE'), value: fc.option(lowerCaseText(30)) }),
  { maxLength: 2 },
);

type ContactInput = z.input<typeof s360ContactSchema>;

const kind = fc.constantFrom(
  { contactType: 'INDIVIDUAL', role: 'PUBLIC' } as const,
  { contactType: 'INDIVIDUAL', role: null } as const,
  { contactType: 'INDIVIDUAL', role: 'RELAY' } as const,
  { contactType: 'STRUCTURE', role: null } as const,
);

/** A valid S-360 contact (built by the S-360 model itself), with values in normal form. */
const s360Contact: fc.Arbitrary<S360Contact> = fc
  .record({
    kind,
    contactNumber,
    structureContactNumber: fc.option(contactNumber),
    general: fc.record({
      title: fc.option(fc.constantFrom(...s360TitleSchema.options)),
      firstName: fc.option(trimmedText(40)),
      lastName: nonEmpty(trimmedText(80)),
      organizationName: nonEmpty(trimmedText(255)),
      birthDate: fc.option(calendarDate),
      language: fc.option(fc.constantFrom('de', 'fr', 'it', 'en', 'rm', '')),
    }),
    comMeans: fc.record({ email: fc.option(email), phone: fc.option(phone), mobile: fc.option(phone) }),
    addresses: fc.array(address, { maxLength: 3 }),
    authorizations,
    criteria,
    active: fc.boolean(),
  })
  .map(({ kind: { contactType, role }, structureContactNumber, ...rest }) => {
    const input: ContactInput = {
      ...rest,
      contactType,
      role,
      structureContactNumber: role === 'RELAY' ? structureContactNumber : null,
      lastModificationDate: '2024-05-01T10:00:00.000Z',
    };
    return s360ContactSchema.parse(input);
  });

// --- the property -----------------------------------------------------------------------------------------------

/** A CRM does not tell an empty text from no text. */
function normal(value: unknown): unknown {
  return typeof value === 'string' && value.trim() === '' ? null : value;
}

/** The contact with the normal value written at each path (so the rest can be compared as a whole). */
function normalizedAt(contact: object, paths: readonly S360Path[]): object {
  const copy = structuredClone(contact) as Record<string, unknown>;
  for (const path of paths) path.set(copy, normal(path.get(copy)));
  return copy;
}

interface Counts {
  generated: number;
  checked: number;
  paths: number;
}

function roundTrip(plan: MappingPlan, contact: S360Contact, counts: Counts): void {
  counts.generated += 1;
  const sent = plan.mapOutbound(contact);
  fc.pre(sent.ok);
  if (!sent.ok) return;
  counts.checked += 1;

  const result = plan.mapInbound({ entity: sent.record.entity, fields: sent.record.fields }, contact);
  if (!result.ok) throw new Error(`read back refused: ${result.field}: ${result.reason}`);

  const paths = plan.rules
    .filter((rule) => rule.direction === 'both' && rule.entities.has(sent.record.entity))
    .flatMap((rule) => rule.sources);
  for (const path of paths) {
    expect({ path: path.text, value: normal(path.get(result.contact)) }).toEqual({
      path: path.text,
      value: normal(path.get(contact)),
    });
  }
  counts.paths += paths.length;

  // Nothing else changed: no element added to a list, no other attribute touched, still a valid S-360 contact.
  expect(normalizedAt(result.contact, paths)).toEqual(normalizedAt(contact, paths));
  expect(s360ContactSchema.safeParse(result.contact).success).toBe(true);
}

function checkRoundTrip(plan: MappingPlan): Counts {
  const counts: Counts = { generated: 0, checked: 0, paths: 0 };
  fc.assert(
    fc.property(s360Contact, (contact) => roundTrip(plan, contact, counts)),
    { numRuns: runs },
  );
  return counts;
}

describe('round trip S-360 -> CRM -> S-360', () => {
  it('gives back every attribute of the default mapping declared for both directions', () => {
    const plan = loadMapping();
    const both = plan.rules.filter((rule) => rule.direction === 'both').map((rule) => rule.crm);
    expect(both).toEqual(
      expect.arrayContaining(['Salutation', 'FirstName', 'LastName', 'Name', 'Birthdate', 'Email']),
    );
    expect(both).toEqual(
      expect.arrayContaining(['HasOptedOutOfEmail', 'MailingStreet', 'BillingCountryCode']),
    );

    const counts = checkRoundTrip(plan);
    expect(counts.checked).toBeGreaterThanOrEqual(runs);
    expect(counts.checked / counts.generated).toBeGreaterThan(0.95);
    expect(counts.paths).toBeGreaterThan(runs * 8);
  });

  it('gives back every attribute of a mapping using every transform that can be read back', () => {
    const labels = new Set(
      everyInvertibleTransform.rules.flatMap((rule) => rule.transforms.map((transform) => transform.label)),
    );
    expect([...labels].sort()).toEqual([
      'date (America/New_York)',
      'invert',
      'lower',
      'trim',
      'upper',
      'valueTable',
    ]);
    expect(everyInvertibleTransform.rules.every((rule) => rule.direction === 'both')).toBe(true);

    const counts = checkRoundTrip(everyInvertibleTransform);
    expect(counts.checked).toBeGreaterThanOrEqual(runs);
    expect(counts.checked / counts.generated).toBeGreaterThan(0.95);
    expect(counts.paths).toBeGreaterThan(runs * 8);
  });

  it('generates the hard cases: every entity, longest values, emoji, empty names, addresses, e-mail opt-ins', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(s360Contact, (contact) => {
        const { general, addresses, authorizations: opts } = contact;
        seen.add(`${contact.contactType}/${contact.role ?? '-'}`);
        if (characterLength(general.firstName ?? '') === 40) seen.add('firstName of 40 characters');
        if (characterLength(general.lastName ?? '') === 80) seen.add('lastName of 80 characters');
        if (general.firstName === '') seen.add('empty firstName');
        if (/\p{Extended_Pictographic}/u.test(`${general.firstName}${general.lastName}`)) seen.add('emoji');
        if ([...(general.lastName ?? '')].some((character) => (character.codePointAt(0) ?? 0) > 0x7f)) {
          seen.add('non-ASCII');
        }
        if (addresses.length === 3) seen.add('three addresses');
        if (addresses.length > 0 && !addresses.some((element) => element.isMain)) seen.add('no main address');
        if (opts.some((opt) => opt.code === 'EMAIL')) seen.add('EMAIL authorization');
        if (!opts.some((opt) => opt.code === 'EMAIL')) seen.add('no EMAIL authorization');
        if ((general.birthDate ?? '9') < '0100') seen.add('birth date before year 100');
      }),
      { numRuns: 1000 },
    );
    expect([...seen].sort()).toEqual([
      'EMAIL authorization',
      'INDIVIDUAL/-',
      'INDIVIDUAL/PUBLIC',
      'INDIVIDUAL/RELAY',
      'STRUCTURE/-',
      'birth date before year 100',
      'emoji',
      'empty firstName',
      'firstName of 40 characters',
      'lastName of 80 characters',
      'no EMAIL authorization',
      'no main address',
      'non-ASCII',
      'three addresses',
    ]);
  });
});
