import type { S360Address, S360Contact } from '../adapters/s360/s360-contact';
import type { CrmContactRecord } from './crm-contact-record';

/** The outcome of mapping one contact: a record, or the CRM field at fault and why. */
export type ContactMappingResult =
  { ok: true; record: CrmContactRecord } | { ok: false; field: string; reason: string };

/** Longest value each CRM field takes, in characters. */
export const crmFieldMaxLengths: Readonly<Record<string, number>> = {
  FirstName: 80,
  LastName: 80,
  Name: 80,
  Email: 80,
  MailingStreet: 255,
  Salutation: 40,
  Phone: 40,
  MobilePhone: 40,
  MailingPostalCode: 40,
  MailingCity: 40,
  MailingCountryCode: 40,
  Language: 40,
};

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@.]+$/;
const countryPattern = /^[A-Z]{2}$/;
const datePattern = /^\d{4}-\d{2}-\d{2}$/;

type FieldValue = string | boolean | null;

/**
 * The interim S-360 -> CRM mapping, until the configurable mapping engine replaces it: the obvious fields under
 * Salesforce-like names, checked against what a CRM would refuse so that a bad contact is parked with a reason
 * instead of failing a whole push. Pure: no I/O.
 *
 * Structures become `account` (Name), relays `relay` (linked to their structure's account), everyone else
 * `person`. Strings are trimmed and empty ones sent as null; everything else is kept as S-360 has it (non-ASCII
 * letters, leading zeros, the birth date as a calendar date).
 */
export function mapContactToCrmRecord(contact: S360Contact): ContactMappingResult {
  const entity: CrmContactRecord['entity'] =
    contact.contactType === 'STRUCTURE' ? 'account' : contact.role === 'RELAY' ? 'relay' : 'person';
  const { general, comMeans } = contact;
  const address = mainAddress(contact.addresses);
  const emailAuthorization = contact.authorizations.find((authorization) => authorization.code === 'EMAIL');

  const fields: Record<string, FieldValue> = {};
  if (entity === 'account') {
    fields.Name = text(general.organizationName);
  } else {
    fields.Salutation = general.title && general.title !== 'UNDEFINED' ? general.title : null;
    fields.FirstName = text(general.firstName);
    fields.LastName = text(general.lastName);
    fields.Birthdate = text(general.birthDate);
  }
  fields.Email = text(comMeans.email);
  fields.Phone = text(comMeans.phone);
  fields.MobilePhone = text(comMeans.mobile);
  fields.MailingStreet = address ? street(address) : null;
  fields.MailingPostalCode = text(address?.zipCode);
  fields.MailingCity = text(address?.town);
  fields.MailingCountryCode = text(address?.country)?.toUpperCase() ?? null;
  fields.HasOptedOutOfEmail = emailAuthorization ? !emailAuthorization.value : null;
  fields.Language = text(general.language);

  const failure = validate(entity, fields);
  if (failure) return { ok: false, ...failure };

  const record: CrmContactRecord = {
    contactNumber: contact.contactNumber,
    entity,
    fields,
    sourceModifiedAt: contact.lastModificationDate,
  };
  if (entity === 'relay' && contact.structureContactNumber) {
    record.accountContactNumber = contact.structureContactNumber;
  }
  return { ok: true, record };
}

function validate(
  entity: CrmContactRecord['entity'],
  fields: Record<string, FieldValue>,
): { field: string; reason: string } | undefined {
  if (entity === 'account' && fields.Name === null) {
    return {
      field: 'Name',
      reason: 'Name is required for an account (the structure has no organization name)',
    };
  }
  if (entity !== 'account' && fields.LastName === null) {
    return {
      field: 'LastName',
      reason: `LastName is required for a ${entity} (the contact has no last name)`,
    };
  }
  const email = fields.Email;
  if (typeof email === 'string' && !emailPattern.test(email)) {
    return { field: 'Email', reason: `Email "${email}" is not an e-mail address` };
  }
  const country = fields.MailingCountryCode;
  if (typeof country === 'string' && !countryPattern.test(country)) {
    return {
      field: 'MailingCountryCode',
      reason: `MailingCountryCode "${country}" is not an ISO 3166-1 alpha-2 code (two letters)`,
    };
  }
  const birthdate = fields.Birthdate;
  if (typeof birthdate === 'string' && !datePattern.test(birthdate)) {
    return { field: 'Birthdate', reason: `Birthdate "${birthdate}" is not a date as YYYY-MM-DD` };
  }
  for (const [field, value] of Object.entries(fields)) {
    const max = crmFieldMaxLengths[field];
    if (typeof value !== 'string' || max === undefined) continue;
    const length = [...value].length;
    if (length > max)
      return { field, reason: `${field} is ${length} characters long; at most ${max} are allowed` };
  }
  return undefined;
}

/** The address flagged main, else the first one. */
function mainAddress(addresses: S360Address[]): S360Address | undefined {
  return addresses.find((address) => address.isMain) ?? addresses[0];
}

function street(address: S360Address): string | null {
  const lines = [address.addressLine1, address.addressLine2, address.addressLine3]
    .map(text)
    .filter((line): line is string => line !== null);
  return lines.length > 0 ? lines.join('\n') : null;
}

function text(value: string | null | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}
