import { z } from 'zod';
import { s360ContactSchema, type S360Contact } from '../../../src/adapters/s360/s360-contact';
import { compileS360Path, S360PathError } from '../../../src/mapping/s360-paths';

function contact(overrides: Partial<z.input<typeof s360ContactSchema>> = {}): S360Contact {
  return s360ContactSchema.parse({
    contactNumber: '000123',
    contactType: 'INDIVIDUAL',
    role: 'PUBLIC',
    general: { title: 'MRS', firstName: 'Zoë', lastName: 'Müller' },
    comMeans: { email: 'zoe@example.ch' },
    addresses: [
      { addressLine1: 'Rue A 1', town: 'Lyon', country: 'FR' },
      { addressLine1: 'Chemin B 2', town: 'Genève', country: 'CH', isMain: true },
    ],
    authorizations: [
      { code: 'SMS', value: true },
      { code: 'EMAIL', value: false },
    ],
    criteria: [{ code: 'SEGMENT', value: 'gold' }],
    lastModificationDate: '2024-05-01T10:00:00.000Z',
    ...overrides,
  });
}

function pathError(text: string): string {
  try {
    compileS360Path(text);
  } catch (err) {
    expect(err).toBeInstanceOf(S360PathError);
    return (err as Error).message;
  }
  throw new Error(`expected ${text} to be refused`);
}

describe('compileS360Path: reading', () => {
  it('reads plain attributes at the top and in a group, keeping false and leading zeros', () => {
    const input = contact({ active: false });
    expect(compileS360Path('contactNumber').get(input)).toBe('000123');
    expect(compileS360Path('general.firstName').get(input)).toBe('Zoë');
    expect(compileS360Path('comMeans.email').get(input)).toBe('zoe@example.ch');
    expect(compileS360Path('active').get(input)).toBe(false);
  });

  it('reads [main] from the element flagged isMain, else from the first', () => {
    const town = compileS360Path('addresses[main].town');
    expect(town.get(contact())).toBe('Genève');
    expect(town.get(contact({ addresses: [{ town: 'Sion' }, { town: 'Sierre', isMain: false }] }))).toBe(
      'Sion',
    );
  });

  it('reads [n] by position from 0', () => {
    expect(compileS360Path('addresses[0].town').get(contact())).toBe('Lyon');
    expect(compileS360Path('addresses[1].town').get(contact())).toBe('Genève');
    expect(compileS360Path('addresses[2].town').get(contact())).toBeNull();
  });

  it('reads [field=value] from the first element whose field has that value', () => {
    const email = compileS360Path('authorizations[code=EMAIL].value');
    expect(email.get(contact())).toBe(false);
    expect(compileS360Path('authorizations[code=SMS].value').get(contact())).toBe(true);
    expect(compileS360Path('criteria[code=SEGMENT].value').get(contact())).toBe('gold');
    expect(compileS360Path('authorizations[ code = EMAIL ].value').get(contact())).toBe(false);
  });

  it('gives null when anything on the way is absent', () => {
    const bare = contact({ addresses: [], authorizations: [], criteria: [], comMeans: {} });
    expect(compileS360Path('addresses[main].town').get(bare)).toBeNull();
    expect(compileS360Path('addresses[0].town').get(bare)).toBeNull();
    expect(compileS360Path('authorizations[code=EMAIL].value').get(bare)).toBeNull();
    expect(compileS360Path('comMeans.phone').get(bare)).toBeNull();
    expect(compileS360Path('general.birthDate').get(bare)).toBeNull();
    expect(compileS360Path('addresses[main].zipCode').get(contact())).toBeNull();
    expect(compileS360Path('authorizations[code=POST].value').get(contact())).toBeNull();
    expect(compileS360Path('general.firstName').get({})).toBeNull();
    expect(compileS360Path('general.firstName').get(null)).toBeNull();
    expect(compileS360Path('addresses[main].town').get({ addresses: 'not a list' })).toBeNull();
  });

  it('reports the kind of value the path leads to', () => {
    expect(compileS360Path('general.firstName').leaf).toEqual({ kind: 'string' });
    expect(compileS360Path('authorizations[code=EMAIL].value').leaf).toEqual({ kind: 'boolean' });
    expect(compileS360Path('addresses[main].isMain').leaf).toEqual({ kind: 'boolean' });
    expect(compileS360Path('general.title').leaf).toEqual({
      kind: 'enum',
      values: ['MISS', 'MRS', 'MR', 'MR_AND_MRS', 'UNDEFINED', 'LADIES', 'GENTLEMEN'],
    });
    expect(compileS360Path('general.firstName').text).toBe('general.firstName');
  });
});

