import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { s360ContactSchema } from '../../../src/adapters/s360/s360-contact';
import { MappingConfigError } from '../../../src/mapping/compile-mapping';
import { defaultMappingFile, loadMapping, parseMapping } from '../../../src/mapping/load-mapping';
import { mappingConfigSchema } from '../../../src/mapping/mapping-config-schema';

function refusal(run: () => unknown): MappingConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(MappingConfigError);
    return err as MappingConfigError;
  }
  throw new Error('expected the mapping to be refused');
}

let folder: string;
beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'crm-sync-mapping-'));
});
afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(folder, name);
  writeFileSync(path, text);
  return path;
}

const person = s360ContactSchema.parse({
  contactNumber: '000123',
  contactType: 'INDIVIDUAL',
  role: 'PUBLIC',
  general: { firstName: ' Zoë ', lastName: 'Müller' },
  lastModificationDate: '2024-05-01T10:00:00.000Z',
});

describe('parseMapping: YAML', () => {
  it('compiles a valid mapping into a plan', () => {
    const plan = parseMapping(
      ['rules:', '  - crm: FirstName', '    s360: general.firstName', '    transforms: [trim]', ''].join(
        '\n',
      ),
      'test.yaml',
    );
    expect(plan.rules.map((rule) => rule.label)).toEqual(['rules[0] (FirstName <- general.firstName)']);
    expect(plan.mapOutbound(person)).toMatchObject({ ok: true, record: { fields: { FirstName: 'Zoë' } } });
  });

  it.each([
    [
      'a line indented too little',
      [
        'rules:',
        '  - crm: FirstName',
        '    s360: general.firstName',
        '  - crm: LastName',
        '   s360: general.lastName',
      ],
      'line 5: not valid YAML: Sequence item without - indicator',
    ],
    [
      'a key given twice',
      ['rules:', '  - crm: FirstName', '    s360: general.firstName', '    crm: GivenName'],
      'line 4: not valid YAML: Map keys must be unique',
    ],
    [
      'a tab',
      ['rules:', '  - crm: FirstName', '\ts360: general.firstName'],
      'line 3: not valid YAML: Tabs are not allowed as indentation',
    ],
  ])('reports a YAML syntax error with its line: %s', (_case, lines, issue) => {
    const error = refusal(() => parseMapping(lines.join('\n'), 'test.yaml'));
    expect(error.issues).toEqual([issue]);
    expect(error.message).toBe(`Invalid mapping (test.yaml):\n  - ${issue}`);
  });

  it('prefixes validation issues with their line and path in the file', () => {
    const text = [
      'version: 1',
      'rules:',
      '  - crm: FirstName',
      '    s360: general.firstName',
      '  - crm: Last Name',
      '    s360: general.lastName',
      '    direction: sideways',
      '    maxLength: 0',
      '    entities: []',
      '',
    ].join('\n');
    expect(refusal(() => parseMapping(text, 'test.yaml')).issues).toEqual([
      'line 5, rules[1].crm: expected a CRM field name: letters, digits and underscores',
      expect.stringMatching(/^line 7, rules\[1\]\.direction: .*"outbound"\|"inbound"\|"both"/),
      expect.stringMatching(/^line 9, rules\[1\]\.entities: /),
      expect.stringMatching(/^line 8, rules\[1\]\.maxLength: /),
    ]);
  });

  it('prefixes engine issues with the line of their rule', () => {
    const text = [
      'rules:',
      '  - crm: FirstName',
      '    s360: general.firstName',
      '',
      '  - crm: Nickname',
      '    s360: general.nickname',
    ].join('\n');
    expect(refusal(() => parseMapping(text, 'test.yaml')).issues).toEqual([
      'line 5, rules[1].s360: general has no attribute "nickname" ' +
        '(known: title, firstName, lastName, organizationName, birthDate, language)',
    ]);
  });

  it('refuses an empty file and a file that is not a mapping', () => {
    expect(refusal(() => parseMapping('', 'empty.yaml')).issues).toEqual([
      expect.stringMatching(/^rules: .*expected array/),
    ]);
    expect(refusal(() => parseMapping('# only a comment\n', 'empty.yaml')).issues).toEqual([
      expect.stringMatching(/^rules: /),
    ]);
    expect(refusal(() => parseMapping('- crm: FirstName\n', 'list.yaml')).issues).toEqual([
      expect.stringMatching(/^line 1, \(root\): .*expected object/),
    ]);
  });
});

