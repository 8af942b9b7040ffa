import type { S360Address, S360Contact, S360Title } from '../adapters/s360/s360-contact';

/** A deterministic pseudo-random source: the same seed always gives the same sequence. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  integer(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: tiny, fast and good enough for test data; seeds are folded to 32 bits. */
export function seededRandom(seed: number): Random {
  let state = Math.floor(seed) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const random: Random = {
    next,
    integer: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new Error('pick from an empty list');
      return item;
    },
  };
  return random;
}

/** S-360 contact numbers: 10 digits, leading zeros kept. */
export function formatContactNumber(value: number): string {
  return String(value).padStart(10, '0');
}

const firstNames = [
  'Anaïs', 'Björn', 'Søren', 'Łukasz', 'Çağla', 'Jürgen', 'François', 'Émilie', 'Noémie', 'Jörg', 'Agnès',
  'Hélène', 'Maël', 'Inès', 'Zoë', 'Benoît', 'Jérôme', 'Małgorzata', 'Ørjan', 'Åsa', 'Marie', 'Luca', 'Sofia',
  'Thomas', 'Anna', 'Pierre', 'Julia', 'Marco', 'Laura', 'Nicolas', 'Sarah', 'David', 'Elena', 'Paul', 'Clara',
  'Jan', 'Eva', 'Oskar', 'Nina', 'Felix', 'Léon', 'Gaëlle', 'Zoltán', 'Dorothée', 'Grégoire',
] as const;

const lastNames = [
  'Müller', 'Dubois', 'Łukasiewicz', 'Weiß', 'Großmann', 'Çelik', 'Søndergaard', 'Øberg', 'Fernández',
  'Núñez', 'García', 'Lefèvre', 'Rousseau', 'Schröder', 'Kowalski', 'Wójcik', 'Dvořák', 'Novák', 'Bernard',
  'Martin', 'Rossi', 'Bianchi', 'Keller', 'Meier', 'Favre', 'Blanc', 'Moreau', 'Nielsen', 'Jensen', 'Haugen',
  'Fischer', 'Weber', 'Zimmermann', 'Brönnimann', 'Gauthier', 'Perrin', 'Schäfer', 'Håkansson', 'Françon',
  'de la Fontaine', "O'Connor", 'Gerber-Strauß',
] as const;

const organizationPrefixes = [
  'Théâtre de', 'Opéra de', 'Kulturverein', 'Amis du Musée de', 'Filharmonia', 'Festival de', 'Chœur de',
  'Konzerthaus', 'Fondation culturelle de', 'Jazzforening', 'Société des Concerts de', 'Förderverein Oper',
] as const;
const organizationSuffixes = ['', '', '', 'SA', 'GmbH', 'AG', 'Sàrl', 'e.V.', 'A/S'] as const;

/** Titles with their weights (percent): mostly MR/MRS, some UNDEFINED (unknown titles become UNDEFINED). */
const weightedTitles: ReadonlyArray<readonly [S360Title, number]> = [
  ['MR', 34],
  ['MRS', 30],
  ['MISS', 10],
  ['MR_AND_MRS', 5],
  ['UNDEFINED', 15],
  ['LADIES', 3],
  ['GENTLEMEN', 3],
];

interface Town {
  town: string;
  country: string;
  language: string;
  zipCodes: readonly string[];
  streets: readonly string[];
  phonePrefix: string;
}