describe('compileS360Path: writing', () => {
  it('writes a plain attribute, creating the group when missing', () => {
    const target: Record<string, unknown> = {};
    compileS360Path('general.firstName').set(target, 'Zoë');
    compileS360Path('general.lastName').set(target, 'Müller');
    compileS360Path('contactNumber').set(target, '0042');
    expect(target).toEqual({ general: { firstName: 'Zoë', lastName: 'Müller' }, contactNumber: '0042' });
  });

  it('writes [main] into the main element, else the first, else a new {isMain: true}', () => {
    const withMain = structuredClone(contact()) as Record<string, unknown>;
    compileS360Path('addresses[main].town').set(withMain, 'Carouge');
    expect(withMain.addresses).toMatchObject([{ town: 'Lyon' }, { town: 'Carouge', isMain: true }]);

    const withoutMain: Record<string, unknown> = { addresses: [{ town: 'Sion' }, { town: 'Sierre' }] };
    compileS360Path('addresses[main].town').set(withoutMain, 'Brig');
    expect(withoutMain.addresses).toEqual([{ town: 'Brig' }, { town: 'Sierre' }]);

    const empty: Record<string, unknown> = {};
    const town = compileS360Path('addresses[main].town');
    town.set(empty, 'Nyon');
    compileS360Path('addresses[main].zipCode').set(empty, '1260');
    expect(empty).toEqual({ addresses: [{ isMain: true, town: 'Nyon', zipCode: '1260' }] });
    expect(town.get(empty)).toBe('Nyon');
  });

  it('writes [n] at its position, padding the list with empty elements', () => {
    const target: Record<string, unknown> = { addresses: [{ town: 'Sion' }] };
    compileS360Path('addresses[2].town').set(target, 'Brig');
    expect(target.addresses).toEqual([{ town: 'Sion' }, {}, { town: 'Brig' }]);
    compileS360Path('addresses[0].town').set(target, 'Sierre');
    expect(target.addresses).toEqual([{ town: 'Sierre' }, {}, { town: 'Brig' }]);
  });

  it('writes [field=value] into the matching element, or adds one carrying its key', () => {
    const target: Record<string, unknown> = {
      authorizations: [
        { code: 'SMS', value: true },
        { code: 'EMAIL', value: false },
      ],
    };
    compileS360Path('authorizations[code=EMAIL].value').set(target, true);
    compileS360Path('authorizations[code=POST].value').set(target, false);
    expect(target.authorizations).toEqual([
      { code: 'SMS', value: true },
      { code: 'EMAIL', value: true },
      { code: 'POST', value: false },
    ]);
  });

  it('writes null over an existing value', () => {
    const target = structuredClone(contact()) as Record<string, unknown>;
    compileS360Path('general.firstName').set(target, null);
    compileS360Path('addresses[main].town').set(target, null);
    expect(compileS360Path('general.firstName').get(target)).toBeNull();
    expect((target.addresses as unknown[])[1]).toMatchObject({ town: null, addressLine1: 'Chemin B 2' });
  });

  it('creates nothing to write null where the element or group is absent', () => {
    const target: Record<string, unknown> = { authorizations: [{ code: 'SMS', value: true }] };
    compileS360Path('authorizations[code=EMAIL].value').set(target, null);
    compileS360Path('addresses[main].town').set(target, null);
    compileS360Path('addresses[1].town').set(target, null);
    compileS360Path('comMeans.email').set(target, null);
    expect(target).toEqual({ authorizations: [{ code: 'SMS', value: true }] });
    expect(s360ContactSchema.shape.authorizations.safeParse(target.authorizations).success).toBe(true);
  });
});

