import type { CrmQueryRecord } from '../adapters/crm/crm-adapter';
import type { S360ContactUpdate } from '../adapters/s360/s360-client';
import type { MappingPlan } from '../mapping/compile-mapping';

/** The parts of a contact a mass update row from a CRM query may change. */
const updatableSections = ['general', 'comMeans', 'addresses', 'authorizations', 'criteria'] as const;

/**
 * The S-360 update a record selected by a CRM query asks for: its fields mapped back with the inbound rules of the
 * mapping (those of direction `inbound` or `both`), as the inbound sync maps a CRM change; only the fields the
 * record carries. A record that cannot be mapped, or whose fields map to nothing, gets the reason instead.
 */
export function updateFromCrmRecord(
  contactNumber: string,
  record: CrmQueryRecord,
  mapping: Pick<MappingPlan, 'mapInbound'>,
): { update: S360ContactUpdate } | { problem: string } {
  const mapped = mapping.mapInbound({ entity: record.entity, fields: record.fields });
  if (!mapped.ok) return { problem: `${mapped.field}: ${mapped.reason}` };
  const update: S360ContactUpdate = { contactNumber };
  for (const section of updatableSections) {
    if (mapped.contact[section] !== undefined) {
      (update as unknown as Record<string, unknown>)[section] = mapped.contact[section];
    }
  }
  if (Object.keys(update).length === 1) {
    const fields = Object.keys(record.fields);
    return {
      problem: `none of its fields (${fields.length > 0 ? fields.join(', ') : 'none given'}) maps to S-360 inbound in the mapping`,
    };
  }
  return { update };
}
