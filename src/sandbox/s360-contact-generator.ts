import type { S360Address, S360Contact, S360Title } from '../adapters/s360/s360-contact';

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence on every machine. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Contact numbers are 10 digits with leading zeros, as S-360 shows them. */
export function formatContactNumber(n: number): string {
  return String(n).padStart(10, '0');
}

const firstNames = [
  'Zoë',
  'François',
  'Łukasz',
  'Anaïs',
  'Jürgen',
  'Søren',
  'Inés',
  'José',
  'Chloé',
  'Björn',
  'Małgorzata',
  'Noémie',
  'Ayşe',
  'Emma',
  'Lucas',
  'Mia',
  'Léa',
  'Hugo',
];
const lastNames = [
  'Müller',
  'Østergaard',
  'Strauß',
  'Çelik',
  'Dupré',
  'Nowak',
  'García',
  'Łęcki',
  'Lefèvre',
  'Schäfer',
  'Ångström',
  'Martin',
  'Rossi',
  'Bernard',
  'Favre',
  'Keller',
];
const organizationWords = ['Théâtre', 'Association', 'Verein', 'Chœur', 'Club', 'Société', 'Ensemble'];
const organizationNames = ['des Amis', 'Müller & Co', 'Lumière', 'Østbyen', 'Zürichsee', 'du Léman', 'Nord'];
const titles: S360Title[] = ['MR', 'MRS', 'MISS', 'MR_AND_MRS', 'UNDEFINED', 'LADIES', 'GENTLEMEN'];
const titleWeights = [30, 30, 10, 8, 12, 5, 5];
const streets = ['Rue du Rhône', 'Bahnhofstraße', 'Avenue de la Gare', 'Hauptstraße', 'Via Nassa', 'Strøget'];
const towns: { town: string; zip: () => string; country: string }[] = [
  { town: 'Genève', zip: () => '1204', country: 'CH' },
  { town: 'Zürich', zip: () => '8001', country: 'CH' },
  { town: 'Lausanne', zip: () => '1003', country: 'CH' },
  { town: 'München', zip: () => '80331', country: 'DE' },
  { town: 'Paris', zip: () => '75004', country: 'FR' },
  { town: 'København', zip: () => '1050', country: 'DK' },
  { town: 'Kraków', zip: () => '31-042', country: 'PL' },
  { town: 'İstanbul', zip: () => '34110', country: 'TR' },
];
const languages = ['fr', 'de', 'en', 'it'];
const criterionCodes = ['SUBSCRIBER', 'DONOR', 'STUDENT', 'VIP', 'PRESS'];
const emailDomains = ['example.com', 'example.org', 'example.net'];

/** Folds names to an ASCII e-mail local part: `Zoë Østergaard` -> `zoe.ostergaard`. */
function asciiLocalPart(...parts: string[]): string {
  const folded = parts
    .join('.')
    .replace(/[ßẞ]/g, 'ss')
    .replace(/[Øø]/g, 'o')
    .replace(/[Łł]/g, 'l')
    .replace(/[Ææ]/g, 'ae')
    .replace(/[Œœ]/g, 'oe')
    .replace(/ı/g, 'i')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '');
  return folded.replace(/^\.+|\.+$/g, '').replace(/\.{2,}/g, '.') || 'contact';
}

/** What a generator produces for one contact, before it gets its number. */
export type GeneratedContact = Omit<S360Contact, 'contactNumber' | 'structureContactNumber'> & {
  /** For relays: the index (in this generation run) of the structure they belong to. */
  structureIndex?: number;
};

/**
 * Generates `count` contacts from `seed`, deterministically: the first is a structure, then about 70% PUBLIC
 * individuals, 10% structures and 20% relays of an earlier structure. `lastModificationDate` is `now`.
 */
export function generateContacts(count: number, seed: number, now: string): GeneratedContact[] {
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const weighted = <T>(items: readonly T[], weights: readonly number[]): T => {
    const total = weights.reduce((a, b) => a + b, 0);
    let roll = random() * total;
    for (let i = 0; i < items.length; i++) {
      roll -= weights[i] ?? 0;
      if (roll < 0) return items[i] as T;
    }
    return items[items.length - 1] as T;
  };
  const chance = (p: number): boolean => random() < p;

  const structures: number[] = [];
  const contacts: GeneratedContact[] = [];
  for (let i = 0; i < count; i++) {
    const roll = random();
    const kind = i === 0 ? 'STRUCTURE' : roll < 0.7 ? 'PUBLIC' : roll < 0.8 ? 'STRUCTURE' : 'RELAY';
    const language = pick(languages);
    const addressCount = chance(0.05) ? 0 : 1 + Math.floor(random() * 3);
    const addresses: S360Address[] = [];
    const mainIndex = Math.floor(random() * Math.max(addressCount, 1));
    for (let a = 0; a < addressCount; a++) {
      const place = pick(towns);
      addresses.push({
        addressLine1: `${1 + Math.floor(random() * 120)} ${pick(streets)}`,
        addressLine2: chance(0.4) ? `Appartement ${1 + Math.floor(random() * 40)}` : '',
        addressLine3: chance(0.2) ? `c/o ${pick(lastNames)}` : '',
        zipCode: place.zip(),
        town: place.town,
        country: place.country,
        isMain: a === mainIndex,
      });
    }
    const authorizations = [
      { code: 'EMAIL', value: chance(0.6) },
      { code: 'SMS', value: chance(0.3) },
      { code: 'POST', value: chance(0.5) },
    ];
    const criteria = criterionCodes
      .filter(() => chance(0.25))
      .map((code) => ({ code, value: code === 'SUBSCRIBER' ? pick(['2025', '2026']) : 'true' }));
    const hasEmail = !chance(0.1);
    const domain = pick(emailDomains);

    if (kind === 'STRUCTURE') {
      const organizationName = `${pick(organizationWords)} ${pick(organizationNames)} ${i + 1}`;
      structures.push(i);
      contacts.push({
        contactType: 'STRUCTURE',
        general: { organizationName, language },
        comMeans: {
          ...(hasEmail ? { email: `info.${asciiLocalPart(organizationName)}@${domain}` } : {}),
          phone: `+41 22 ${100 + Math.floor(random() * 900)} ${10 + Math.floor(random() * 90)} 00`,
        },
        addresses,
        authorizations,
        criteria,
        active: true,
        lastModificationDate: now,
      });
      continue;
    }

    const firstName = pick(firstNames);
    const lastName = pick(lastNames);
    const birthDate = chance(0.6)
      ? `${1940 + Math.floor(random() * 65)}-${String(1 + Math.floor(random() * 12)).padStart(2, '0')}-${String(
          1 + Math.floor(random() * 28),
        ).padStart(2, '0')}`
      : undefined;
    const contact: GeneratedContact = {
      contactType: 'INDIVIDUAL',
      role: kind,
      general: {
        title: weighted(titles, titleWeights),
        firstName,
        lastName,
        language,
        ...(birthDate ? { birthDate } : {}),
      },
      comMeans: {
        ...(hasEmail ? { email: `${asciiLocalPart(firstName, lastName)}${i + 1}@${domain}` } : {}),
        ...(chance(0.5) ? { mobile: `+41 79 ${100 + Math.floor(random() * 900)} 00 00` } : {}),
      },
      addresses,
      authorizations,
      criteria,
      active: true,
      lastModificationDate: now,
    };
    if (kind === 'RELAY') contact.structureIndex = pick(structures);
    contacts.push(contact);
  }
  return contacts;
}
