import { s360ContactSchema, type S360Contact } from '../../../src/adapters/s360/s360-contact';
import { loadMapping } from '../../../src/mapping/load-mapping';

const defaultMapping = loadMapping();
const mapContactToCrmRecord = (contact: S360Contact) => defaultMapping.mapOutbound(contact);

type ContactInput = Parameters<typeof s360ContactSchema.parse>[0];

function contact(
  overrides: Partial<S360Contact> = {},
  general: Partial<S360Contact['general']> = {},
): S360Contact {
  const base: ContactInput = {
    contactNumber: '000123',
    contactType: 'INDIVIDUAL',
    role: 'PUBLIC',
    general: {
      title: 'MRS',
      firstName: 'Zoë',
      lastName: 'Müller-Łukasiewicz',
      birthDate: '1984-02-29',
      language: 'de',
    },
    comMeans: { email: 'zoe@example.ch', phone: '+41 22 000 00 00', mobile: '+41 79 000 00 00' },
    addresses: [
      {
        addressLine1: 'c/o Büro',
        addressLine2: 'Rue du Rhône 1',
        town: 'Lyon',
        zipCode: '69001',
        country: 'FR',
      },
      {
        addressLine1: 'Chemin des Écoliers 3',
        addressLine2: '',
        addressLine3: 'Case postale 12',
        zipCode: '1201',
        town: 'Genève',
        country: 'CH',
        isMain: true,
      },
    ],
    authorizations: [
      { code: 'SMS', value: true },
      { code: 'EMAIL', value: true },
    ],
    lastModificationDate: '2024-05-01T10:00:00.000Z',
  };
  const parsed = s360ContactSchema.parse(base);
  return {
    ...parsed,
    ...overrides,
    general: { ...parsed.general, ...(overrides.general ?? {}), ...general },
  };
}

function mapped(input: S360Contact) {
  const result = mapContactToCrmRecord(input);
  if (!result.ok) throw new Error(`expected a record, got ${result.field}: ${result.reason}`);
  return result.record;
}

function failure(input: S360Contact) {
  const result = mapContactToCrmRecord(input);
  if (result.ok) throw new Error('expected a mapping failure');
  return result;
}

