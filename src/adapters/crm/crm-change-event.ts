import { z } from 'zod';
import { crmRecordKey, type InboundChange } from '../../store/sync-store';
import { contactNumberSchema } from '../s360/s360-contact';

/**
 * What a CRM sends crm-sync when one of its users changes or deletes a contact: a Standard Webhooks signed POST
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`) to `/notifications/crm/<target>`, or an entry of the
 * CRM's change list when crm-sync polls it. The record carries every mapped field as the CRM holds it now.
 */

/** A CRM field value. */
export const crmFieldValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const crmChangedRecordSchema = z
  .object({
    /**
     * The S-360 contact number: the external ID the CRM record is linked by. Absent for a record created in the CRM
     * that S-360 does not hold yet.
     */
    contactNumber: contactNumberSchema.optional(),
    /** The CRM's own ID of the record: required when there is no contact number yet. */
    crmId: z.string().min(1).optional(),
    entity: z.enum(['person', 'account', 'relay']),
    /** The record's fields, CRM field name -> value. */
    fields: z.record(z.string(), crmFieldValueSchema),
    /** When the CRM user changed it (ISO timestamp). */
    modifiedAt: z.iso.datetime({ offset: true }),
  })
  .refine((record) => record.contactNumber !== undefined || record.crmId !== undefined, {
    path: ['contactNumber'],
    message:
      'expected data.record.contactNumber, or data.record.crmId for a record new in the CRM that has no contact number yet',
  });
export type CrmChangedRecord = z.infer<typeof crmChangedRecordSchema>;

export const crmChangeEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('contact.changed'), data: z.object({ record: crmChangedRecordSchema }) }),
  z.object({
    type: z.literal('contact.deleted'),
    data: z.object({
      contactNumber: contactNumberSchema,
      entity: z.enum(['person', 'account', 'relay']).optional(),
      deletedAt: z.iso.datetime({ offset: true }),
    }),
  }),
]);
export type CrmChangeEvent = z.infer<typeof crmChangeEventSchema>;

/** `contact.changed` / `contact.deleted`. */
export const crmChangeEventTypes = ['contact.changed', 'contact.deleted'] as const;

/** What the store keeps of a CRM change event, received by webhook or polled: the same either way. */
export function toInboundChange(target: string, event: CrmChangeEvent): Omit<InboundChange, 'receivedAt'> {
  if (event.type === 'contact.changed') {
    const { record } = event.data;
    return {
      target,
      // A record new in the CRM is queued under its CRM ID until it has a contact number.
      contactNumber: record.contactNumber ?? crmRecordKey(record.crmId ?? ''),
      ...(record.crmId !== undefined ? { crmId: record.crmId } : {}),
      kind: 'changed',
      entity: record.entity,
      fields: record.fields,
      changedAt: record.modifiedAt,
    };
  }
  const { data } = event;
  return {
    target,
    contactNumber: data.contactNumber,
    kind: 'deleted',
    ...(data.entity !== undefined ? { entity: data.entity } : {}),
    fields: {},
    changedAt: data.deletedAt,
  };
}