const towns: readonly Town[] = [
  { town: 'Genève', country: 'CH', language: 'fr', zipCodes: ['1201', '1204', '1205', '1207'], streets: ['Rue de la Gare', 'Avenue des Alpes', 'Chemin des Écoliers', 'Rue du Marché'], phonePrefix: '+41 22' },
  { town: 'Zürich', country: 'CH', language: 'de', zipCodes: ['8001', '8004', '8032'], streets: ['Bahnhofstrasse', 'Seefeldstrasse', 'Zähringerstrasse'], phonePrefix: '+41 44' },
  { town: 'Neuchâtel', country: 'CH', language: 'fr', zipCodes: ['2000'], streets: ['Rue de l’Hôpital', 'Faubourg du Lac'], phonePrefix: '+41 32' },
  { town: 'Paris', country: 'FR', language: 'fr', zipCodes: ['75004', '75011', '75018'], streets: ['Rue de Rivoli', 'Boulevard Voltaire', 'Rue des Abbesses'], phonePrefix: '+33 1' },
  { town: 'Besançon', country: 'FR', language: 'fr', zipCodes: ['25000'], streets: ['Grande Rue', 'Rue Mégevand'], phonePrefix: '+33 3' },
  { town: 'München', country: 'DE', language: 'de', zipCodes: ['80331', '80469', '81667'], streets: ['Maximilianstraße', 'Hauptstraße', 'Türkenstraße'], phonePrefix: '+49 89' },
  { town: 'Köln', country: 'DE', language: 'de', zipCodes: ['50667', '50672'], streets: ['Hohe Straße', 'Brückenstraße'], phonePrefix: '+49 221' },
  { town: 'Wien', country: 'AT', language: 'de', zipCodes: ['1010', '1070'], streets: ['Kärntner Straße', 'Mariahilfer Straße'], phonePrefix: '+43 1' },
  { town: 'København', country: 'DK', language: 'da', zipCodes: ['1050', '1620'], streets: ['Nørregade', 'Vesterbrogade'], phonePrefix: '+45' },
  { town: 'Tromsø', country: 'NO', language: 'no', zipCodes: ['9008'], streets: ['Storgata', 'Søndre Tollbodgate'], phonePrefix: '+47' },
  { town: 'Łódź', country: 'PL', language: 'pl', zipCodes: ['90-001', '90-418'], streets: ['ulica Piotrkowska', 'ulica Żeromskiego'], phonePrefix: '+48 42' },
  { town: 'Kraków', country: 'PL', language: 'pl', zipCodes: ['31-001', '31-042'], streets: ['ulica Floriańska', 'ulica Świętego Jana'], phonePrefix: '+48 12' },
  { town: 'Málaga', country: 'ES', language: 'es', zipCodes: ['29001', '29015'], streets: ['Calle Larios', 'Calle Mayor'], phonePrefix: '+34 952' },
  { town: 'Liège', country: 'BE', language: 'fr', zipCodes: ['4000', '4020'], streets: ['Rue Léopold', 'Place du Marché'], phonePrefix: '+32 4' },
];

const secondLines = ['c/o Famille Schäfer', 'Appartement 12', 'Bâtiment B', '2e étage', 'Hinterhaus', 'Mieszkanie 4'];
const thirdLines = ['Case postale 123', 'Postfach 45', 'BP 7', 'Skrytka pocztowa 9'];
const emailDomains = ['example.com', 'example.org', 'example.net', 'mail.example.ch'];
const genres = ['OPERA', 'JAZZ', 'THEATRE', 'DANCE', 'CLASSICAL', 'FAMILY'];

/** What {@link generateContacts} needs. */
export interface GenerateContactsInput {
  count: number;
  seed: number;
  /** The number of the first contact (1 on an empty sandbox); the others follow sequentially. */
  firstContactNumber: number;
  /** `lastModificationDate` of every generated contact. */
  modifiedAt: string;
}

/**
 * Generates realistic S-360 contacts, deterministically: the same seed and first number give the same contacts
 * (and a larger count extends the same sequence). About 70% PUBLIC individuals, 10% STRUCTUREs and 20% RELAYs of a
 * structure generated before them in the same batch (a relay drawn before any structure exists becomes a
 * structure); non-ASCII names; 0-3 addresses; some contacts without e-mail (about 10%) or address (about 5%).
 */
export function generateContacts(input: GenerateContactsInput): S360Contact[] {
  const random = seededRandom(input.seed);
  const contacts: S360Contact[] = [];
  const structures: string[] = [];
  for (let index = 0; index < input.count; index += 1) {
    const contactNumber = formatContactNumber(input.firstContactNumber + index);
    const roll = random.next();
    const kind = roll < 0.7 ? 'PUBLIC' : roll < 0.8 || structures.length === 0 ? 'STRUCTURE' : 'RELAY';
    const contact =
      kind === 'STRUCTURE'
        ? generateStructure(random, contactNumber, input.modifiedAt)
        : generateIndividual(random, contactNumber, input.modifiedAt, kind, structures);
    if (kind === 'STRUCTURE') structures.push(contactNumber);
    contacts.push(contact);
  }
  return contacts;
}

