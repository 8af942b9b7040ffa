import { z } from 'zod';

/**
 * The S-360 contact as `getContactData` returns it (contactInformationPublicService v2_21), reduced to the parts
 * crm-sync reads. Shared by the S-360 adapter (which validates every response with it), the mapping and the
 * sandbox (which serves it).
 */

/** S-360 contact numbers are digits kept as text: leading zeros are significant. */
export const contactNumberSchema = z
  .string()
  .regex(/^\d{1,20}$/, 'expected a contact number: 1 to 20 digits as text');

export const s360TitleSchema = z.enum([
  'MISS',
  'MRS',
  'MR',
  'MR_AND_MRS',
  'UNDEFINED',
  'LADIES',
  'GENTLEMEN',
]);
export type S360Title = z.infer<typeof s360TitleSchema>;

export const s360AddressSchema = z.object({
  addressLine1: z.string().nullish(),
  addressLine2: z.string().nullish(),
  addressLine3: z.string().nullish(),
  zipCode: z.string().nullish(),
  town: z.string().nullish(),
  /** ISO 3166-1 alpha-2, as S-360 stores it. */
  country: z.string().nullish(),
  isMain: z.boolean().default(false),
});
export type S360Address = z.infer<typeof s360AddressSchema>;

/** An opt-in: `EMAIL` true means the contact accepts e-mail. */
export const s360AuthorizationSchema = z.object({ code: z.string(), value: z.boolean() });
export type S360Authorization = z.infer<typeof s360AuthorizationSchema>;

export const s360CriterionSchema = z.object({ code: z.string(), value: z.string().nullish() });
export type S360Criterion = z.infer<typeof s360CriterionSchema>;

export const s360ContactSchema = z.object({
  contactNumber: contactNumberSchema,
  /** INDIVIDUAL: a person; STRUCTURE: a company, association... */
  contactType: z.enum(['INDIVIDUAL', 'STRUCTURE']),
  /** For individuals: PUBLIC (a person on their own) or RELAY (a person linked to a structure). */
  role: z.enum(['PUBLIC', 'RELAY']).nullish(),
  /** For relays: the structure they belong to. */
  structureContactNumber: contactNumberSchema.nullish(),
  general: z.object({
    title: s360TitleSchema.nullish(),
    firstName: z.string().nullish(),
    lastName: z.string().nullish(),
    /** Structures only. */
    organizationName: z.string().nullish(),
    /** A calendar date, YYYY-MM-DD: no time zone. */
    birthDate: z.string().nullish(),
    language: z.string().nullish(),
  }),
  comMeans: z
    .object({
      email: z.string().nullish(),
      phone: z.string().nullish(),
      mobile: z.string().nullish(),
    })
    .default({}),
  addresses: z.array(s360AddressSchema).default([]),
  authorizations: z.array(s360AuthorizationSchema).default([]),
  criteria: z.array(s360CriterionSchema).default([]),
  /** Deactivated contacts are still returned, with active false. */
  active: z.boolean().default(true),
  /** ISO timestamp of the last change in S-360. */
  lastModificationDate: z.string(),
});
export type S360Contact = z.infer<typeof s360ContactSchema>;

/** The envelope every S-360 REST-RPC result carries. */
export const s360StatusSchema = z.object({
  statusCode: z.string(),
  statusDetail: z.string().nullish(),
});
