import type { CrmFieldType, MappedScalar } from './mapping-config-schema';
import { isCalendarDate } from './transforms';

/**
 * What a CRM accepts in a field, checked on every outbound record so that a contact the CRM would refuse is parked
 * with the field and the reason instead of failing its whole push.
 */

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@.]+$/;

/** The 249 officially assigned ISO 3166-1 alpha-2 codes. */
const iso2Countries = new Set(
  (
    'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT ' +
    'BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ' +
    'ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT ' +
    'HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS ' +
    'LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI ' +
    'NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG ' +
    'SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG ' +
    'UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'
  ).split(' '),
);

/** Is `code` an ISO 3166-1 alpha-2 country code (assigned, in capitals)? */
export function isIso2Country(code: string): boolean {
  return iso2Countries.has(code);
}

function describe(value: MappedScalar): string {
  return typeof value === 'string' ? `"${value}"` : String(value);
}

/** Why `value` does not fit a field of `type`, or undefined when it does. `null` always fits here. */
export function typeProblem(field: string, type: CrmFieldType, value: MappedScalar): string | undefined {
  if (value === null) return undefined;
  switch (type) {
    case 'string':
      return typeof value === 'string' ? undefined : `${field} expects text, got ${describe(value)}`;
    case 'boolean':
      return typeof value === 'boolean'
        ? undefined
        : `${field} expects yes/no (true or false), got ${describe(value)}`;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value)
        ? undefined
        : `${field} expects a number, got ${describe(value)}`;
    case 'date':
      return typeof value === 'string' && isCalendarDate(value)
        ? undefined
        : `${field} ${describe(value)} is not a date as YYYY-MM-DD`;
    case 'email':
      return typeof value === 'string' && emailPattern.test(value)
        ? undefined
        : `${field} ${describe(value)} is not an e-mail address`;
    case 'country':
      return typeof value === 'string' && isIso2Country(value)
        ? undefined
        : `${field} ${describe(value)} is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. CH)`;
  }
}

/** The length of a text in characters as a person counts them (code points, not UTF-16 units). */
export function characterLength(text: string): number {
  let length = 0;
  for (const _ of text) length += 1;
  return length;
}

/** The first `max` characters of `text` (never cutting a character in two). */
export function truncateCharacters(text: string, max: number): string {
  if (text.length <= max) return text;
  let result = '';
  let count = 0;
  for (const character of text) {
    if (count === max) break;
    result += character;
    count += 1;
  }
  return result;
}
