/**
 * The yardstick of the import benchmark: the HTTP calls of an initial import made by a plain script, with no
 * Temporal and no sync store. It uses the project's S-360 client (same budget limiter), mapping and webhook CRM
 * adapter: lists the contacts with `searchContact` (structures, then individuals, as the import does), then
 * `concurrency` lanes take pages of `pageSize` contacts; within a page, `getContactData` one contact after the
 * other and a signed push every `payloadSize` contacts, accounts first.
 */
import { WebhookCrmAdapter } from '../src/adapters/crm/webhook-crm-adapter';
import { SlidingWindowLimiter } from '../src/adapters/http/sliding-window-limiter';
import { S360Client, type S360SearchCriteria } from '../src/adapters/s360/s360-client';
import type { CrmContactRecord } from '../src/mapping/crm-contact-record';
import { loadMapping } from '../src/mapping/load-mapping';

export interface PlainImportOptions {
  s360: {
    baseUrl: string;
    institution: string;
    operator: string;
    partner: string;
    jwtSecret: string;
    callsPerMinute: number;
  };
  crm: { url: string; signingSecret: string };
  mappingFile: string;
  pageSize: number;
  payloadSize: number;
  concurrency: number;
  searchPageSize: number;
}

export interface PlainImportResult {
  contacts: number;
  imported: number;
  rejected: number;
  parked: number;
  pushes: number;
  seconds: number;
}

const entityOrder: Record<CrmContactRecord['entity'], number> = { account: 0, person: 1, relay: 2 };

export async function plainImport(options: PlainImportOptions): Promise<PlainImportResult> {
  const s360 = new S360Client({
    ...options.s360,
    limiter: new SlidingWindowLimiter({ limit: options.s360.callsPerMinute, windowMs: 60_000 }),
  });
  const crm = new WebhookCrmAdapter({
    target: 'bench',
    url: options.crm.url,
    signingSecret: options.crm.signingSecret,
  });
  const mapping = loadMapping(options.mappingFile);
  const result: PlainImportResult = {
    contacts: 0,
    imported: 0,
    rejected: 0,
    parked: 0,
    pushes: 0,
    seconds: 0,
  };
  const started = performance.now();

  const list = async (criteria: S360SearchCriteria): Promise<string[]> => {
    const contactNumbers: string[] = [];
    for (;;) {
      const page = await s360.searchContact(criteria, {
        offset: contactNumbers.length,
        size: options.searchPageSize,
      });
      contactNumbers.push(...page.contactNumbers);
      if (page.contactNumbers.length < options.searchPageSize || contactNumbers.length >= page.total) {
        return contactNumbers;
      }
    }
  };

  const importPage = async (phase: string, page: string[], fromSeq: number): Promise<void> => {
    for (let start = 0; start < page.length; start += options.payloadSize) {
      const records: CrmContactRecord[] = [];
      for (const contactNumber of page.slice(start, start + options.payloadSize)) {
        const mapped = mapping.mapOutbound(await s360.getContactData(contactNumber));
        if (mapped.ok) records.push(mapped.record);
        else result.parked += 1;
      }
      if (records.length === 0) continue;
      records.sort((a, b) => entityOrder[a.entity] - entityOrder[b.entity]);
      const pushed = await crm.pushContacts({ pushId: `plain/${phase}/${fromSeq}/${start}`, records });
      const refused = (pushed.records ?? []).filter((record) => !record.ok).length;
      result.pushes += 1;
      result.rejected += refused;
      result.imported += records.length - refused;
    }
  };

  for (const contactType of ['STRUCTURE', 'INDIVIDUAL'] as const) {
    const contactNumbers = await list({ contactType });
    result.contacts += contactNumbers.length;
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < contactNumbers.length) {
        const fromSeq = next;
        next += options.pageSize;
        await importPage(contactType, contactNumbers.slice(fromSeq, fromSeq + options.pageSize), fromSeq);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, lane));
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
