import type { z } from 'zod';
import { s360ContactSchema, type S360Contact } from '../../../src/adapters/s360/s360-contact';
import { compileMapping, entityOf, MappingConfigError } from '../../../src/mapping/compile-mapping';
import { mappingConfigSchema } from '../../../src/mapping/mapping-config-schema';
import { parseMapping } from '../../../src/mapping/load-mapping';

type ContactInput = z.input<typeof s360ContactSchema>;

/** Removes the indentation of a template literal, so that the YAML below reads as in a file (line 1 first). */
function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = strings.reduce(
    (all, part, index) => all + part + (index < values.length ? values[index] : ''),
    '',
  );
  const lines = text
    .replace(/^\n/, '')
    .replace(/\n\s*$/, '\n')
    .split('\n');
  const indent = Math.min(
    ...lines.filter((line) => line.trim() !== '').map((line) => /^ */.exec(line)?.[0].length ?? 0),
  );
  return lines.map((line) => line.slice(indent)).join('\n');
}

function plan(text: string) {
  return parseMapping(text, 'test.yaml');
}

function issuesOf(text: string): readonly string[] {
  try {
    parseMapping(text, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(MappingConfigError);
    return (err as MappingConfigError).issues;
  }
  throw new Error('expected the mapping to be refused');
}

function contact(overrides: Partial<ContactInput> = {}, general: Partial<ContactInput['general']> = {}) {
  return s360ContactSchema.parse({
    contactNumber: '000123',
    contactType: 'INDIVIDUAL',
    role: 'PUBLIC',
    general: { title: 'MRS', firstName: 'Zoë', lastName: 'Müller', birthDate: '1984-02-29', ...general },
    comMeans: { email: 'zoe@example.ch', phone: '+41 22 000 00 00' },
    addresses: [
      { addressLine1: 'Rue du Rhône 1', zipCode: '1204', town: 'Genève', country: 'CH', isMain: true },
    ],
    authorizations: [{ code: 'EMAIL', value: true }],
    criteria: [
      { code: 'SCORE', value: '12' },
      { code: 'NEWSLETTER', value: 'yes' },
    ],
    lastModificationDate: '2024-05-01T10:00:00.000Z',
    ...overrides,
  });
}

const structure = (general: Partial<ContactInput['general']> = {}, overrides: Partial<ContactInput> = {}) =>
  contact(
    { contactType: 'STRUCTURE', role: null, ...overrides },
    { organizationName: 'Théâtre du Léman', ...general },
  );
const relay = (overrides: Partial<ContactInput> = {}) =>
  contact({ role: 'RELAY', structureContactNumber: '0042', ...overrides });

function outbound(text: string, input: S360Contact) {
  return plan(text).mapOutbound(input);
}

function record(text: string, input: S360Contact) {
  const result = outbound(text, input);
  if (!result.ok) throw new Error(`expected a record, got ${result.field}: ${result.reason}`);
  return result.record;
}

describe('outbound: type checks', () => {
  it.each([
    [
      'string',
      yaml`
        rules:
          - crm: Active__c
            s360: active
            type: string
      `,
      'Active__c expects text, got true',
    ],
    [
      'boolean',
      yaml`
        rules:
          - crm: Newsletter__c
            s360: criteria[code=NEWSLETTER].value
            type: boolean
      `,
      'Newsletter__c expects yes/no (true or false), got "yes"',
    ],
    [
      'number',
      yaml`
        rules:
          - crm: Score__c
            s360: criteria[code=SCORE].value
            type: number
      `,
      'Score__c expects a number, got "12"',
    ],
    [
      'date',
      yaml`
        rules:
          - crm: Birthdate
            s360: general.birthDate
            type: date
      `,
      'Birthdate "29.02.1984" is not a date as YYYY-MM-DD',
    ],
    [
      'email',
      yaml`
        rules:
          - crm: Email
            s360: comMeans.email
            type: email
      `,
      'Email "zoe.example.ch" is not an e-mail address',
    ],
    [
      'country',
      yaml`
        rules:
          - crm: Country
            s360: addresses[main].country
            type: country
      `,
      'Country "CHE" is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. CH)',
    ],
  ])('parks a contact whose %s field does not fit, with the field and the reason', (_type, text, reason) => {
    const input = contact(
      {
        comMeans: { email: 'zoe.example.ch' },
        addresses: [{ country: 'CHE', isMain: true }],
      },
      { birthDate: '29.02.1984' },
    );
    const field = reason.split(' ')[0];
    expect(outbound(text, input)).toEqual({ ok: false, field, reason });
  });

  it('accepts values of the right kind, and null for any type', () => {
    const text = yaml`
      rules:
        - crm: Score__c
          s360: criteria[code=SCORE].value
          type: number
          transforms:
            - valueTable: { values: { '12': 12 } }
        - crm: OptIn__c
          s360: authorizations[code=EMAIL].value
          type: boolean
        - crm: Birthdate
          s360: general.birthDate
          type: date
        - crm: Email
          s360: comMeans.email
          type: email
        - crm: Country
          s360: addresses[main].country
          type: country
        - crm: Mobile
          s360: comMeans.mobile
          type: email
    `;
    expect(record(text, contact()).fields).toEqual({
      Score__c: 12,
      OptIn__c: true,
      Birthdate: '1984-02-29',
      Email: 'zoe@example.ch',
      Country: 'CH',
      Mobile: null,
    });
  });

  it('refuses a lower-case or unassigned country unless upper-cased first', () => {
    const text = yaml`
      rules:
        - crm: Country
          s360: addresses[main].country
          type: country
    `;
    const withCountry = (country: string) => contact({ addresses: [{ country, isMain: true }] });
    expect(outbound(text, withCountry('ch'))).toMatchObject({ ok: false, field: 'Country' });
    expect(outbound(text, withCountry('XX'))).toMatchObject({ ok: false, field: 'Country' });
    const upper = text.replace('type: country', 'type: country\n    transforms: [trim, upper]');
    expect(record(upper, withCountry(' ch ')).fields.Country).toBe('CH');
  });

  it('gives a yes/no attribute a yes/no field by default, and text once a valueTable maps it', () => {
    const plain = yaml`
      rules:
        - crm: Active__c
          s360: active
    `;
    expect(record(plain, contact()).fields.Active__c).toBe(true);
    const table = yaml`
      rules:
        - crm: Active__c
          s360: active
          transforms:
            - valueTable: { values: { 'true': 'Yes', 'false': 'No' } }
    `;
    expect(record(table, contact({ active: false })).fields.Active__c).toBe('No');
  });

  it('parks a contact a transform cannot handle, naming the field', () => {
    const text = yaml`
      rules:
        - crm: NoNewsletter__c
          s360: criteria[code=NEWSLETTER].value
          transforms: [invert]
    `;
    expect(outbound(text, contact())).toEqual({
      ok: false,
      field: 'NoNewsletter__c',
      reason: 'NoNewsletter__c: invert expects yes/no (true or false), got "yes"',
    });
  });
});

describe('outbound: maxLength', () => {
  const rule = (onTooLong: string) => yaml`
    rules:
      - crm: FirstName
        s360: general.firstName
        maxLength: 5
        onTooLong: ${onTooLong}
  `;

  it('counts characters, not UTF-16 units: five emoji fit in five', () => {
    expect(record(rule('reject'), contact({}, { firstName: '😀😀😀😀😀' })).fields.FirstName).toBe(
      '😀😀😀😀😀',
    );
    expect(record(rule('reject'), contact({}, { firstName: 'Zoë 🎭' })).fields.FirstName).toBe('Zoë 🎭');
  });

  it('rejects a longer text by default, saying how long it is', () => {
    const defaultRule = yaml`
      rules:
        - crm: FirstName
          s360: general.firstName
          maxLength: 5
    `;
    expect(outbound(defaultRule, contact({}, { firstName: 'Éloïse' }))).toEqual({
      ok: false,
      field: 'FirstName',
      reason: 'FirstName is 6 characters long; at most 5 are allowed',
    });
    expect(outbound(rule('reject'), contact({}, { firstName: '😀😀😀😀😀😀' }))).toMatchObject({
      ok: false,
      reason: 'FirstName is 6 characters long; at most 5 are allowed',
    });
  });

  it('truncates to whole characters when asked, never cutting an emoji in two', () => {
    expect(record(rule('truncate'), contact({}, { firstName: 'Zoë😀😀😀' })).fields.FirstName).toBe(
      'Zoë😀😀',
    );
    expect(record(rule('truncate'), contact({}, { firstName: '😀😀😀😀😀😀' })).fields.FirstName).toBe(
      '😀😀😀😀😀',
    );
    expect(record(rule('truncate'), contact({}, { firstName: 'Éloïse' })).fields.FirstName).toBe('Éloïs');
  });

  it('limits the joined text of several attributes', () => {
    const text = yaml`
      rules:
        - crm: Street
          s360: ['addresses[main].addressLine1', 'addresses[main].addressLine2']
          separator: "\\n"
          maxLength: 10
    `;
    expect(
      record(text, contact({ addresses: [{ addressLine1: 'Rue 1', addressLine2: 'CP 2' }] })).fields,
    ).toEqual({
      Street: 'Rue 1\nCP 2',
    });
    expect(
      outbound(text, contact({ addresses: [{ addressLine1: 'Rue 1', addressLine2: 'CP 12' }] })),
    ).toEqual({
      ok: false,
      field: 'Street',
      reason: 'Street is 11 characters long; at most 10 are allowed',
    });
  });
});

describe('outbound: required', () => {
  const text = yaml`
    rules:
      - crm: LastName
        s360: general.lastName
        entities: [person, relay]
        transforms: [trim]
        required: true
      - crm: Name
        s360: general.organizationName
        entities: [account]
        required: true
      - crm: Street
        s360: ['addresses[main].addressLine1', 'addresses[main].addressLine2']
        separator: "\\n"
        entities: [relay]
        required: true
  `;

  it('parks a contact without a required field, naming the entity and the empty attributes', () => {
    expect(outbound(text, contact({}, { lastName: null }))).toEqual({
      ok: false,
      field: 'LastName',
      reason: 'LastName is required for a person (general.lastName is empty)',
    });
    expect(outbound(text, contact({}, { lastName: '   ' }))).toMatchObject({ ok: false, field: 'LastName' });
    expect(outbound(text, structure({ organizationName: null }))).toEqual({
      ok: false,
      field: 'Name',
      reason: 'Name is required for an account (general.organizationName is empty)',
    });
    expect(outbound(text, relay({ addresses: [] }))).toEqual({
      ok: false,
      field: 'Street',
      reason:
        'Street is required for a relay (addresses[main].addressLine1, addresses[main].addressLine2 is empty)',
    });
  });

  it('only for the entities of the rule', () => {
    expect(record(text, contact({ addresses: [] })).fields).toEqual({ LastName: 'Müller' });
    expect(record(text, structure({ lastName: null })).fields).toEqual({ Name: 'Théâtre du Léman' });
  });
});

describe('outbound: entities and objects', () => {
  const text = yaml`
    personObject: PersonAccount
    accountObject: Organisation__c
    relayObject: Relay__c
    rules:
      - crm: LastName
        s360: general.lastName
        entities: [person, relay]
      - crm: Name
        s360: general.organizationName
        entities: [account]
      - crm: Title
        s360: general.title
        entities: [relay]
      - crm: Phone
        s360: comMeans.phone
  `;

  it('maps each entity with its own rules to its own object', () => {
    expect(record(text, contact())).toEqual({
      contactNumber: '000123',
      entity: 'person',
      object: 'PersonAccount',
      fields: { LastName: 'Müller', Phone: '+41 22 000 00 00' },
      sourceModifiedAt: '2024-05-01T10:00:00.000Z',
    });
    expect(record(text, structure())).toEqual({
      contactNumber: '000123',
      entity: 'account',
      object: 'Organisation__c',
      fields: { Name: 'Théâtre du Léman', Phone: '+41 22 000 00 00' },
      sourceModifiedAt: '2024-05-01T10:00:00.000Z',
    });
    expect(record(text, relay())).toEqual({
      contactNumber: '000123',
      entity: 'relay',
      object: 'Relay__c',
      accountContactNumber: '0042',
      fields: { LastName: 'Müller', Title: 'MRS', Phone: '+41 22 000 00 00' },
      sourceModifiedAt: '2024-05-01T10:00:00.000Z',
    });
  });

  it('links only relays to an account, and only when they have a structure', () => {
    expect(record(text, contact({ structureContactNumber: '0042' }))).not.toHaveProperty(
      'accountContactNumber',
    );
    expect(record(text, relay({ structureContactNumber: null }))).not.toHaveProperty('accountContactNumber');
    expect(record(text, contact({ role: null })).entity).toBe('person');
  });

  it('defaults to Contact, Account and Contact', () => {
    const defaults = plan(yaml`
      rules:
        - crm: Phone
          s360: comMeans.phone
    `);
    expect([defaults.objectOf('person'), defaults.objectOf('account'), defaults.objectOf('relay')]).toEqual([
      'Contact',
      'Account',
      'Contact',
    ]);
    expect(plan(text).objectOf('account')).toBe('Organisation__c');
    expect(entityOf({ contactType: 'STRUCTURE', role: 'RELAY' })).toBe('account');
  });

  it('does not send inbound rules', () => {
    const text2 = yaml`
      rules:
        - crm: Phone
          s360: comMeans.phone
          direction: inbound
        - crm: Mobile
          s360: comMeans.mobile
          direction: outbound
    `;
    expect(record(text2, contact()).fields).toEqual({ Mobile: null });
  });
});

describe('inbound', () => {
  const text = yaml`
    rules:
      - crm: FirstName
        s360: general.firstName
        entities: [person, relay]
        transforms: [trim]
      - crm: Salutation
        s360: general.title
        entities: [person, relay]
        transforms:
          - valueTable:
              values: { MR: Mr., MRS: Mrs. }
      - crm: HasOptedOutOfEmail
        s360: authorizations[code=EMAIL].value
        transforms: [invert]
      - crm: MailingStreet
        s360: ['addresses[main].addressLine1', 'addresses[main].addressLine2', 'addresses[main].addressLine3']
        separator: "\\n"
      - crm: Name
        s360: general.organizationName
        entities: [account]
      - crm: LeadSource
        s360: contactNumber
        direction: outbound
        transforms:
          - constant: SecuTix S-360
      - crm: Language__c
        s360: general.language
        direction: inbound
        transforms: [lower]
  `;
  const mapping = plan(text);

  it('writes the CRM values over the base contact, leaving the base as it was', () => {
    const base = contact();
    const copy = structuredClone(base);
    const result = mapping.mapInbound(
      {
        entity: 'person',
        fields: {
          FirstName: ' Anna ',
          Salutation: 'Mr.',
          HasOptedOutOfEmail: true,
          MailingStreet: 'Chemin des Écoliers 3\n\nCase postale 12',
          Language__c: 'FR',
        },
      },
      base,
    );
    expect(result).toEqual({
      ok: true,
      contact: {
        ...copy,
        general: { ...copy.general, firstName: 'Anna', title: 'MR', language: 'fr' },
        authorizations: [{ code: 'EMAIL', value: false }],
        addresses: [
          {
            ...copy.addresses[0],
            addressLine1: 'Chemin des Écoliers 3',
            addressLine2: null,
            addressLine3: 'Case postale 12',
          },
        ],
      },
      written: [
        'general.firstName',
        'general.title',
        'authorizations[code=EMAIL].value',
        'addresses[main].addressLine1',
        'addresses[main].addressLine2',
        'addresses[main].addressLine3',
        'general.language',
      ],
    });
    expect(base).toEqual(copy);
  });

  it('leaves attributes whose CRM field is absent from the record unchanged', () => {
    const base = contact();
    const result = mapping.mapInbound({ entity: 'person', fields: { FirstName: 'Anna' } }, base);
    expect(result).toEqual({
      ok: true,
      contact: { ...base, general: { ...base.general, firstName: 'Anna' } },
      written: ['general.firstName'],
    });
    expect(mapping.mapInbound({ entity: 'person', fields: {} }, base)).toEqual({
      ok: true,
      contact: base,
      written: [],
    });
  });

  it('clears an attribute the CRM sends as null', () => {
    const result = mapping.mapInbound({ entity: 'person', fields: { FirstName: null } }, contact());
    expect(result.ok && result.contact.general).toMatchObject({ firstName: null, lastName: 'Müller' });
  });

  it('leaves an attribute S-360 requires a value for unchanged when the CRM sends null', () => {
    const result = mapping.mapInbound(
      { entity: 'person', fields: { HasOptedOutOfEmail: null } },
      contact({ authorizations: [{ code: 'EMAIL', value: true }] }),
    );
    expect(result.ok && result.contact.authorizations).toEqual([{ code: 'EMAIL', value: true }]);
    expect(result.ok && result.written).not.toContain('authorizations[code=EMAIL].value');
  });

  it('leaves the title unchanged for a salutation not in the table', () => {
    const base = contact();
    expect(mapping.mapInbound({ entity: 'person', fields: { Salutation: 'Dr.' } }, base)).toEqual({
      ok: true,
      contact: base,
      written: [],
    });
  });

  it('builds a contact from nothing without a base, creating the main address and the authorization', () => {
    expect(
      mapping.mapInbound({
        entity: 'relay',
        fields: { FirstName: 'Anna', HasOptedOutOfEmail: false, MailingStreet: 'Rue 1' },
      }),
    ).toEqual({
      ok: true,
      contact: {
        general: { firstName: 'Anna' },
        authorizations: [{ code: 'EMAIL', value: true }],
        addresses: [{ isMain: true, addressLine1: 'Rue 1', addressLine2: null, addressLine3: null }],
      },
      written: [
        'general.firstName',
        'authorizations[code=EMAIL].value',
        'addresses[main].addressLine1',
        'addresses[main].addressLine2',
        'addresses[main].addressLine3',
      ],
    });
  });

  it('adds no authorization and no address for CRM fields that are empty', () => {
    const base = contact({ addresses: [], authorizations: [] });
    const result = mapping.mapInbound(
      { entity: 'person', fields: { HasOptedOutOfEmail: null, MailingStreet: null } },
      base,
    );
    expect(result.ok && result.contact).toEqual(base);
    expect(result.ok && s360ContactSchema.safeParse(result.contact).success).toBe(true);
  });

  it('only applies the rules of the record entity and of the inbound direction', () => {
    const base = structure();
    const result = mapping.mapInbound(
      {
        entity: 'account',
        fields: { FirstName: 'Anna', Name: 'Opéra', LeadSource: 'Web', Language__c: 'DE' },
      },
      base,
    );
    expect(result).toEqual({
      ok: true,
      contact: { ...base, general: { ...base.general, organizationName: 'Opéra', language: 'de' } },
      written: ['general.organizationName', 'general.language'],
    });
  });

  it('refuses a value that is not one of the S-360 values of the attribute, naming the field', () => {
    const titles = plan(yaml`
      rules:
        - crm: Salutation
          s360: general.title
          direction: inbound
          transforms: [trim, upper]
    `);
    expect(titles.mapInbound({ entity: 'person', fields: { Salutation: ' mr ' } }).ok).toBe(true);
    expect(titles.mapInbound({ entity: 'person', fields: { Salutation: 'Dr.' } }, contact())).toEqual({
      ok: false,
      field: 'Salutation',
      reason:
        'Salutation: "DR." is not a value of general.title ' +
        '(expected one of MISS, MRS, MR, MR_AND_MRS, UNDEFINED, LADIES, GENTLEMEN)',
    });
  });

  it('refuses CRM values of the wrong kind, naming the field', () => {
    expect(mapping.mapInbound({ entity: 'person', fields: { FirstName: 42 } })).toEqual({
      ok: false,
      field: 'FirstName',
      reason: 'FirstName: general.firstName expects text, got 42',
    });
    expect(mapping.mapInbound({ entity: 'person', fields: { HasOptedOutOfEmail: 'yes' } })).toEqual({
      ok: false,
      field: 'HasOptedOutOfEmail',
      reason: 'HasOptedOutOfEmail: invert expects yes/no (true or false), got "yes"',
    });
    const flag = plan(yaml`
      rules:
        - crm: EmailOptIn
          s360: authorizations[code=EMAIL].value
          direction: inbound
    `);
    expect(flag.mapInbound({ entity: 'person', fields: { EmailOptIn: 'true' } })).toEqual({
      ok: false,
      field: 'EmailOptIn',
      reason: 'EmailOptIn: authorizations[code=EMAIL].value expects true or false, got "true"',
    });
  });

  it('leaves the base untouched when a record is refused half-way', () => {
    const base = contact();
    const copy = structuredClone(base);
    const result = mapping.mapInbound(
      { entity: 'person', fields: { FirstName: 'Anna', HasOptedOutOfEmail: 1 } },
      base,
    );
    expect(result.ok).toBe(false);
    expect(base).toEqual(copy);
  });
});

describe('load-time errors', () => {
  it('refuses constant and default in a rule for both directions, naming the rule', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: LeadSource
            s360: contactNumber
            transforms:
              - constant: SecuTix S-360
          - crm: Language__c
            s360: general.language
            direction: both
            transforms:
              - default: de
      `),
    ).toEqual([
      'line 2, rules[0] (LeadSource <- contactNumber): declared for both directions but not invertible: ' +
        'constant "SecuTix S-360" cannot be read back; declare direction: outbound (or inbound)',
      'line 6, rules[1] (Language__c <- general.language): declared for both directions but not invertible: ' +
        'default "de" cannot be told apart from a real "de" when read back; declare direction: outbound (or inbound)',
    ]);
  });

  it('accepts constant and default in a one-way rule', () => {
    const mapping = plan(yaml`
      rules:
        - crm: LeadSource
          s360: contactNumber
          direction: outbound
          transforms:
            - constant: SecuTix S-360
        - crm: Language__c
          s360: general.language
          direction: outbound
          transforms:
            - default: de
    `);
    expect(mapping.mapOutbound(contact())).toMatchObject({
      ok: true,
      record: { fields: { LeadSource: 'SecuTix S-360', Language__c: 'de' } },
    });
  });

  it('refuses a value table that cannot be read back in a rule for both directions', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: Salutation
            s360: general.title
            transforms:
              - valueTable:
                  values: { MISS: Ms., MRS: Ms. }
      `),
    ).toEqual([
      'line 2, rules[0] (Salutation <- general.title): declared for both directions but not invertible: ' +
        'the valueTable cannot be read back: MISS and MRS both map to "Ms."; declare direction: outbound (or inbound)',
    ]);
  });

  it('refuses a value table with keys that are not S-360 values of the attribute', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: Salutation
            s360: general.title
            transforms:
              - trim
              - valueTable:
                  values: { MR: Mr., DR: Dr. }
      `),
    ).toEqual([
      'line 2, rules[0].transforms[1]: valueTable: "DR" is not an S-360 value of this attribute ' +
        '(expected one of MISS, MRS, MR, MR_AND_MRS, UNDEFINED, LADIES, GENTLEMEN)',
    ]);
  });

  it('refuses two rules writing the same CRM field of the same entity', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: Phone
            s360: comMeans.phone
            entities: [person, account]
          - crm: Phone
            s360: comMeans.mobile
            entities: [person, relay]
      `),
    ).toEqual([
      'line 5, rules[1] (Phone <- comMeans.mobile): Phone (person) is already written by rules[0] (Phone <- comMeans.phone)',
    ]);
  });

  it('reports a clash once, with every entity it concerns', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: Phone
            s360: comMeans.phone
          - crm: Phone
            s360: comMeans.mobile
            direction: outbound
      `),
    ).toEqual([
      'line 4, rules[1] (Phone <- comMeans.mobile): Phone (person, account, relay) is already written by ' +
        'rules[0] (Phone <- comMeans.phone)',
    ]);
  });

  it('refuses a value table whose defaults bring an S-360 value back as another one', () => {
    const issues = issuesOf(yaml`
      rules:
        - crm: Salutation
          s360: general.title
          transforms:
            - valueTable:
                values: { MR: Mr., MRS: Mrs. }
                defaultCrm: Other
                defaultS360: UNDEFINED
    `);
    expect(issues).toEqual([
      expect.stringContaining(
        'an S-360 value outside the table (MISS, MR_AND_MRS, UNDEFINED, LADIES, GENTLEMEN) goes out as "Other" ' +
          'and comes back as "UNDEFINED": cover every value, or use defaultS360: skip',
      ),
    ]);
    // With defaultS360: skip, an unknown value leaves S-360 as it is: that reads back.
    expect(() =>
      plan(yaml`
        rules:
          - crm: Salutation
            s360: general.title
            transforms:
              - valueTable:
                  values: { MR: Mr., MRS: Mrs. }
                  defaultCrm: Other
      `),
    ).not.toThrow();
  });

  it('refuses upper and lower together in a rule for both directions', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: MailingCountryCode
            s360: addresses[main].country
            transforms: [lower, upper]
      `),
    ).toEqual([
      'line 2, rules[0] (MailingCountryCode <- addresses[main].country): declared for both directions but not ' +
        'invertible: upper and lower together cannot read back what they sent; keep one of them',
    ]);
  });

  it('lets rules share a CRM field for different entities or different directions', () => {
    const mapping = plan(yaml`
      rules:
        - crm: Phone
          s360: comMeans.phone
          entities: [person]
        - crm: Phone
          s360: comMeans.mobile
          entities: [account]
        - crm: Email
          s360: comMeans.email
          direction: outbound
        - crm: Email
          s360: comMeans.mobile
          direction: inbound
          entities: [person]
    `);
    expect(mapping.mapOutbound(structure())).toMatchObject({
      ok: true,
      record: { fields: { Phone: null, Email: 'zoe@example.ch' } },
    });
  });

  it('refuses two inbound rules writing the same S-360 attribute', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: FirstName
            s360: general.firstName
          - crm: GivenName__c
            s360: general.firstName
            direction: inbound
            entities: [relay]
          - crm: Nickname__c
            s360: general.firstName
            direction: outbound
      `),
    ).toEqual([
      'line 4, rules[1] (GivenName__c <- general.firstName): general.firstName (relay) is already written by ' +
        'rules[0] (FirstName <- general.firstName)',
    ]);
  });

  it('refuses a list of paths without a separator and a separator without a list', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: Street
            s360:
              - addresses[main].addressLine1
              - addresses[main].addressLine2
          - crm: City
            s360: addresses[main].town
            separator: ", "
      `),
    ).toEqual([
      'line 2, rules[0].separator: several S-360 paths are joined: give a separator, e.g. "\\n"',
      'line 8, rules[1].separator: a separator joins several S-360 paths: give s360 as a list',
    ]);
  });

  it('refuses an unknown transform, listing the known ones', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: FirstName
            s360: general.firstName
            transforms: [trim, reverse]
          - crm: LastName
            s360: general.lastName
            transforms:
              - replace: { from: a, to: b }
      `),
    ).toEqual([
      'line 4, rules[0].transforms[1]: expected trim, upper, lower, invert, or an object: valueTable, date, constant or default',
      'line 8, rules[1].transforms[0]: expected trim, upper, lower, invert, or an object: valueTable, date, constant or default',
    ]);
  });

  it('refuses unknown keys at every level', () => {
    expect(
      issuesOf(yaml`
        version: 1
        colour: red
        rules:
          - crm: FirstName
            s360: general.firstName
            max: 40
          - crm: Salutation
            s360: general.title
            transforms:
              - valueTable:
                  values: { MR: Mr. }
                  fallback: Mr.
      `),
    ).toEqual([
      'line 4, rules[0]: unknown key "max"',
      'line 11, rules[1].transforms[0].valueTable: unknown key "fallback"',
      'line 1, (root): unknown key "colour"',
    ]);
  });

  it('refuses a time zone that does not exist', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: Birthdate
            s360: general.birthDate
            transforms:
              - date: { timeZone: Europe/Geneva }
      `),
    ).toEqual([
      'line 5, rules[0].transforms[0].date.timeZone: expected an IANA time zone such as Europe/Zurich',
    ]);
  });

  it('refuses an unknown S-360 path, pointing at the path in a list', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: City
            s360: addresses[main].city
          - crm: Street
            s360: ['addresses[main].addressLine1', general]
            separator: ", "
      `),
    ).toEqual([
      'line 2, rules[0].s360: addresses[main] has no attribute "city" ' +
        '(known: addressLine1, addressLine2, addressLine3, zipCode, town, country, isMain)',
      'line 4, rules[1].s360[1]: general is a group of attributes: ' +
        'name one of them (title, firstName, lastName, organizationName, birthDate, language)',
    ]);
  });

  it('refuses onTooLong: truncate on an inbound rule', () => {
    expect(
      issuesOf(yaml`
        rules:
          - crm: FirstName
            s360: general.firstName
            direction: inbound
            maxLength: 40
            onTooLong: truncate
      `),
    ).toEqual([
      'line 2, rules[0] (FirstName <- general.firstName): onTooLong applies to values sent to the CRM; ' +
        'an inbound rule does not send any',
    ]);
  });

  it('reports every problem of the file together, not only the first', () => {
    const issues = issuesOf(yaml`
      rules:
        - crm: LeadSource
          s360: contactNumber
          transforms:
            - constant: S-360
        - crm: City
          s360: addresses[main].city
        - crm: Phone
          s360: comMeans.phone
        - crm: Phone
          s360: comMeans.mobile
          entities: [relay]
        - crm: Salutation
          s360: general.title
          transforms:
            - valueTable: { values: { DR: Dr. } }
    `);
    expect(issues).toEqual([
      expect.stringMatching(
        /^line 2, rules\[0\] \(LeadSource <- contactNumber\): declared for both directions/,
      ),
      expect.stringMatching(/^line 6, rules\[1\]\.s360: addresses\[main\] has no attribute "city"/),
      expect.stringMatching(/^line 13, rules\[4\]\.transforms\[0\]: valueTable: "DR" is not an S-360 value/),
      expect.stringMatching(
        /^line 10, rules\[3\] \(Phone <- comMeans.mobile\): Phone \(relay\) is already written/,
      ),
    ]);

    const schemaIssues = issuesOf(yaml`
      version: 2
      personObject: Person
      rules:
        - crm: First Name
          s360: general.firstName
        - s360: ''
          direction: sideways
    `);
    expect(schemaIssues).toEqual([
      'line 1, version: expected version: 1',
      expect.stringMatching(/^line 2, personObject: /),
      'line 4, rules[0].crm: expected a CRM field name: letters, digits and underscores',
      expect.stringMatching(/^line 6, rules\[1\]\.crm: /),
      'line 6, rules[1].s360: expected an S-360 attribute path such as general.firstName',
      expect.stringMatching(/^line 7, rules\[1\]\.direction: /),
    ]);
  });

  it('names the source in the error message, one issue a line', () => {
    let error: unknown;
    try {
      parseMapping('rules: []\n', 'my-mapping.yaml');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MappingConfigError);
    expect((error as MappingConfigError).source).toBe('my-mapping.yaml');
    expect((error as Error).message).toBe(
      'Invalid mapping (my-mapping.yaml):\n  - line 1, rules: expected at least one rule',
    );
  });

  it('reports the issues of a configuration compiled directly, without lines', () => {
    const config = mappingConfigSchema.parse({
      rules: [
        { crm: 'A', s360: 'general.firstName', transforms: [{ constant: 'x' }] },
        { crm: 'B', s360: 'general.nickname' },
      ],
    });
    expect(() => compileMapping(config, 'inline')).toThrow(
      new MappingConfigError('inline', [
        'rules[0] (A <- general.firstName): declared for both directions but not invertible: constant "x" cannot be read back; declare direction: outbound (or inbound)',
        'rules[1].s360: general has no attribute "nickname" (known: title, firstName, lastName, organizationName, birthDate, language)',
      ]),
    );
  });
});