describe('parseMapping: JSON', () => {
  it('compiles a JSON mapping', () => {
    const text = JSON.stringify({
      personObject: 'PersonAccount',
      rules: [{ crm: 'FirstName', s360: 'general.firstName', transforms: ['trim'], maxLength: 40 }],
    });
    const plan = parseMapping(text, 'test.json', 'json');
    expect(plan.objectOf('person')).toBe('PersonAccount');
    expect(plan.mapOutbound(person)).toMatchObject({
      ok: true,
      record: { object: 'PersonAccount', fields: { FirstName: 'Zoë' } },
    });
  });

  it('refuses text that is not JSON', () => {
    expect(refusal(() => parseMapping('{"rules": [', 'test.json', 'json')).issues).toEqual([
      expect.stringMatching(/^not valid JSON: /),
    ]);
  });

  it('reports issues with their path, without lines', () => {
    const text = JSON.stringify({ rules: [{ crm: 'First Name', s360: 'general.firstName', colour: 'red' }] });
    expect(refusal(() => parseMapping(text, 'test.json', 'json')).issues).toEqual([
      'rules[0].crm: expected a CRM field name: letters, digits and underscores',
      'rules[0]: unknown key "colour"',
    ]);
    const engine = JSON.stringify({ rules: [{ crm: 'A', s360: 'general.x' }] });
    expect(refusal(() => parseMapping(engine, 'test.json', 'json')).issues).toEqual([
      expect.stringMatching(/^rules\[0\]\.s360: general has no attribute "x"/),
    ]);
  });
});

describe('loadMapping', () => {
  it('loads mappings/default.yaml without arguments', () => {
    expect(defaultMappingFile).toBe(resolve(__dirname, '..', '..', '..', 'mappings', 'default.yaml'));
    const plan = loadMapping();
    const expected = mappingConfigSchema.parse(parseYaml(readFileSync(defaultMappingFile, 'utf8')));
    expect(plan.config).toEqual(expected);
    expect(plan.rules.map((rule) => rule.crm)).toContain('MailingStreet');
    expect(plan.objectOf('account')).toBe('Account');
  });

  it('reads YAML files, and JSON files by their extension', () => {
    const yamlPlan = loadMapping(file('mine.yml', 'rules:\n  - crm: Phone\n    s360: comMeans.phone\n'));
    expect(yamlPlan.rules.map((rule) => rule.label)).toEqual(['rules[0] (Phone <- comMeans.phone)']);
    const jsonPlan = loadMapping(
      file('mine.json', '{"rules": [{"crm": "Phone", "s360": "comMeans.mobile"}]}'),
    );
    expect(jsonPlan.rules.map((rule) => rule.label)).toEqual(['rules[0] (Phone <- comMeans.mobile)']);
  });

  it('names the file in its errors', () => {
    const path = file('broken.yaml', 'rules:\n  - crm: Phone\n    s360: comMeans.fax\n');
    const error = refusal(() => loadMapping(path));
    expect(error.source).toBe(path);
    expect(error.message).toMatch(
      /^Invalid mapping \(.*broken\.yaml\):\n {2}- line 2, rules\[0\]\.s360: comMeans has no/,
    );
  });

  it('reports a missing file', () => {
    const path = join(folder, 'missing.yaml');
    const error = refusal(() => loadMapping(path));
    expect(error.source).toBe(path);
    expect(error.issues).toEqual([`cannot read the file: ENOENT: no such file or directory, open '${path}'`]);
  });
});
