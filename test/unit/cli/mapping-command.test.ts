import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { s360ContactSchema } from '../../../src/adapters/s360/s360-contact';
import { loadMapping } from '../../../src/mapping/load-mapping';
import { formatContactNumber, generateContacts } from '../../../src/sandbox/s360-contact-generator';
import { startS360Sandbox, type S360Sandbox } from '../../../src/sandbox/s360-sandbox';
import { freePort } from '../../helpers/free-port';
import { runCli } from '../../helpers/run-cli';

const contact = {
  contactNumber: '0000000042',
  contactType: 'INDIVIDUAL',
  role: 'PUBLIC',
  general: { title: 'MR', firstName: ' François ', lastName: 'Müller', birthDate: '1980-02-29' },
  comMeans: { email: 'f.muller@example.ch' },
  addresses: [
    {
      addressLine1: 'Rue du Lac 4',
      addressLine2: 'App. 12',
      zipCode: '1003',
      town: 'Lausanne',
      country: 'ch',
      isMain: true,
    },
  ],
  authorizations: [{ code: 'EMAIL', value: true }],
  lastModificationDate: '2026-01-02T10:00:00.000Z',
};

interface Preview {
  contactNumber: string;
  wouldBeParked: boolean;
  outbound:
    | { ok: true; record: { entity: string; object: string; fields: Record<string, unknown> } }
    | { ok: false; field: string; reason: string };
  inbound: {
    ok: boolean;
    contact: Record<string, unknown>;
    written: string[];
    changes: Array<{ path: string; before: unknown; after: unknown }>;
  } | null;
}

