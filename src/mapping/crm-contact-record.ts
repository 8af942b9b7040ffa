/**
 * The record crm-sync pushes to a CRM for one S-360 contact. The mapping engine produces it from an
 * {@link S360Contact}; CRM adapters send it as they need (the webhook adapter sends it as JSON as is).
 */
export interface CrmContactRecord {
  /** The S-360 contact number: the external ID the CRM upserts by. */
  contactNumber: string;
  /**
   * The CRM's own ID of the record, for a contact created from a record new in the CRM: the CRM attaches the
   * contact number to that record instead of creating another.
   */
  crmId?: string;
  /** The CRM entity: a person (PersonAccount or Contact), a structure (Account), or a relay (Contact). */
  entity: 'person' | 'account' | 'relay';
  /** The CRM object the entity becomes, from the mapping (PersonAccount, Contact, Account). */
  object?: string;
  /** For relays: the contact number of their structure's Account. */
  accountContactNumber?: string;
  /** Mapped fields, CRM field name -> value. */
  fields: Record<string, string | number | boolean | null>;
  /**
   * What the CRM is asked to do: `upsert` (the default when absent); for a contact deactivated or deleted in
   * S-360, `deactivate` (keep the record, flag it inactive) or `delete`, as the target is configured.
   */
  action?: 'upsert' | 'deactivate' | 'delete';
  /** When S-360 last changed the contact (ISO timestamp). */
  sourceModifiedAt: string;
}