function generateIndividual(
  random: Random,
  contactNumber: string,
  modifiedAt: string,
  role: 'PUBLIC' | 'RELAY',
  structures: readonly string[],
): S360Contact {
  const firstName = random.pick(firstNames);
  const lastName = random.pick(lastNames);
  const home = random.pick(towns);
  const email = random.chance(0.9)
    ? `${emailLocalPart(firstName)}.${emailLocalPart(lastName)}.${Number(contactNumber)}@${random.pick(emailDomains)}`
    : null;
  return {
    contactNumber,
    contactType: 'INDIVIDUAL',
    role,
    structureContactNumber: role === 'RELAY' ? random.pick(structures) : null,
    general: {
      title: weightedTitle(random),
      firstName,
      lastName,
      organizationName: null,
      birthDate: random.chance(0.6) ? birthDate(random) : null,
      language: home.language,
    },
    comMeans: {
      email,
      phone: random.chance(0.5) ? phoneNumber(random, home.phonePrefix) : null,
      mobile: random.chance(0.6) ? phoneNumber(random, home.phonePrefix.split(' ')[0] ?? '+41') : null,
    },
    addresses: addresses(random, home),
    authorizations: authorizations(random),
    criteria: criteria(random),
    active: random.chance(0.97),
    lastModificationDate: modifiedAt,
  };
}

function generateStructure(random: Random, contactNumber: string, modifiedAt: string): S360Contact {
  const home = random.pick(towns);
  const suffix = random.pick(organizationSuffixes);
  const organizationName = `${random.pick(organizationPrefixes)} ${home.town}${suffix ? ` ${suffix}` : ''}`;
  return {
    contactNumber,
    contactType: 'STRUCTURE',
    role: null,
    structureContactNumber: null,
    general: {
      title: null,
      firstName: null,
      lastName: null,
      organizationName,
      birthDate: null,
      language: home.language,
    },
    comMeans: {
      email: random.chance(0.9)
        ? `${random.pick(['info', 'contact', 'billetterie', 'kasse'])}.${Number(contactNumber)}@${random.pick(emailDomains)}`
        : null,
      phone: phoneNumber(random, home.phonePrefix),
      mobile: null,
    },
    addresses: addresses(random, home),
    authorizations: authorizations(random),
    criteria: criteria(random),
    active: true,
    lastModificationDate: modifiedAt,
  };
}

function weightedTitle(random: Random): S360Title {
  let roll = random.next() * 100;
  for (const [title, weight] of weightedTitles) {
    roll -= weight;
    if (roll < 0) return title;
  }
  return 'UNDEFINED';
}

function addresses(random: Random, home: Town): S360Address[] {
  if (random.chance(0.05)) return [];
  const roll = random.next();
  const count = roll < 0.6 ? 1 : roll < 0.9 ? 2 : 3;
  const mainIndex = random.integer(0, count - 1);
  const result: S360Address[] = [];
  for (let index = 0; index < count; index += 1) {
    const place = index === 0 ? home : random.pick(towns);
    result.push({
      addressLine1: `${random.pick(place.streets)} ${random.integer(1, 180)}`,
      addressLine2: random.chance(0.3) ? random.pick(secondLines) : '',
      addressLine3: random.chance(0.15) ? random.pick(thirdLines) : '',
      zipCode: random.pick(place.zipCodes),
      town: place.town,
      country: place.country,
      isMain: index === mainIndex,
    });
  }
  return result;
}

function authorizations(random: Random): S360Contact['authorizations'] {
  return ['EMAIL', 'SMS', 'POST']
    .filter(() => random.chance(0.85))
    .map((code) => ({ code, value: random.chance(code === 'EMAIL' ? 0.6 : 0.4) }));
}

function criteria(random: Random): S360Contact['criteria'] {
  const result: S360Contact['criteria'] = [];
  if (random.chance(0.5)) result.push({ code: 'PREFERRED_GENRE', value: random.pick(genres) });
  if (random.chance(0.4)) result.push({ code: 'SUBSCRIBER', value: random.chance(0.5) ? 'YES' : 'NO' });
  if (random.chance(0.3)) result.push({ code: 'MEMBER_SINCE', value: String(random.integer(1990, 2024)) });
  return result;
}

function birthDate(random: Random): string {
  const year = random.integer(1935, 2006);
  const month = random.integer(1, 12);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const day = random.integer(1, daysInMonth);
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

function phoneNumber(random: Random, prefix: string): string {
  const digits = Array.from({ length: 7 }, () => random.integer(0, 9)).join('');
  return `${prefix} ${digits.slice(0, 3)} ${digits.slice(3, 5)} ${digits.slice(5)}`;
}

const foldedLetters: Readonly<Record<string, string>> = {
  ß: 'ss', ø: 'o', Ø: 'o', ł: 'l', Ł: 'l', æ: 'ae', Æ: 'ae', å: 'a', Å: 'a', đ: 'd', ı: 'i', œ: 'oe',
};

/** An ASCII e-mail local part from a name: accents folded, other characters dropped. */
function emailLocalPart(name: string): string {
  return [...name.normalize('NFD').replace(/[\u0300-\u036f]/g, '')]
    .map((letter) => foldedLetters[letter] ?? letter)
    .join('')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}