describe('crm-sync mapping', () => {
  let cwd: string;
  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'crm-sync-mapping-'));
  });
  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  const writeJson = (name: string, value: unknown): string => {
    writeFileSync(join(cwd, name), JSON.stringify(value, null, 2));
    return name;
  };

  describe('check', () => {
    it('lists the rules of the default mapping', async () => {
      const result = await runCli(['mapping', 'check'], {}, cwd);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('Mapping is valid');
      expect(result.stdout).toContain('(the default mapping)');
      expect(result.stdout).toContain('person -> Contact, account -> Account, relay -> Contact');
      expect(result.stdout).toMatch(
        /MailingStreet\s+<->\s+addresses\[main\]\.\{addressLine1,addressLine2,addressLine3\}\s+both\s+person,relay\s+join "\\n"\s+string, maxLength 255/,
      );
      expect(result.stdout).toMatch(
        /HasOptedOutOfEmail\s+<->\s+authorizations\[code=EMAIL\]\.value\s+both\s+person,relay\s+invert\s+boolean/,
      );
      expect(result.stdout).toMatch(/LastName .* required/);
      expect(result.stdout).toMatch(/LeadSource\s+<-\s+contactNumber\s+outbound/);
    });

    it('describes every rule with --json', async () => {
      const result = await runCli(['--json', 'mapping', 'check'], {}, cwd);
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout) as {
        valid: boolean;
        isDefault: boolean;
        rules: Array<{ crm: string; s360: string[]; separator?: string; entities: string[] }>;
      };
      expect(summary.valid).toBe(true);
      expect(summary.isDefault).toBe(true);
      expect(summary.rules.map((rule) => rule.crm)).toEqual(loadMapping().rules.map((rule) => rule.crm));
      expect(summary.rules.find((rule) => rule.crm === 'MailingStreet')).toMatchObject({
        s360: [
          'addresses[main].addressLine1',
          'addresses[main].addressLine2',
          'addresses[main].addressLine3',
        ],
        separator: '\n',
        entities: ['person', 'relay'],
      });
    });

    it('checks the mapping file named by the configuration', async () => {
      writeFileSync(
        join(cwd, 'mine.yaml'),
        'personObject: PersonAccount\nrules:\n  - crm: Nickname__c\n    s360: general.firstName\n',
      );
      writeFileSync(join(cwd, 'crm-sync.yaml'), 'mapping:\n  file: mine.yaml\n');
      const result = await runCli(['--config', 'crm-sync.yaml', 'mapping', 'check'], {}, cwd);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Mapping is valid: ${join(cwd, 'mine.yaml')}\n`);
      expect(result.stdout).toContain('person -> PersonAccount');
      expect(result.stdout).toMatch(/Nickname__c\s+<->\s+general\.firstName/);
    });

    it('prints every problem of a broken mapping with its line and path, with exit code 2', async () => {
      writeFileSync(
        join(cwd, 'broken.yaml'),
        [
          'version: 1',
          'rules:',
          '  - crm: FirstName',
          '    s360: general.firstName',
          '  - crm: LastName',
          '    s360: general.lastName',
          '    maxLength: 0',
          '  - crm: Title',
          '    s360: general.title',
          '    direction: sideways',
          '',
        ].join('\n'),
      );
      const result = await runCli(['mapping', 'check', '--file', 'broken.yaml'], {}, cwd);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(`Invalid mapping (${join(cwd, 'broken.yaml')})`);
      expect(result.stderr).toMatch(/line 7, rules\[1\]\.maxLength: .*>=1/);
      expect(result.stderr).toMatch(/line 10, rules\[2\]\.direction: /);

      const json = await runCli(['--json', 'mapping', 'check', '--file', 'broken.yaml'], {}, cwd);
      expect(json.code).toBe(2);
      const report = JSON.parse(json.stdout) as { valid: boolean; issues: string[] };
      expect(report.valid).toBe(false);
      expect(report.issues).toHaveLength(2);
    });

    it('names the rule whose S-360 path does not exist', async () => {
      writeFileSync(join(cwd, 'typo.yaml'), 'rules:\n  - crm: FirstName\n    s360: general.fristName\n');
      const result = await runCli(['mapping', 'check', '-f', 'typo.yaml'], {}, cwd);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/line 2, rules\[0\]\.s360: general has no attribute "fristName"/);
    });
  });

  describe('preview', () => {
    it('maps a contact from a JSON file and back', async () => {
      const file = writeJson('contact.json', contact);
      const result = await runCli(['mapping', 'preview', file], {}, cwd);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`S-360 contact 0000000042 (from ${join(cwd, file)})`);
      expect(result.stdout).toContain('Outbound (S-360 -> CRM): Contact (person)');
      expect(result.stdout).toMatch(/FirstName\s+"François"/);
      expect(result.stdout).toMatch(/MailingStreet\s+"Rue du Lac 4\\nApp\. 12"/);
      expect(result.stdout).toMatch(/MailingCountryCode\s+"CH"/);
      expect(result.stdout).toContain('general.firstName: " François " -> "François"');
      expect(result.stdout).toContain('addresses[0].country: "ch" -> "CH"');
      expect(result.stdout).not.toContain('would be parked');

      const json = await runCli(['--json', 'mapping', 'preview', file], {}, cwd);
      expect(json.code).toBe(0);
      const preview = JSON.parse(json.stdout) as Preview;
      expect(preview.wouldBeParked).toBe(false);
      expect(preview.outbound).toMatchObject({
        ok: true,
        record: {
          entity: 'person',
          object: 'Contact',
          fields: { LastName: 'Müller', HasOptedOutOfEmail: false },
        },
      });
      expect(preview.inbound?.ok).toBe(true);
      expect(preview.inbound?.contact).toMatchObject({
        contactNumber: '0000000042',
        general: { title: 'MR', firstName: 'François', lastName: 'Müller', birthDate: '1980-02-29' },
        addresses: [{ addressLine1: 'Rue du Lac 4', addressLine2: 'App. 12', country: 'CH', isMain: true }],
        authorizations: [{ code: 'EMAIL', value: true }],
      });
      expect(preview.inbound?.changes.map((change) => change.path).sort()).toEqual([
        'addresses[0].country',
        'general.firstName',
      ]);
    });

    it('says the contact would be parked, with the field and the reason, and exits 0', async () => {
      const file = writeJson('no-last-name.json', {
        ...contact,
        general: { ...contact.general, lastName: '  ' },
      });
      const result = await runCli(['mapping', 'preview', file], {}, cwd);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('would be parked');
      expect(result.stdout).toMatch(/field:\s+LastName/);
      expect(result.stdout).toContain('LastName is required for a person (general.lastName is empty)');

      const json = await runCli(['--json', 'mapping', 'preview', file], {}, cwd);
      const preview = JSON.parse(json.stdout) as Preview;
      expect(preview).toMatchObject({
        wouldBeParked: true,
        outbound: { ok: false, field: 'LastName' },
        inbound: null,
      });
    });

    it('uses the mapping given with --file', async () => {
      writeFileSync(
        join(cwd, 'short.yaml'),
        'rules:\n  - crm: LastName\n    s360: general.lastName\n    maxLength: 3\n',
      );
      const file = writeJson('contact.json', contact);
      const result = await runCli(['mapping', 'preview', file, '--file', 'short.yaml'], {}, cwd);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('would be parked');
      expect(result.stdout).toContain('LastName is 6 characters long; at most 3 are allowed');
    });

    it('refuses a file that is not an S-360 contact, naming the fields, with exit code 2', async () => {
      const file = writeJson('bad.json', {
        ...contact,
        contactType: 'PERSON',
        authorizations: [{ code: 'EMAIL', value: 'yes' }],
      });
      const result = await runCli(['mapping', 'preview', file], {}, cwd);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('bad.json is not an S-360 contact');
      expect(result.stderr).toMatch(/contactType: .*INDIVIDUAL/);
      expect(result.stderr).toMatch(/authorizations\[0\]\.value: .*boolean/);

      writeFileSync(join(cwd, 'truncated.json'), '{"contactNumber": "1",');
      const notJson = await runCli(['mapping', 'preview', 'truncated.json'], {}, cwd);
      expect(notJson.code).toBe(2);
      expect(notJson.stderr).toContain('truncated.json is not valid JSON');

      const missing = await runCli(['mapping', 'preview', 'missing.json'], {}, cwd);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('cannot read the contact file missing.json');

      const neither = await runCli(['mapping', 'preview', 'Müller'], {}, cwd);
      expect(neither.code).toBe(2);
      expect(neither.stderr).toContain('"Müller" is neither a contact number');
    });

    it('says clearly when S-360 cannot be reached, with exit code 1', async () => {
      const port = await freePort();
      const result = await runCli(
        ['mapping', 'preview', '0000000001'],
        { CRM_SYNC_S360_BASE_URL: `http://127.0.0.1:${port}` },
        cwd,
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`cannot reach S-360 at http://127.0.0.1:${port}`);
      expect(result.stderr).toContain('ECONNREFUSED');
    });

    describe('by contact number, against the S-360 sandbox', () => {
      const jwtSecret = 'mapping-preview-jwt-secret-0123';
      const seed = 7;
      let sandbox: S360Sandbox;
      let env: NodeJS.ProcessEnv;
      beforeAll(async () => {
        sandbox = await startS360Sandbox({ port: 0, jwtSecret, institution: 'DEMO', callsPerMinute: 0 });
        const response = await fetch(`${sandbox.url}/__sandbox/contacts/generate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ count: 20, seed }),
        });
        expect(response.status).toBe(200);
        env = { CRM_SYNC_S360_BASE_URL: sandbox.url, CRM_SYNC_S360_JWT_SECRET: jwtSecret };
      });
      afterAll(() => sandbox.close());

      it('fetches the contact with the configured client and maps it', async () => {
        const generated = generateContacts(20, seed, '2026-01-01T00:00:00.000Z');
        const index = generated.findIndex((item) => item.role === 'PUBLIC');
        const { structureIndex: _structureIndex, ...person } = generated[index]!;
        const contactNumber = formatContactNumber(index + 1);
        const expected = loadMapping().mapOutbound(s360ContactSchema.parse({ ...person, contactNumber }));
        if (!expected.ok) throw new Error(`expected a record, got ${expected.reason}`);

        const result = await runCli(['--json', 'mapping', 'preview', contactNumber], env, cwd);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        const preview = JSON.parse(result.stdout) as Preview;
        expect(preview.contactNumber).toBe(contactNumber);
        expect(preview.outbound).toMatchObject({ ok: true, record: { fields: expected.record.fields } });
        expect(preview.inbound?.ok).toBe(true);

        const text = await runCli(['mapping', 'preview', contactNumber], env, cwd);
        expect(text.code).toBe(0);
        expect(text.stdout).toContain(`S-360 contact ${contactNumber} (from S-360 ${sandbox.url})`);
        expect(text.stdout).toMatch(new RegExp(`LastName\\s+"${person.general.lastName}"`));
      });

      it('names a contact number S-360 does not know', async () => {
        const result = await runCli(['mapping', 'preview', '0000009999'], env, cwd);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain(`contact 0000009999 was not found in S-360 at ${sandbox.url}`);
      });

      it('points at the credentials when S-360 refuses the token', async () => {
        const result = await runCli(
          ['mapping', 'preview', '0000000001'],
          { ...env, CRM_SYNC_S360_JWT_SECRET: 'another-secret-0123456789' },
          cwd,
        );
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('check the S-360 JWT secret');
      });
    });
  });
});