describe('the default mapping, outbound', () => {
  it('maps a person with every field, keeping non-ASCII letters and the leading zeros', () => {
    expect(mapped(contact())).toEqual({
      contactNumber: '000123',
      entity: 'person',
      object: 'Contact',
      sourceModifiedAt: '2024-05-01T10:00:00.000Z',
      fields: {
        Salutation: 'Mrs.',
        FirstName: 'Zoë',
        LastName: 'Müller-Łukasiewicz',
        Birthdate: '1984-02-29',
        Email: 'zoe@example.ch',
        Phone: '+41 22 000 00 00',
        MobilePhone: '+41 79 000 00 00',
        MailingStreet: 'Chemin des Écoliers 3\n\nCase postale 12',
        MailingPostalCode: '1201',
        MailingCity: 'Genève',
        MailingCountryCode: 'CH',
        HasOptedOutOfEmail: false,
        LeadSource: 'SecuTix S-360',
      },
    });
  });

  it('maps a structure to an account named after the organization', () => {
    const record = mapped(
      contact(
        { contactType: 'STRUCTURE', role: null },
        { organizationName: 'Théâtre du Léman', lastName: null },
      ),
    );
    expect(record.entity).toBe('account');
    expect(record.fields.Name).toBe('Théâtre du Léman');
    expect(record.fields).not.toHaveProperty('LastName');
  });

  it('maps a relay to a contact of its structure', () => {
    const record = mapped(contact({ role: 'RELAY', structureContactNumber: '0042' }));
    expect(record.entity).toBe('relay');
    expect(record.accountContactNumber).toBe('0042');
    expect(mapped(contact()).accountContactNumber).toBeUndefined();
  });

  it('sends no salutation for UNDEFINED or a missing title', () => {
    expect(mapped(contact({}, { title: 'UNDEFINED' })).fields.Salutation).toBeNull();
    expect(mapped(contact({}, { title: null })).fields.Salutation).toBeNull();
  });

  it('derives HasOptedOutOfEmail from the EMAIL authorization, null without one', () => {
    expect(
      mapped(contact({ authorizations: [{ code: 'EMAIL', value: false }] })).fields.HasOptedOutOfEmail,
    ).toBe(true);
    expect(
      mapped(contact({ authorizations: [{ code: 'SMS', value: true }] })).fields.HasOptedOutOfEmail,
    ).toBeNull();
  });

  it('sends nulls for a contact with gaps (no e-mail, no address)', () => {
    const record = mapped(contact({ comMeans: {}, addresses: [], authorizations: [] }, { firstName: '  ' }));
    expect(record.fields).toMatchObject({
      FirstName: null,
      Email: null,
      Phone: null,
      MailingStreet: null,
      MailingPostalCode: null,
      MailingCity: null,
      MailingCountryCode: null,
    });
  });

  it('uses the first address when none is flagged main', () => {
    const record = mapped(contact({ addresses: [{ addressLine1: 'Rue A 1', town: 'Sion', isMain: false }] }));
    expect(record.fields.MailingStreet).toBe('Rue A 1');
    expect(record.fields.MailingCity).toBe('Sion');
  });

  it('requires LastName for a person and a relay', () => {
    expect(failure(contact({}, { lastName: null }))).toEqual({
      ok: false,
      field: 'LastName',
      reason: expect.stringContaining('LastName is required for a person') as string,
    });
    expect(failure(contact({ role: 'RELAY' }, { lastName: ' ' })).field).toBe('LastName');
  });

  it('requires Name for an account', () => {
    const result = failure(contact({ contactType: 'STRUCTURE', role: null }, { organizationName: null }));
    expect(result.field).toBe('Name');
    expect(result.reason).toMatch(/Name is required for an account/);
  });

  it('checks the e-mail syntax when there is one', () => {
    const result = failure(contact({ comMeans: { email: 'zoe.example.ch' } }));
    expect(result).toEqual({
      ok: false,
      field: 'Email',
      reason: 'Email "zoe.example.ch" is not an e-mail address',
    });
    expect(failure(contact({ comMeans: { email: 'zoe@example' } })).field).toBe('Email');
    expect(mapped(contact({ comMeans: { email: 'zoë@exämple.ch' } })).fields.Email).toBe('zoë@exämple.ch');
  });

  it('requires a two-letter ISO country, upper-casing it', () => {
    const withCountry = (country: string) =>
      contact({ addresses: [{ addressLine1: 'Rue A 1', country, isMain: true }] });
    expect(mapped(withCountry('ch')).fields.MailingCountryCode).toBe('CH');
    const result = failure(withCountry('CHE'));
    expect(result.field).toBe('MailingCountryCode');
    expect(result.reason).toMatch(/"CHE" is not an ISO 3166-1 alpha-2 country code/);
    expect(failure(withCountry('C1')).field).toBe('MailingCountryCode');
  });

  it('keeps the birth date as a calendar date and refuses other formats', () => {
    expect(mapped(contact({}, { birthDate: '2000-01-01' })).fields.Birthdate).toBe('2000-01-01');
    expect(failure(contact({}, { birthDate: '01.01.2000' })).field).toBe('Birthdate');
  });

  it.each([
    ['LastName', { general: { lastName: 'é'.repeat(81) } }, 'é'.repeat(80)],
    ['FirstName', { general: { firstName: 'a'.repeat(41) } }, 'a'.repeat(40)],
    ['Email', { comMeans: { email: `${'a'.repeat(70)}@example.ch` } }, `${'a'.repeat(69)}@example.ch`],
    ['Phone', { comMeans: { phone: '1'.repeat(41) } }, '1'.repeat(40)],
    ['MailingCity', { addresses: [{ town: 'b'.repeat(41), isMain: true }] }, 'b'.repeat(40)],
  ])('limits the length of %s', (field, tooLong, longest) => {
    const build = (value: object) => {
      const { general, ...rest } = value as { general?: Partial<S360Contact['general']> };
      return contact(rest as Partial<S360Contact>, general);
    };
    const result = failure(build(tooLong));
    expect(result.field).toBe(field);
    expect(result.reason).toMatch(/at most \d+ are allowed/);
    const ok = JSON.parse(
      JSON.stringify(tooLong).replace(/"([^"]{41,})"/, () => JSON.stringify(longest)),
    ) as object;
    expect(mapped(build(ok)).fields[field]).toBe(longest);
  });

  it('limits the whole street to 255 characters', () => {
    const line = 'x'.repeat(100);
    const tooLong = contact({
      addresses: [{ addressLine1: line, addressLine2: line, addressLine3: line, isMain: true }],
    });
    expect(failure(tooLong)).toMatchObject({
      field: 'MailingStreet',
      reason: expect.stringMatching(/302 characters/),
    });
  });

  it('is pure: the contact is left as it was', () => {
    const input = contact();
    const copy = structuredClone(input);
    mapContactToCrmRecord(input);
    expect(input).toEqual(copy);
  });
});