describe('compileS360Path: refused paths', () => {
  it('refuses an empty path', () => {
    expect(pathError('')).toBe('expected an attribute path such as general.firstName');
    expect(pathError('   ')).toBe('expected an attribute path such as general.firstName');
  });

  it('names an unknown attribute and lists the known ones', () => {
    expect(pathError('general.firstname')).toBe(
      'general has no attribute "firstname" (known: title, firstName, lastName, organizationName, birthDate, language)',
    );
    expect(pathError('email')).toBe(
      'the contact has no attribute "email" (known: contactNumber, contactType, role, structureContactNumber, ' +
        'general, comMeans, addresses, authorizations, criteria, active, lastModificationDate)',
    );
    expect(pathError('addresses[main].city')).toBe(
      'addresses[main] has no attribute "city" (known: addressLine1, addressLine2, addressLine3, zipCode, town, country, isMain)',
    );
  });

  it('refuses a name under a plain value', () => {
    expect(pathError('general.firstName.initial')).toBe(
      'general.firstName is a plain value: nothing is under it',
    );
  });

  it('refuses a selector on something that is not a list', () => {
    expect(pathError('general[main].firstName')).toBe('general is not a list: [main] does not apply');
    expect(pathError('comMeans.email[0].x')).toBe('comMeans.email is not a list: [0] does not apply');
  });

  it('refuses a selector it cannot read', () => {
    expect(pathError('addresses[first].town')).toBe(
      '"addresses[first]": expected [main], [n] or [field=value] as selector, got [first]',
    );
    expect(pathError('authorizations[code=].value')).toBe(
      '"authorizations[code=]": expected [main], [n] or [field=value] as selector, got [code=]',
    );
    expect(pathError('authorizations[=EMAIL].value')).toMatch(/got \[=EMAIL\]$/);
    expect(pathError('addresses[-1].town')).toMatch(/got \[-1\]$/);
  });

  it('refuses a segment that is not a name', () => {
    expect(pathError('general..firstName')).toBe(
      '"" is not a path segment: expected a name, optionally followed by [main], [n] or [field=value]',
    );
    expect(pathError('general.first-name')).toMatch(/^"first-name" is not a path segment/);
    expect(pathError('addresses[main]x.town')).toMatch(/^"addresses\[main\]x" is not a path segment/);
  });

  it('refuses a path ending on a list, an element or a group', () => {
    expect(pathError('addresses')).toBe(
      'addresses is a list: select an element with [main], [n] or [field=value]',
    );
    expect(pathError('addresses[main]')).toBe(
      'addresses[main] is an element of a list: name one of its fields',
    );
    expect(pathError('general')).toBe(
      'general is a group of attributes: name one of them (title, firstName, lastName, organizationName, birthDate, language)',
    );
    expect(pathError('comMeans')).toBe(
      'comMeans is a group of attributes: name one of them (email, phone, mobile)',
    );
  });

  it('refuses a filter on a field the elements do not have', () => {
    expect(pathError('authorizations[kind=EMAIL].value')).toBe(
      'authorizations elements have no "kind" to filter on (known: code, value)',
    );
  });

  it('refuses [main] on a list whose elements have no isMain', () => {
    expect(pathError('authorizations[main].value')).toBe(
      'authorizations has no main element (its elements have no isMain)',
    );
    expect(pathError('criteria[main].value')).toBe(
      'criteria has no main element (its elements have no isMain)',
    );
  });

  it('refuses a selector on a list of plain values', () => {
    const model = z.object({ tags: z.array(z.string()) });
    expect(() => compileS360Path('tags[0].x', model)).toThrow(
      new S360PathError('tags is a list of plain values: select a field of it'),
    );
  });
});
