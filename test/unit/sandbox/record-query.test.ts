import { matchesRecordQuery, parseRecordQuery, RecordQueryError } from '../../../src/sandbox/record-query';

describe("the CRM sandbox's record query", () => {
  const record = {
    entity: 'person',
    fields: { Renewal__c: true, Season__c: '2026-2027', Seats__c: 2, LastName: "l'Odéon", Email: null },
  };
  const matches = (query: string): boolean => matchesRecordQuery(parseRecordQuery(query), record);

  it('matches every comparison of a conjunction, with the values of each type', () => {
    expect(matches("Renewal__c = true AND Season__c = '2026-2027'")).toBe(true);
    expect(matches("Renewal__c = true and Season__c = '2025-2026'")).toBe(false);
    expect(matches('Seats__c = 2 AND Email = null AND Missing__c = null')).toBe(true);
    expect(matches("LastName = 'l''Odéon'")).toBe(true);
    expect(matches("Season__c != '2025-2026' AND Seats__c != 3")).toBe(true);
    expect(matches("entity = 'person'")).toBe(true);
    expect(matches("entity = 'account'")).toBe(false);
    expect(matches('')).toBe(true);
  });

  it('names what it expected and where, for a query it cannot read', () => {
    const problem = (query: string): string => {
      try {
        parseRecordQuery(query);
      } catch (err) {
        if (err instanceof RecordQueryError) return err.message;
        throw err;
      }
      throw new Error(`"${query}" was read`);
    };
    expect(problem('Renewal__c true')).toBe('query: expected = or != at character 12, found "true"');
    expect(problem('Renewal__c = ')).toBe(
      "query: expected a value ('text', a number, true, false or null) at character 14",
    );
    expect(problem("Renewal__c = true OR Season__c = 'x'")).toBe(
      'query: expected AND or the end of the query at character 19, found "OR Season__c = \'x\'"',
    );
    expect(problem("= 'x'")).toBe('query: expected a field name at character 1, found "= \'x\'"');
  });
});
